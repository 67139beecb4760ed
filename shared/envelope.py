"""CloudEvents 1.0 over Kafka: binary mode out; binary or structured mode in.

Decoding never raises anything but `PoisonMessage`, so the consumer can dead-letter what it
cannot read and go on: a parser's `RecursionError` on deep nesting or `ValueError` on a
huge integer is poison like any malformed JSON, never an error that escapes the batch.
"""

import base64
import binascii
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from pydantic import ValidationError

from shared import personal
from shared.events import BY_TYPE, Payload, ce_type, short_type
from shared.personal import Keys

SPEC_VERSION = "1.0"
JSON = "application/json"
STRUCTURED = "application/cloudevents+json"

# Namespace of the deterministic ids of derived events (UUIDv5).
DERIVED_NAMESPACE = uuid.UUID("6f1c2a5e-8d3b-5b7e-9a41-0c2d4e6f8a10")

Headers = list[tuple[str, bytes]]


UNDECODABLE, TOO_LARGE, CLOCK_SKEW = "undecodable", "too_large", "clock_skew"
# Attributes answers repeat (ids in input_rejected, keys of stored answers): bounded like payload fields.
ATTRIBUTE_LIMITS = {"id": 128, "source": 256, "subject": 256, "time": 64}


class PoisonMessage(Exception):
    """The record cannot be turned into a known, valid event; `reason` names the dead letter's class."""

    def __init__(self, message: str, reason: str = UNDECODABLE) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Received:
    """Where and when the platform received a record: the log's account, not the sender's."""

    topic: str
    partition: int
    offset: int
    # The broker's record timestamp, never later than the consumer's clock when it was read.
    at: dt.datetime


@dataclass(frozen=True)
class Sender:
    """Who sent a consumed event, as its signature proved (shared/credentials.py): the trust
    registry's producer and the key it signed with; `refusal` says, in Vietnamese, why that
    producer may not say this (NOT_AUTHORIZED), None when it may."""

    producer: str
    keyid: str
    refusal: str | None = None
    actor: str | None = None  # the person the producer signed as acting (its signed `actor`)

    def as_document(self) -> dict[str, str]:
        document = {"producer": self.producer, "keyid": self.keyid}
        if self.actor is not None:
            document["actor"] = self.actor
        return document


@dataclass(frozen=True)
class Event:
    type: str  # short type, e.g. "nomination.submitted"
    data: Payload
    key: str  # Kafka key: the aggregate id
    source: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    subject: str | None = None
    time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Set on events read from Kafka; None on events a service is about to publish.
    received: Received | None = field(default=None, compare=False)
    # Set once the signature is verified; None when unsigned operation is on, or not read from Kafka.
    sender: Sender | None = field(default=None, compare=False)

    @property
    def received_at(self) -> dt.datetime:
        """"Now" for any check about this event. `time` is the sender's word and never trusted
        as the present; the receive time is the log's (the same in a rebuild)."""
        return self.received.at if self.received is not None else self.time

    @property
    def refusal(self) -> str | None:
        """Why its proven sender may not say this (NOT_AUTHORIZED), or None."""
        return self.sender.refusal if self.sender is not None else None

    @property
    def dedup_key(self) -> str:
        """`source` + `id` identify a CloudEvent; equal pairs are duplicates."""
        return f"{self.source}/{self.id}"


def signed_by(event: Event) -> dict[str, str] | None:
    """Who recorded `event`, for the document that keeps what it recorded (beside its `at`
    and `received_at`): the producer and key its signature proved; None when unsigned
    operation is on."""
    return event.sender.as_document() if event.sender is not None else None


def derived_id(*parts: str) -> str:
    """A deterministic event id: reprocessing the same input yields the same output id."""
    return str(uuid.uuid5(DERIVED_NAMESPACE, "/".join(parts)))


