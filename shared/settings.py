"""Settings every service shares; each service subclasses with its own env prefix."""

from pydantic_settings import SettingsConfigDict

from shared.kafka_security import KafkaSecurity

# SecantusDB slows to a crawl with retryable writes (see the team's TRAPS notes); real
# MongoDB deployments set their own URI without this.
LOCAL_MONGO_OPTIONS = "retryWrites=false&directConnection=true"


class ServiceSettings(KafkaSecurity):  # the Kafka principal and TLS: shared/kafka_security.py
    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu answers a fetch only when the wait expires: keep it low locally (TRAPS.md).
    kafka_fetch_max_wait_ms: int = 20
    kafka_max_records: int = 250
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000  # below a third of the session
    # Prefix of every consumer group id: a rebuild into a fresh database, or a rehearsal,
    # reads the topics from offset 0 in groups of its own without disturbing the live ones.
    kafka_group_prefix: str = ""
    # Tansu does not implement InitProducerId; the local stack turns this off.
    kafka_enable_idempotence: bool = True
    # The producer's limit per record (Kafka's default message.max.bytes is about the same).
    kafka_max_request_bytes: int = 1_048_576
    # Records on the topics outside systems write (intake, directory) above this are
    # dead-lettered unread, reason too_large; with the payload limits it keeps every answer
    # under the producer's limit.
    kafka_max_intake_record_bytes: int = 262_144
    # A sender's ce_time this far after the broker's receive time is refused (clock_skew).
    max_future_skew_seconds: float = 300.0
    mongo_uri: str = f"mongodb://127.0.0.1:27017/?{LOCAL_MONGO_OPTIONS}"
    mongo_database: str = "exemplars"
    # The key store of personal data (shared/vault.py): a database of its own, shared by the
    # services, so that erasing a person's key reaches every copy of their data at once.
    keys_database: str = "exemplars_keys"
    # The service's own MongoDB user (compose creates one per service, with readWrite on its
    # database only); the password from a file, as a Docker secret gives it.
    mongo_username: str | None = None
    mongo_password_file: str | None = None
    mongo_auth_source: str = "admin"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Health, metrics and the AsyncAPI document, open to anyone who can reach them: on an
    # address of their own when set (compose keeps it inside its network), else beside the reads.
    ops_http_host: str = "127.0.0.1"
    ops_http_port: int | None = None
    # Who may read (shared/readers.py): OIDC access tokens checked against the issuer's JWKS,
    # and/or a tokens file; a service with neither refuses to start.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_scope_claim: str = "scope"
    readers_file: str | None = None
    retry_backoff_seconds: float = 0.2
    retry_backoff_max_seconds: float = 10.0
    # In-flight work gets this long on shutdown; compose's stop_grace_period must exceed it.
    graceful_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    # Who may act (shared/credentials.py): the service's Ed25519 private key (PEM or JWK file)
    # and the trust registry (YAML, re-read when it changes) every consumed record is verified
    # against. Unsigned operation is for development only and warns at every start.
    signing_key: str | None = None
    trust_registry: str | None = None
    allow_unsigned: bool = False
