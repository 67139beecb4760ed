"""The trust registry: keys in force, sources, and who may say what for whom."""

import datetime as dt
import hashlib
import os
import unicodedata
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from shared import verifiability as v
from shared.trust import NOT_AUTHORIZED, Registry, load_registry

EXAMPLE = Path(__file__).parents[2] / "deploy" / "trust" / "example.yaml"
T = "vn.gov.monre.exemplars."
SUBMITTED, ACCEPTED, SCORE = T + "nomination.submitted.v1", T + "nomination.accepted.v1", T + "evaluation.score_submitted.v1"


def example_key(name: str) -> v.SigningKey:
    """The documented derivation of the example file's private keys."""
    return v.signing_key_from_seed(hashlib.sha256(f"exemplars example key: {name}".encode()).digest())


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(EXAMPLE)


def test_example_file_loads_with_its_documented_keys(registry):
    assert [p.name for p in registry.producers] == [
        "unit-U-01", "hr", "privacy", "council", "workspace", "nominations", "evaluations", "notifications"]
    for name in ("nominations/1", "unit-U-01/2", "workspace/1", "privacy/1"):
        producer, entry = registry.key(v.key_id(example_key(name)), utc("2026-06-15T00:00"))
        assert producer.name == name.split("/")[0] and entry.public.public_bytes_raw() == \
            example_key(name).public_key().public_bytes_raw()


def test_validity_bounds_and_rotation(registry):
    old, new = v.key_id(example_key("unit-U-01/1")), v.key_id(example_key("unit-U-01/2"))
    assert registry.key(old, utc("2024-12-31T23:59:59")) is None  # before valid_from
    assert registry.key(old, utc("2025-01-01T00:00")) is not None  # valid_from is inclusive
    assert registry.key(new, utc("2026-05-31T23:59:59")) is None
    assert registry.key(old, utc("2026-06-15T00:00")) and registry.key(new, utc("2026-06-15T00:00"))  # overlap
    assert registry.key(old, utc("2026-07-01T00:00")) is None  # valid_to is exclusive
    assert registry.key(new, utc("2030-01-01T00:00")) is not None  # open-ended
    assert registry.key("no-such-key", utc("2026-06-15T00:00")) is None


def test_signed_event_from_a_unit_end_to_end(registry):
    headers = {"ce_specversion": "1.0", "ce_id": "e-1", "ce_source": "urn:exemplars:unit:U-01", "ce_type": SUBMITTED,
               "ce_time": "2026-06-20T08:00:00Z", "content-type": "application/json"}
    value = b'{"nomination_id":"NOM-1","unit_id":"U-01","submitted_by":"S-01"}'
    headers |= v.sign_headers(headers, value, example_key("unit-U-01/2"))
    received = utc("2026-06-20T08:00:01")
    verified = v.verify_headers(headers, value, registry.verifying_keys(headers["ce_source"], received))
    producer, _ = registry.key(verified.keyid, received)
    assert registry.authorize(producer, SUBMITTED, "U-01", "S-01", "U-01").allowed
    # The same key under another unit's source is not acceptable.
    lookup = registry.verifying_keys("urn:exemplars:unit:U-02", received)
    with pytest.raises(v.NotVerified, match="unknown_key"):
        v.verify_headers(headers, value, lookup)


def test_prefix_source_rule():
    key = v.generate_signing_key()
    reg = Registry.model_validate({"producers": [{"name": "units", "source": "urn:exemplars:unit:*",
                                                  "keys": [{"x": v.to_jwk(key)["x"], "valid_from": "2026-01-01"}]}]})
    lookup_ok = reg.verifying_keys("urn:exemplars:unit:U-09", utc("2026-02-01T00:00"))
    lookup_no = reg.verifying_keys("urn:exemplars:hr", utc("2026-02-01T00:00"))
    assert lookup_ok(v.key_id(key)) is not None and lookup_no(v.key_id(key)) is None


@pytest.mark.parametrize("producer, event_type, unit, person, person_unit, signed, allowed, reason", [
    ("unit-U-01", SUBMITTED, "U-01", "S-01", "U-01", None, True, ""),
    ("unit-U-01", SUBMITTED, "U-01", None, None, None, True, ""),
    ("unit-U-01", SUBMITTED, "U-02", "S-01", "U-01", None, False, "unit"),
    ("unit-U-01", SUBMITTED, "U-01", "S-09", "U-02", None, False, "person"),
    ("unit-U-01", SUBMITTED, "U-01", "S-09", None, None, False, "person"),  # unknown person
    ("unit-U-01", ACCEPTED, "U-01", None, None, None, False, "type"),
    ("hr", T + "staff.registered.v1", "U-02", None, None, None, True, ""),  # prefix type rule
    ("hr", T + "staff.removed.v1", "U-03", None, None, None, False, "unit"),
    ("hr", T + "staff.registered.v1", None, None, None, None, False, "unit"),  # no unit: only "*" grants
    ("council", T + "council.decision_recorded.v1", "U-07", None, None, None, True, ""),
    ("council", T + "council.decision_recorded.v1", "U-07", "P-1", "U-07", None, False, "person"),
    ("workspace", SCORE, "U-01", "EV-07", "U-05", "EV-07", True, ""),
    ("workspace", SCORE, "U-01", "EV-07", "U-05", "EV-08", False, "person"),
    ("workspace", SCORE, "U-01", "EV-07", "U-05", None, False, "person"),
    ("nominations", ACCEPTED, "U-01", None, None, None, True, ""),
    ("nobody", ACCEPTED, "U-01", None, None, None, False, "type"),
])
def test_authority(registry, producer, event_type, unit, person, person_unit, signed, allowed, reason):
    decision = registry.authorize(producer, event_type, unit, person, person_unit, signed_person=signed)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    if not allowed:
        assert decision.code == NOT_AUTHORIZED
        assert decision.message_vi and unicodedata.is_normalized("NFC", decision.message_vi)