def new_event(data: Payload, *, key: str, source: str, subject: str | None = None,
              derived_from: "Event | None" = None, id_parts: tuple[str, ...] = (),
              time: dt.datetime | None = None) -> Event:
    """An event of `data`'s type; derived from an input, its id is UUIDv5(input id, type, parts)."""
    if derived_from is not None:
        event_id = derived_id(derived_from.dedup_key, data.event_type, *id_parts)
    elif id_parts:
        event_id = derived_id(source, data.event_type, *id_parts)
    else:
        event_id = str(uuid.uuid4())
    return Event(type=data.event_type, data=data, key=key, source=source, id=event_id,
                 subject=subject or key, time=time or dt.datetime.now(dt.UTC))


def encode(event: Event, keys: Keys | None = None) -> tuple[bytes, bytes, dict[str, str]]:
    """Binary content mode: (key, value = data JSON, headers); with the persons' `keys`
    (`shared.vault`), personal fields sealed under them."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event.id,
        "ce_source": event.source,
        "ce_type": ce_type(event.type),
        "ce_time": event.time.isoformat().replace("+00:00", "Z"),
        "content-type": JSON,
    }
    if event.subject:
        headers["ce_subject"] = event.subject
    return event.key.encode(), _data(event, keys), headers


def _data(event: Event, keys: Keys | None) -> bytes:
    """The payload's JSON; with `keys`, its personal fields sealed (shared/personal.py)."""
    if keys is None or event.type not in personal.PERSONAL:
        return event.data.model_dump_json(exclude_none=True).encode()
    data = personal.seal(event.type, event.id, event.data.model_dump(mode="json", exclude_none=True), keys)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def encode_structured(event: Event, keys: Keys | None = None) -> tuple[bytes, bytes, dict[str, str]]:
    """Structured content mode, as a unit system's CloudEvents SDK would send it (for tests and demos)."""
    _, value, headers = encode(event, keys)
    body = {name[3:]: val for name, val in headers.items() if name.startswith("ce_")}
    body["datacontenttype"] = JSON
    body["data"] = json.loads(value)
    return event.key.encode(), json.dumps(body, ensure_ascii=False).encode(), {"content-type": STRUCTURED + "; charset=UTF-8"}


def decode(key: bytes | None, value: bytes | None, headers: Headers | tuple, *,
           received: Received | None = None, keys: Keys | None = None) -> Event:
    """Turn a Kafka record into an Event, or raise PoisonMessage saying why not. Sealed
    personal fields open with the persons' `keys` (`personal.owners_in` names them); without
    a person's key they read as erased."""
    try:
        return _decode(key, value, headers, received, keys or {})
    except PoisonMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError, MemoryError...: all poison
        raise PoisonMessage(f"cannot decode the record: {type(exc).__name__}: {str(exc)[:200]}") from exc


def record_size(record) -> int:
    return len(record.value or b"") + len(record.key or b"") + sum(len(n) + len(v or b"") for n, v in record.headers)


def decode_record(record, *, now: dt.datetime, max_bytes: int | None, max_skew: dt.timedelta,
                  keys: Keys | None = None) -> Event:
    """A consumed record as an Event, admitted only if it is of bounded size (`max_bytes`, None
    for none) and not dated more than `max_skew` after its receive time. `now` is the
    consumer's clock; a rebuild passes the record's own time. The limits are settings
    (shared/settings.py)."""
    size = record_size(record)
    if max_bytes is not None and size > max_bytes:
        raise PoisonMessage(f"record of {size} bytes is above the limit of {max_bytes}", TOO_LARGE)
    stamped = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC) if record.timestamp is not None else now
    at = min(stamped, now)
    event = decode(record.key, record.value, record.headers,
                   received=Received(record.topic, record.partition, record.offset, at), keys=keys)
    if event.time > at + max_skew:
        raise PoisonMessage(f"CloudEvents time {event.time.isoformat()} is more than {max_skew} after the "
                            f"receive time {at.isoformat()}", CLOCK_SKEW)
    return event


