"""CloudEvents 1.0 over Kafka: binary mode out; binary or structured mode in.

Decoding never raises anything but `PoisonMessage`, so the consumer can dead-letter what it
cannot read and go on.
"""

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from pydantic import ValidationError

from shared.events import BY_TYPE, Payload, ce_type, short_type

SPEC_VERSION = "1.0"
JSON = "application/json"
STRUCTURED = "application/cloudevents+json"

# Namespace of the deterministic ids of derived events (UUIDv5).
DERIVED_NAMESPACE = uuid.UUID("6f1c2a5e-8d3b-5b7e-9a41-0c2d4e6f8a10")

Headers = list[tuple[str, bytes]]


class PoisonMessage(Exception):
    """The record cannot be turned into a known, valid event."""


@dataclass(frozen=True)
class Event:
    type: str  # short type, e.g. "nomination.submitted"
    data: Payload
    key: str  # Kafka key: the aggregate id
    source: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    subject: str | None = None
    time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def dedup_key(self) -> str:
        """`source` + `id` identify a CloudEvent; equal pairs are duplicates."""
        return f"{self.source}/{self.id}"


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


def encode(event: Event) -> tuple[bytes, bytes, dict[str, str]]:
    """Binary content mode: (key, value = data JSON, headers)."""
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
    return event.key.encode(), event.data.model_dump_json(exclude_none=True).encode(), headers


def encode_structured(event: Event) -> tuple[bytes, bytes, dict[str, str]]:
    """Structured content mode, as a unit system's CloudEvents SDK would send it (for tests and demos)."""
    _, value, headers = encode(event)
    body = {name[3:]: val for name, val in headers.items() if name.startswith("ce_")}
    body["datacontenttype"] = JSON
    body["data"] = json.loads(value)
    return event.key.encode(), json.dumps(body, ensure_ascii=False).encode(), {"content-type": STRUCTURED + "; charset=UTF-8"}


def decode(key: bytes | None, value: bytes | None, headers: Headers | tuple) -> Event:
    """Turn a Kafka record into an Event, or raise PoisonMessage saying why not."""
    try:
        hdrs = {name.lower(): raw.decode("utf-8") for name, raw in headers if raw is not None}
    except UnicodeDecodeError as exc:
        raise PoisonMessage(f"header is not UTF-8: {exc}") from exc
    if value is None:
        raise PoisonMessage("record has no value")
    if hdrs.get("content-type", "").split(";")[0].strip() == STRUCTURED:
        attrs, data = _structured_attributes(value)
    else:
        attrs = {name[3:]: val for name, val in hdrs.items() if name.startswith("ce_")}
        data = value
    for required in ("specversion", "id", "source", "type"):
        if not attrs.get(required):
            raise PoisonMessage(f"missing CloudEvents attribute '{required}'")
    if attrs["specversion"] != SPEC_VERSION:
        raise PoisonMessage(f"unsupported specversion {attrs['specversion']!r}")
    name = short_type(attrs["type"])
    if name is None:
        raise PoisonMessage(f"unknown event type {attrs['type']!r}")
    try:
        payload = BY_TYPE[name].model_validate_json(data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {name} payload: {_summary(exc)}") from exc
    try:
        key_text = key.decode("utf-8") if key else ""
    except UnicodeDecodeError as exc:
        raise PoisonMessage("key is not UTF-8") from exc
    return Event(type=name, data=payload, key=key_text, source=attrs["source"], id=attrs["id"],
                 subject=attrs.get("subject"), time=_parse_time(attrs.get("time")))


def _structured_attributes(value: bytes) -> tuple[dict[str, str], bytes]:
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"structured event is not JSON: {exc}") from exc
    if not isinstance(body, dict) or "data" not in body:
        raise PoisonMessage("structured event has no 'data'")
    attrs = {k: str(v) for k, v in body.items() if k != "data" and isinstance(v, (str, int))}
    return attrs, json.dumps(body["data"]).encode()


def _parse_time(raw: str | None) -> dt.datetime:
    if not raw:
        return dt.datetime.now(dt.UTC)
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
