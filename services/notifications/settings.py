import datetime as dt
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from services.notifications.domain import RetryPolicy
from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    http_port: int = 8003
    mongo_database: str = "exemplars_notifications"

    # SMTP: the local sink by default; operators point it at their relay.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_tls: Literal["none", "starttls", "tls"] = "none"  # tls: implicit TLS (port 465)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 15.0
    mail_from: str = "khong-tra-loi@exemplars.local"
    mail_from_name: str = "Hệ thống theo dõi điển hình tiên tiến"
    message_id_domain: str = "exemplars.local"

    # Webhooks are signed; without a secret the channel is off (an unsigned call could be forged).
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = 10.0

    # Delivery retries (exponential backoff with jitter), separate from handler retries.
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 30.0
    delivery_backoff_factor: float = 2.0
    delivery_backoff_max_seconds: float = 3600.0
    # Sends in flight per instance, and how long a claimed delivery stays claimed: a crashed
    # instance's claim expires after this and another instance sends it.
    delivery_concurrency: int = 4
    delivery_lease_seconds: float = 120.0
    delivery_poll_seconds: float = 0.5
    # Publicity (a recognition told to every unit) is paced to this many mails a minute.
    publicity_per_minute: float = 60.0
    # Events older than this are projected but not notified: rebuilding the projection from
    # offset 0 must not mail the whole sector about last year.
    max_event_age_days: float = 7.0
    # Go-live cut-off: events before this instant are projected but never notified (a service
    # deployed onto an existing log must not mail its history).
    notify_after: dt.datetime | None = None

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.delivery_max_attempts, base_seconds=self.delivery_backoff_seconds,
                           factor=self.delivery_backoff_factor, max_seconds=self.delivery_backoff_max_seconds)

    @property
    def publicity_interval_seconds(self) -> float:
        return 60.0 / self.publicity_per_minute if self.publicity_per_minute > 0 else 0.0