def test_any_grant_may_speak_for_anyone():
    reg = Registry.model_validate({"producers": [{"name": "ops", "source": "urn:ops", "keys": [
        {"x": v.to_jwk(v.generate_signing_key())["x"], "valid_from": "2026-01-01"}],
        "grants": [{"types": ["*"], "units": "*", "on_behalf_of": "any"}]}]})
    assert reg.authorize("ops", ACCEPTED, "U-01", "P-1", None).allowed


def test_refusal_messages_in_vietnamese(registry):
    assert registry.authorize("unit-U-01", ACCEPTED, "U-01", None, None).message_vi == (
        f"Hệ thống “unit-U-01” không được phép gửi sự kiện loại “{ACCEPTED}”.")
    assert registry.authorize("unit-U-01", SUBMITTED, "U-02", None, None).message_vi == (
        f"Hệ thống “unit-U-01” không được phép gửi sự kiện “{SUBMITTED}” cho đơn vị “U-02”.")
    assert registry.authorize("unit-U-01", SUBMITTED, "U-01", "S-09", "U-02").message_vi == (
        "Hệ thống “unit-U-01” chỉ được hành động thay cho cán bộ của đơn vị mình; "
        "người “S-09” không thuộc đơn vị được phép.")
    assert registry.authorize("workspace", SCORE, "U-01", "EV-07", None, signed_person="EV-08").message_vi == (
        "Hệ thống “workspace” chỉ được hành động thay cho người đã đăng nhập; "
        "người được nêu “EV-07” khác với người đăng nhập (“EV-08”).")


def _producer(**key) -> dict:
    return {"producers": [{"name": "p", "source": "urn:p", "keys": [{"valid_from": "2026-01-01", **key}]}]}


def test_invalid_registries_are_refused():
    x = v.to_jwk(v.signing_key_from_seed(bytes(32)))["x"]
    pem = v.to_pem(v.signing_key_from_seed(bytes(32)).public_key()).decode()
    with pytest.raises(ValidationError, match="thumbprint"):
        Registry.model_validate(_producer(x=x, kid="wrong"))
    with pytest.raises(ValidationError, match="exactly one"):
        Registry.model_validate(_producer(x=x, pem=pem))
    with pytest.raises(ValidationError, match="after valid_from"):
        Registry.model_validate(_producer(x=x, valid_to="2025-01-01"))
    with pytest.raises(ValidationError):
        Registry.model_validate(_producer(x=x, algorithm="rsa"))  # unknown fields are typos
    twice = _producer(x=x)
    twice["producers"].append({**twice["producers"][0], "name": "q"})
    with pytest.raises(ValidationError, match="listed twice"):
        Registry.model_validate(twice)
    assert Registry.model_validate(_producer(pem=pem)).producers[0].keys[0].keyid == v.key_id(
        v.signing_key_from_seed(bytes(32)))


def _write(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    stat = path.stat()  # a later mtime even on coarse file-system clocks
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000 + _write.count))
    _write.count += 1


_write.count = 0


def test_reloading_registry_follows_the_file(tmp_path: Path, caplog):
    path, key = tmp_path / "trust.yaml", v.generate_signing_key()
    entry = {"x": v.to_jwk(key)["x"], "valid_from": "2026-01-01"}
    _write(path, {"producers": [{"name": "p", "source": "urn:p", "keys": [entry]}]})
    live, now = Registry.reloading(path), utc("2026-03-01T00:00")
    assert live.key(v.key_id(key), now) is not None
    _write(path, {"producers": [{"name": "p", "source": "urn:p", "keys": [
        {**entry, "valid_to": "2026-02-01"}]}]})  # revoked
    assert live.key(v.key_id(key), now) is None
    path.write_text("producers: [ {broken", encoding="utf-8")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 5_000_000_000))
    assert live.key(v.key_id(key), now) is None  # the last good registry stays in force
    assert live.last_error is not None and "does not load" in caplog.text
    assert live.current() is live.current()  # no change, no re-read