def _decode(key: bytes | None, value: bytes | None, headers: Headers | tuple, received: Received | None,
            keys: Keys) -> Event:
    try:
        hdrs = {name.lower(): raw.decode("utf-8") for name, raw in headers if raw is not None}
    except UnicodeDecodeError as exc:
        raise PoisonMessage(f"header is not UTF-8: {exc}") from exc
    if value is None:
        raise PoisonMessage("record has no value")
    if is_structured(hdrs, value):
        attrs, data = _structured_attributes(value)
    else:
        attrs = {name[3:]: val for name, val in hdrs.items() if name.startswith("ce_")}
        data = value
    for required in ("specversion", "id", "source", "type"):
        if not attrs.get(required):
            raise PoisonMessage(f"missing CloudEvents attribute '{required}'")
    for name, limit in ATTRIBUTE_LIMITS.items():
        value = attrs.get(name)
        if value is not None and (len(value) > limit or not value.isprintable()):
            raise PoisonMessage(f"CloudEvents attribute '{name}' is longer than {limit} characters or not printable")
    if attrs["specversion"] != SPEC_VERSION:
        raise PoisonMessage(f"unsupported specversion {attrs['specversion']!r}")
    name = short_type(attrs["type"])
    if name is None:
        raise PoisonMessage(f"unknown event type {attrs['type']!r}")
    if name in personal.PERSONAL and b'"pd1:' in data:
        try:
            data = json.dumps(personal.unseal(name, json.loads(data), keys), ensure_ascii=False).encode()
        except personal.Unreadable as exc:
            raise PoisonMessage(f"invalid {name} payload: {exc}") from exc
    try:
        payload = BY_TYPE[name].model_validate_json(data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {name} payload: {_summary(exc)}") from exc
    try:
        key_text = key.decode("utf-8") if key else ""
    except UnicodeDecodeError as exc:
        raise PoisonMessage("key is not UTF-8") from exc
    return Event(type=name, data=payload, key=key_text, source=attrs["source"], id=attrs["id"],
                 subject=attrs.get("subject"), time=_parse_time(attrs.get("time"), received), received=received)


def is_structured(headers: dict[str, str], value: bytes) -> bool:
    """Structured mode as producers really send it: the spec's content type, or (the
    CloudEvents SDK's legacy Kafka API) no `ce_specversion` header and a JSON object
    holding `specversion`, under `application/json` or no content type at all."""
    if headers.get("content-type", "").split(";")[0].strip().lower() == STRUCTURED:
        return True
    return "ce_specversion" not in headers and value.lstrip()[:1] == b"{" and b'"specversion"' in value


def _structured_attributes(value: bytes) -> tuple[dict[str, str], bytes]:
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"structured event is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PoisonMessage("structured event is not a JSON object")
    if "data" in body:
        data = json.dumps(body["data"]).encode()
    elif "data_base64" in body:
        try:
            data = base64.b64decode(body["data_base64"], validate=True)
        except (binascii.Error, TypeError) as exc:
            raise PoisonMessage(f"structured event's data_base64 is not base64: {exc}") from exc
    else:
        raise PoisonMessage("structured event has no 'data'")
    attrs = {k: str(v) for k, v in body.items() if k not in ("data", "data_base64") and isinstance(v, (str, int))}
    return attrs, data


def _parse_time(raw: str | None, received: Received | None) -> dt.datetime:
    if not raw:
        return received.at if received is not None else dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PoisonMessage(f"bad CloudEvents time {raw!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()[:5])


def to_document(event: Event) -> dict:
    """An event as stored beside a projection, to be republished identically after a crash."""
    return {"id": event.id, "type": event.type, "key": event.key, "source": event.source,
            "subject": event.subject, "time": event.time, "data": event.data.model_dump(mode="json")}


def from_document(doc: dict) -> Event:
    model = BY_TYPE[doc["type"]]
    time = doc["time"] if doc["time"].tzinfo else doc["time"].replace(tzinfo=dt.UTC)
    return Event(type=doc["type"], data=model.model_validate(doc["data"], strict=False), key=doc["key"],
                 source=doc["source"], id=doc["id"], subject=doc.get("subject"), time=time)
