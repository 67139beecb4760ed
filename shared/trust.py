"""The trust registry: which producer holds which keys, and what it may say for whom.

Data, not code: a YAML file (deploy/trust/example.yaml shows every field), read into
pydantic models. Rules:

- A producer's `source` is the CloudEvents source it must send under: exact, or, ending
  in `*`, a prefix (`urn:exemplars:unit:*` matches `urn:exemplars:unit:U-01`).
- A key is `x` (RFC 8037: base64url of the raw Ed25519 public key) or `pem`, with an optional
  `kid` that must then be its thumbprint (shared.verifiability.key_id), valid from
  `valid_from` (inclusive) to `valid_to` (exclusive, none for open-ended). Rotation is
  two keys with overlapping validity. Dates without a time are midnight UTC; times without
  an offset are UTC. The instant checked is the broker's receive time, never the sender's.
- A grant is event `types` (exact CloudEvents types, or a `*`-ended prefix) x `units`
  (`*` or a list of unit ids) x `on_behalf_of`: `none` (the event names no person),
  `unit_staff` (a person whose unit is one of the grant's units), `signed_person` (the
  person named in the producer's signed extension attribute, `actor` by default) or `any`.
"""

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator, model_validator

from shared.keys import SigningKey, to_jwk
from shared.verifiability import VerifyingKey, b64decode, from_pem, key_id, public_key_from_raw

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "NOT_AUTHORIZED"
OnBehalfOf = Literal["none", "unit_staff", "signed_person", "any"]


def matches(pattern: str, value: str) -> bool:
    """A registry pattern: exact, or ending in `*`, a prefix."""
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern


def key_entry(key: SigningKey | VerifyingKey, valid_from: dt.datetime | dt.date,
              valid_to: dt.datetime | dt.date | None = None) -> dict[str, object]:
    """A producer's `keys:` item for `key` (its public half), as a trust file holds it."""
    jwk = to_jwk(key)
    item: dict[str, object] = {"kid": jwk["kid"], "x": jwk["x"], "valid_from": valid_from}
    if valid_to is not None:
        item["valid_to"] = valid_to
    return item


