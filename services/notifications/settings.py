import datetime as dt
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.notifications.domain import RetryPolicy
from shared.settings import ServiceSettings


# Where mail goes nowhere: this machine and compose's trial catcher.
CATCHERS = frozenset({"localhost", "mailpit"})


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    http_port: int = 8003
    mongo_database: str = "exemplars_notifications"

    # SMTP: the local sink by default; operators point it at their relay.
    # Production: the mail must reach people. A relay on this machine or the trial catcher, a
    # relay without TLS, or a sender in `.local` then refuses the start, instead of
    # "sending" every notification into a catcher nobody reads.
    production: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_tls: Literal["none", "starttls", "tls"] = "none"  # tls: implicit TLS (port 465)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 15.0
    mail_from: str = "khong-tra-loi@exemplars.local"
    mail_from_name: str = "Hệ thống theo dõi điển hình tiên tiến"
    message_id_domain: str = "exemplars.local"

    # The workspace: mails that ask someone to act link to the task there, signed in as them
    # (shared/links.py). Both unset: no links. The secret is the workspace's LINK_SECRET.
    workspace_url: str | None = None
    link_secret: SecretStr | None = None
    link_days: float = 14.0  # how long a mailed link signs its recipient in

    # Webhooks are signed; without a secret the channel is off (an unsigned call could be forged).
    # The master secret: each receiver signs with its own secret derived from it
    # (webhooks.receiver_secret), so one receiver cannot forge calls to another.
    webhook_secret: SecretStr | None = None
    # One deadline for resolving, connecting, sending and reading: shorter than the claim
    # lease, or a slow receiver's claim expires mid-call and another instance calls it again.
    webhook_timeout_seconds: float = 10.0
    # Plain http:// receivers: for a local run only; anywhere else a call in clear text.
    webhook_allow_http: bool = False
    # Comma-separated hosts and IP networks a webhook may reach although they are not public
    # (loopback, private, link-local...), e.g. "127.0.0.1,::1" for a local run. Empty: public only.
    webhook_allowed_addresses: str = ""
    # How much of a receiver's answer is read (and thrown away).
    webhook_max_response_bytes: int = 4096
    # Webhook calls in flight per instance, in a lane of their own: slow receivers never take
    # the slots of the mail (delivery_concurrency).
    webhook_concurrency: int = 4

    # Delivery retries (exponential backoff with jitter), separate from handler retries.
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 30.0
    delivery_backoff_factor: float = 2.0
    delivery_backoff_max_seconds: float = 3600.0
    # Mails sent and not yet recorded at once per instance (what a crash may send twice), and
    # SMTP connections at once; how long a claimed delivery stays claimed: a crashed
    # instance's claim expires after this and another instance sends it.
    delivery_concurrency: int = 4
    delivery_lease_seconds: float = 120.0
    # Deliveries claimed at once per lane; the mail of a batch goes over one connection.
    delivery_batch_size: int = 100
    delivery_poll_seconds: float = 0.5
    # Publicity (a recognition told to every unit) is paced to this many mails a minute.
    publicity_per_minute: float = 60.0
    # Events older than this are projected but not notified: rebuilding the projection from
    # offset 0 must not mail the whole sector about last year.
    max_event_age_days: float = 7.0
    # Go-live cut-off: events before this instant are projected but never notified (a service
    # deployed onto an existing log must not mail its history).
    notify_after: dt.datetime | None = None

    @model_validator(mode="after")
    def _webhook_deadline_inside_the_lease(self) -> "NotificationsSettings":
        if "webhook_timeout_seconds" not in self.model_fields_set and \
                self.webhook_timeout_seconds >= self.delivery_lease_seconds:
            # Only the default is adapted to a short lease (tests, local runs); a deadline the
            # operator chose is never silently changed.
            self.webhook_timeout_seconds = self.delivery_lease_seconds / 2
        if not 0 < self.webhook_timeout_seconds < self.delivery_lease_seconds:
            raise ValueError(f"webhook_timeout_seconds ({self.webhook_timeout_seconds}) must be above 0 and below "
                             f"delivery_lease_seconds ({self.delivery_lease_seconds}): a call outliving its claim "
                             "is made twice")
        if self.delivery_batch_size < 1:
            raise ValueError("delivery_batch_size must be at least 1")
        if self.webhook_max_response_bytes < 0 or self.webhook_concurrency < 0:
            raise ValueError("webhook_max_response_bytes and webhook_concurrency cannot be negative")
        if self.production:
            self._check_production_relay()
        return self

    def _check_production_relay(self) -> None:
        host = self.smtp_host.strip().lower().strip("[]")
        if host in CATCHERS or host.startswith("127.") or host == "::1":
            raise ValueError(f"production: smtp_host {self.smtp_host!r} is a local catcher, not the mail relay")
        if self.smtp_tls == "none":
            raise ValueError("production: the mail relay needs smtp_tls starttls or tls")
        for name in ("mail_from", "message_id_domain"):
            if getattr(self, name).lower().endswith(".local"):
                raise ValueError(f"production: {name} {getattr(self, name)!r} is a local-run address")

    @property
    def webhook_allow_list(self) -> list[str]:
        return [entry.strip() for entry in self.webhook_allowed_addresses.split(",") if entry.strip()]

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.delivery_max_attempts, base_seconds=self.delivery_backoff_seconds,
                           factor=self.delivery_backoff_factor, max_seconds=self.delivery_backoff_max_seconds)

    @property
    def publicity_interval_seconds(self) -> float:
        return 60.0 / self.publicity_per_minute if self.publicity_per_minute > 0 else 0.0
