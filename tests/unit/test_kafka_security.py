"""Kafka transport security: what each setting makes every client send, and what is refused."""

import datetime as dt
import logging
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from services.nominations.settings import NominationsSettings
from shared import kafka
from shared.kafka_security import KafkaSecurity, OperatorKafkaSecurity, broker_security, client_options


@pytest.fixture
def pem_pair(tmp_path):
    """A self-signed certificate and its key, as a CA file and as a client's certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nominations")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_plaintext_is_the_default_and_adds_nothing():
    assert client_options(KafkaSecurity()) == {}
    assert broker_security(KafkaSecurity()) is None
    assert KafkaSecurity(kafka_ssl_cafile="", kafka_sasl_username="").kafka_ssl_cafile is None  # compose's empty


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_over_tls_gives_every_client_the_mechanism_the_principal_and_a_verifying_context(mechanism):
    security = KafkaSecurity(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism,
                             kafka_sasl_username="nominations", kafka_sasl_password="bí-mật")
    options = client_options(security)
    assert {k: options[k] for k in ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                                    "sasl_plain_password")} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": mechanism, "sasl_plain_username": "nominations",
        "sasl_plain_password": "bí-mật"}
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_scram_without_tls_authenticates_and_is_said_to_be_unencrypted_at_every_start(caplog):
    settings = NominationsSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="nominations",
                                   kafka_sasl_password="pw")
    assert client_options(settings)["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in client_options(settings) or client_options(settings)["ssl_context"] is None
    with caplog.at_level(logging.WARNING, logger="exemplars.kafka"):
        kafka.make_broker(settings, "nominations")
    assert "unencrypted" in caplog.text


def test_mutual_tls_loads_the_client_certificate_and_trusts_the_given_ca(pem_pair):
    cert, key = pem_pair
    options = client_options(KafkaSecurity(kafka_security_protocol="SSL", kafka_ssl_cafile=cert,
                                           kafka_ssl_certfile=cert, kafka_ssl_keyfile=key))
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"].get_ca_certs()[0]["subject"] == ((("commonName", "nominations"),),)


def test_a_key_that_is_not_the_certificate_s_is_refused(pem_pair, tmp_path):
    cert, _ = pem_pair
    other = tmp_path / "other.key"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ssl.SSLError):
        client_options(KafkaSecurity(kafka_security_protocol="SSL", kafka_ssl_certfile=cert,
                                     kafka_ssl_keyfile=str(other)))


@pytest.mark.parametrize("fields", [
    {"kafka_security_protocol": "SASL_SSL"},  # no principal
    {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "n"},  # no password
    {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "n",
     "kafka_sasl_password": "p"},  # the password itself, in clear
    {"kafka_sasl_username": "n", "kafka_sasl_password": "p"},  # credentials nobody would send
    {"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "c.pem"},  # a certificate without its key
    {"kafka_ssl_cafile": "ca.pem"},  # TLS files on PLAINTEXT
])
def test_incoherent_settings_are_refused_at_start(fields):
    with pytest.raises(ValidationError):
        KafkaSecurity(**fields)


def test_each_service_and_the_operator_tools_read_their_own_principal(monkeypatch):
    monkeypatch.setenv("NOMINATIONS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("NOMINATIONS_KAFKA_SASL_USERNAME", "nominations")
    monkeypatch.setenv("NOMINATIONS_KAFKA_SASL_PASSWORD", "n-pw")
    monkeypatch.setenv("EXEMPLARS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EXEMPLARS_KAFKA_SASL_USERNAME", "operator")
    monkeypatch.setenv("EXEMPLARS_KAFKA_SASL_PASSWORD", "o-pw")
    assert client_options(NominationsSettings())["sasl_plain_username"] == "nominations"
    assert client_options()["sasl_plain_username"] == "operator"
    assert OperatorKafkaSecurity().kafka_sasl_password.get_secret_value() == "o-pw"
    assert "o-pw" not in repr(OperatorKafkaSecurity())  # secrets stay out of logs