def _aware(value: object) -> object:
    # YAML reads `2026-01-01` as a date and `2026-01-01 00:00:00` as a naive datetime: both UTC.
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str | None = None
    x: str | None = None
    pem: str | None = None
    valid_from: dt.datetime
    valid_to: dt.datetime | None = None
    _public: VerifyingKey = PrivateAttr()
    _keyid: str = PrivateAttr()  # computed once: every verification looks keys up by it

    @field_validator("valid_from", "valid_to", mode="before")
    @classmethod
    def _date_is_midnight_utc(cls, value: object) -> object:
        return _aware(value)

    @field_validator("valid_from", "valid_to", mode="after")
    @classmethod
    def _naive_is_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _aware(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _load(self) -> "KeyEntry":
        if (self.x is None) == (self.pem is None):
            raise ValueError("a key has exactly one of 'x' and 'pem'")
        public = public_key_from_raw(b64decode(self.x)) if self.x is not None else from_pem(self.pem or "")
        if not isinstance(public, VerifyingKey):
            raise ValueError("the trust registry holds public keys only")
        if self.kid is not None and self.kid != key_id(public):
            raise ValueError(f"kid {self.kid!r} is not the key's thumbprint {key_id(public)!r}")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        self._public = public
        self._keyid = key_id(public)
        return self

    @property
    def keyid(self) -> str:
        return self._keyid

    @property
    def public(self) -> VerifyingKey:
        return self._public

    def valid_at(self, at: dt.datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[str]
    units: Literal["*"] | list[str] = "*"
    on_behalf_of: OnBehalfOf = "none"

    @field_validator("on_behalf_of", mode="before")
    @classmethod
    def _null_is_none(cls, value: object) -> object:
        return "none" if value is None else value

    def covers_type(self, event_type: str) -> bool:
        return any(matches(t, event_type) for t in self.types)

    def covers_unit(self, unit_id: str | None) -> bool:
        # An event about no unit is covered only by a grant for every unit.
        return self.units == "*" or (unit_id is not None and unit_id in self.units)


class Producer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str
    keys: list[KeyEntry]
    grants: list[Grant] = []
    actor_attribute: str = "actor"

    def source_matches(self, source: str) -> bool:
        return matches(self.source, source)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str | None = None  # NOT_AUTHORIZED when refused
    message_vi: str = ""
    reason: str = ""  # for logs: "type", "unit" or "person"


ALLOWED = Decision(True)


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    producers: list[Producer]
    _by_keyid: dict[str, tuple[Producer, KeyEntry]] = PrivateAttr()

    @model_validator(mode="after")
    def _unique(self) -> "Registry":
        names = [p.name for p in self.producers]
        if len(set(names)) != len(names):
            raise ValueError("producer names repeat")
        # One key, one producer: otherwise a signature would not say who spoke.
        keyids = [k.keyid for p in self.producers for k in p.keys]
        if len(set(keyids)) != len(keyids):
            raise ValueError("a key is listed twice")
        self._by_keyid = {k.keyid: (p, k) for p in self.producers for k in p.keys}
        return self

    @staticmethod
    def reloading(path: str | Path) -> "ReloadingRegistry":
        return ReloadingRegistry(path)

    def producer(self, name: str) -> Producer | None:
        return next((p for p in self.producers if p.name == name), None)

    def key(self, keyid: str, at: dt.datetime) -> tuple[Producer, KeyEntry] | None:
        """The producer and key of `keyid`, if that key is valid at `at`."""
        found = self._by_keyid.get(keyid)
        return found if found is not None and found[1].valid_at(at) else None

    def verifying_keys(self, source: str, at: dt.datetime) -> Callable[[str], VerifyingKey | None]:
        """The `keys` argument of shared.verifiability.verify for an event from `source`
        received at `at`: only keys of a producer allowed that source are acceptable, so
        a signature by another producer's key reads as `unknown_key`."""
        def lookup(keyid: str) -> VerifyingKey | None:
            found = self.key(keyid, at)
            return found[1].public if found and found[0].source_matches(source) else None
        return lookup

    def authorize(self, producer: Producer | str, event_type: str, unit_id: str | None,
                  person_id: str | None, person_unit: str | None, *,
                  signed_person: str | None = None) -> Decision:
        """May `producer` say `event_type` about `unit_id` on behalf of `person_id` (whose
        unit is `person_unit`, None if unknown)? `signed_person` is the value of the
        producer's signed `actor_attribute`, taken only from a verified event."""
        found = self.producer(producer) if isinstance(producer, str) else producer
        name = producer if isinstance(producer, str) else producer.name
        if found is None:
            return _refuse("type", f"Hệ thống “{name}” không có trong danh sách tin cậy.")
        grants = [g for g in found.grants if g.covers_type(event_type)]
        if not grants:
            return _refuse("type", f"Hệ thống “{name}” không được phép gửi sự kiện loại “{event_type}”.")
        grants = [g for g in grants if g.covers_unit(unit_id)]
        if not grants:
            unit = f"đơn vị “{unit_id}”" if unit_id else "sự kiện không gắn với đơn vị nào"
            return _refuse("unit", f"Hệ thống “{name}” không được phép gửi sự kiện “{event_type}” cho {unit}.")
        if person_id is None or any(_speaks_for(g, person_id, person_unit, signed_person) for g in grants):
            return ALLOWED
        return _refuse("person", _person_message(name, grants[0].on_behalf_of, person_id, signed_person))


def _speaks_for(grant: Grant, person_id: str, person_unit: str | None, signed_person: str | None) -> bool:
    match grant.on_behalf_of:
        case "any":
            return True
        case "unit_staff":
            return person_unit is not None and (grant.units == "*" or person_unit in grant.units)
        case "signed_person":
            return signed_person is not None and signed_person == person_id
    return False


def _person_message(name: str, mode: str, person_id: str, signed_person: str | None) -> str:
    if mode == "unit_staff":
        return (f"Hệ thống “{name}” chỉ được hành động thay cho cán bộ của đơn vị mình; "
                f"người “{person_id}” không thuộc đơn vị được phép.")
    if mode == "signed_person":
        who = f"“{signed_person}”" if signed_person else "không được ký xác nhận"
        return (f"Hệ thống “{name}” chỉ được hành động thay cho người đã đăng nhập; người được nêu "
                f"“{person_id}” khác với người đăng nhập ({who}).")
    return f"Hệ thống “{name}” không được phép hành động thay cho cá nhân nào (người được nêu: “{person_id}”)."


def _refuse(reason: str, message: str) -> Decision:
    return Decision(False, NOT_AUTHORIZED, message, reason)


def load_registry(path: str | Path) -> Registry:
    """Read and validate a registry file; raises ValueError (pydantic's ValidationError is one)."""
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    return Registry.model_validate(raw if raw is not None else {"producers": []})


class ReloadingRegistry:
    """A registry that re-reads its file when it changes, checked by one stat() per use.

    The stamp is (mtime_ns, size, inode), so an atomic rename is seen too. A file that no
    longer loads leaves the last good registry in force (logged): a typo must not stop
    every consumer, and the operator sees the error. The first load must succeed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp = self._stat()
        self._registry = load_registry(self.path)
        self.last_error: Exception | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def current(self) -> Registry:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            try:
                self._registry = load_registry(self.path)
                self.last_error = None
                log.info("trust registry reloaded from %s", self.path)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                self.last_error = exc
                log.error("trust registry %s does not load; keeping the previous one: %s", self.path, exc)
            self._stamp = stamp
        return self._registry

    def key(self, keyid: str, at: dt.datetime) -> tuple[Producer, KeyEntry] | None:
        return self.current().key(keyid, at)

    def verifying_keys(self, source: str, at: dt.datetime) -> Callable[[str], VerifyingKey | None]:
        return self.current().verifying_keys(source, at)

    def authorize(self, producer: Producer | str, event_type: str, unit_id: str | None,
                  person_id: str | None, person_unit: str | None, *,
                  signed_person: str | None = None) -> Decision:
        return self.current().authorize(producer, event_type, unit_id, person_id, person_unit,
                                        signed_person=signed_person)
