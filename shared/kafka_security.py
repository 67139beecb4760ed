"""How every Kafka client of the project authenticates to the broker and protects the wire.

One set of settings, two readers:
- each service reads them under its own prefix (`NOMINATIONS_KAFKA_SASL_USERNAME`...), so
  each runs as its own principal and the README's per-principal ACLs can hold;
- the operator tools read them under `EXEMPLARS_` (`EXEMPLARS_KAFKA_SECURITY_PROTOCOL`...).

Supported: SASL SCRAM (SHA-256 or SHA-512) or PLAIN, over TLS (`SASL_SSL`); mutual TLS
(`SSL` with a client certificate and key); PLAINTEXT for the local run. PLAIN sends the
password itself, so it is refused without TLS; SCRAM without TLS authenticates but leaves
the records readable on the wire, and is logged as such at every start.

The same values feed FastStream's broker (`broker_security`, which also documents them in
the AsyncAPI schema) and the plain aiokafka clients (`client_options`), so the two cannot
disagree.
"""

import logging
import ssl
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("exemplars.kafka")

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
_SASL = {"SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512, "PLAIN": SASLPlaintext}


class KafkaSecurity(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    kafka_security_protocol: Protocol = "PLAINTEXT"
    kafka_sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # The CA that signed the broker's certificate (the system's store when unset).
    kafka_ssl_cafile: str | None = None
    # Mutual TLS: this client's certificate and key (PEM).
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_keyfile_password: SecretStr | None = None

    @field_validator("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile",
                     "kafka_ssl_keyfile", "kafka_ssl_keyfile_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes `${VAR:-}` as an empty string

    @model_validator(mode="after")
    def _coherent(self) -> "KafkaSecurity":
        sasl = self.kafka_security_protocol.startswith("SASL_")
        tls = self.kafka_security_protocol.endswith("SSL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"{self.kafka_security_protocol} needs kafka_sasl_username and kafka_sasl_password")
        if sasl and self.kafka_sasl_mechanism == "PLAIN" and not tls:
            raise ValueError("SASL PLAIN sends the password itself: use SASL_SSL, or SCRAM")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError(f"SASL credentials given but kafka_security_protocol is {self.kafka_security_protocol}")
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("mutual TLS needs both kafka_ssl_certfile and kafka_ssl_keyfile")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile):
            raise ValueError(f"TLS files given but kafka_security_protocol is {self.kafka_security_protocol}")
        return self

    def warn_if_weak(self, who: str) -> None:
        """At every start: say what the wire does not protect."""
        if self.kafka_security_protocol == "PLAINTEXT":
            log.info("%s: Kafka over PLAINTEXT (no authentication, no encryption): local run only", who)
        elif self.kafka_security_protocol == "SASL_PLAINTEXT":
            log.warning("%s: Kafka SASL without TLS: authenticated, but records cross the network unencrypted", who)


class OperatorKafkaSecurity(KafkaSecurity):
    """The operator tools' principal, from `EXEMPLARS_KAFKA_*`."""

    model_config = SettingsConfigDict(env_prefix="EXEMPLARS_", extra="ignore")


def _ssl_context(settings: KafkaSecurity) -> ssl.SSLContext:
    password = settings.kafka_ssl_keyfile_password
    return create_ssl_context(cafile=settings.kafka_ssl_cafile, certfile=settings.kafka_ssl_certfile,
                              keyfile=settings.kafka_ssl_keyfile,
                              password=password.get_secret_value() if password else None)


def broker_security(settings: KafkaSecurity) -> BaseSecurity | None:
    """FastStream's form of the settings (None: PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return _SASL[settings.kafka_sasl_mechanism](settings.kafka_sasl_username,
                                                 settings.kafka_sasl_password.get_secret_value(),
                                                 use_ssl=protocol == "SASL_SSL", ssl_context=context)


def client_options(settings: KafkaSecurity | None = None) -> dict[str, Any]:
    """Keyword arguments for an aiokafka producer, consumer or admin client; the operator
    tools' settings when none are given."""
    return parse_security(broker_security(settings if settings is not None else OperatorKafkaSecurity()))
