"""Dead letters as operators see them: parsed from `<topic>.dlq` records, selected, printed.

A dead letter keeps the original key and value as they were, the original headers exactly
in `x-dlq-original-headers` (JSON list of [name, base64]), and why it was set aside in the
other `x-dlq-*` headers (see `shared.kafka._dead_letter`). Everything here is pure; the
commands that read Kafka are in `deploy.ops.commands`.
"""

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from deploy.ops.text import (
    b64,
    from_millis,
    hexdump,
    is_utf8,
    printable,
    shorten,
    table,
    utc_text,
)
from shared import envelope
from shared.events import CE_TYPE_PREFIX, short_type
from shared.topics import DLQ_SUFFIX, TOPICS, dlq

Headers = list[tuple[str, bytes]]
DLQ_PREFIX = "x-dlq-"
ORIGINAL_HEADERS = "x-dlq-original-headers"


def dead_letter_topics() -> list[str]:
    return [dlq(spec.name) for spec in TOPICS]


def as_dead_letter_topic(name: str) -> str:
    """Operators may name the source topic or its dead-letter topic."""
    return name if name.endswith(DLQ_SUFFIX) else dlq(name)


def source_of(dlq_topic: str) -> str:
    return dlq_topic.removesuffix(DLQ_SUFFIX)


@dataclass(frozen=True)
class EventInfo:
    type: str | None = None
    id: str | None = None
    source: str | None = None
    time: str | None = None
    mode: str | None = None  # binary | structured


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    timestamp: dt.datetime | None
    key: bytes | None
    value: bytes
    headers: Headers  # as on the dead-letter record
    meta: dict[str, str]  # the x-dlq-* headers, decoded
    original_headers: Headers | None  # None when they cannot be recovered exactly
    problem: str | None = None  # why original_headers is None
    event: EventInfo = field(default_factory=EventInfo)

    @property
    def ref(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def reason(self) -> str | None:
        return self.meta.get("x-dlq-reason")

    @property
    def error(self) -> str | None:
        return self.meta.get("x-dlq-error")

    @property
    def service(self) -> str | None:
        return self.meta.get("x-dlq-service")

    @property
    def source_topic(self) -> str:
        return self.meta.get("x-dlq-topic") or source_of(self.topic)

    @property
    def source_partition(self) -> int | None:
        return _int(self.meta.get("x-dlq-partition"))

    @property
    def source_offset(self) -> int | None:
        return _int(self.meta.get("x-dlq-offset"))

    @property
    def source_ref(self) -> str:
        return f"{self.source_topic}[{_dash(self.source_partition)}]@{_dash(self.source_offset)}"


def from_record(record) -> DeadLetter:
    """A dead letter from an aiokafka ConsumerRecord (or anything with the same fields)."""
    headers = [(name, raw if raw is not None else b"") for name, raw in (record.headers or ())]
    meta = {name: raw.decode("utf-8", errors="replace") for name, raw in headers if name.startswith(DLQ_PREFIX)}
    original, problem = original_headers(meta.get(ORIGINAL_HEADERS))
    value = record.value if record.value is not None else b""
    return DeadLetter(topic=record.topic, partition=record.partition, offset=record.offset,
                      timestamp=from_millis(record.timestamp), key=record.key, value=value, headers=headers,
                      meta=meta, original_headers=original, problem=problem,
                      event=describe_event(value, original if original is not None else _fallback(headers)))


def original_headers(raw: str | None) -> tuple[Headers | None, str | None]:
    """Decode `x-dlq-original-headers`; (None, why) when they are missing or malformed."""
    if raw is None:
        return None, f"no {ORIGINAL_HEADERS} header"
    try:
        pairs = json.loads(raw)
        result = [(str(name), base64.b64decode(value, validate=True)) for name, value in pairs]
    except (ValueError, TypeError, binascii.Error) as exc:
        return None, f"{ORIGINAL_HEADERS} unreadable: {exc}"
    return result, None


def _fallback(headers: Headers) -> Headers:
    # Only to name the event when the exact copy is lost; never replayed from.
    return [(name, raw) for name, raw in headers if not name.startswith(DLQ_PREFIX)]


def describe_event(value: bytes, headers: Iterable[tuple[str, bytes]]) -> EventInfo:
    """Type, id, source and time of the CloudEvent, as far as the bytes allow."""
    attrs = {name.lower(): raw.decode("utf-8", errors="replace") for name, raw in headers}
    if envelope.is_structured(attrs, value):
        try:
            body = json.loads(value)
        except (ValueError, RecursionError):  # what was dead-lettered for it must not fail the tool too
            return EventInfo(mode="structured")
        if not isinstance(body, dict):
            return EventInfo(mode="structured")
        found = {k: str(body[k]) for k in ("type", "id", "source", "time") if isinstance(body.get(k), (str, int))}
        return EventInfo(_type(found.get("type")), found.get("id"), found.get("source"), found.get("time"), "structured")
    return EventInfo(_type(attrs.get("ce_type")), attrs.get("ce_id"), attrs.get("ce_source"), attrs.get("ce_time"),
                     "binary" if "ce_type" in attrs or "ce_id" in attrs else None)


def _type(ce_type: str | None) -> str | None:
    if not ce_type:
        return None
    if known := short_type(ce_type):
        return known
    # Unknown types or versions stay recognisable, marked as such.
    return ce_type[len(CE_TYPE_PREFIX):] + "?" if ce_type.startswith(CE_TYPE_PREFIX) else ce_type + "?"


def select(letters: Iterable[DeadLetter], *, reasons: Iterable[str] = (), offsets: set[tuple[int, int]] | None = None,
           key: str | None = None, since: dt.datetime | None = None) -> list[DeadLetter]:
    """Every filter given must hold (reasons: any of them; offsets: (partition, offset))."""
    wanted = set(reasons)
    return [letter for letter in letters
            if (not wanted or letter.reason in wanted)
            and (offsets is None or (letter.partition, letter.offset) in offsets)
            and (key is None or (letter.key or b"") == key.encode())
            and (since is None or (letter.timestamp is not None and letter.timestamp >= since))]


# ---- output ----------------------------------------------------------------------------

LIST_HEADERS = ("PART", "OFFSET", "TIME (UTC)", "REASON", "SOURCE", "SERVICE", "EVENT TYPE", "EVENT ID", "KEY",
                "REPLAYED", "REPLAY OF", "ERROR")


def replay_origins(replays: Mapping[str, list]) -> dict[tuple[str, int, int], str]:
    """Where each replay landed -> the dead letter it came from."""
    return {(r.topic, r.partition, r.offset): ref for ref, done in replays.items() for r in done}


def replay_of(letter: DeadLetter, origins: Mapping[tuple[str, int, int], str]) -> str | None:
    """The dead letter this one is a replay of, when a replay was refused again."""
    return origins.get((letter.source_topic, letter.source_partition, letter.source_offset))


def render_list(by_topic: Mapping[str, list[DeadLetter]], replays: Mapping[str, list] | None = None,
                missing: Iterable[str] = (), error_width: int = 70) -> str:
    replays = replays or {}
    origins = replay_origins(replays)
    blocks = []
    for topic, letters in by_topic.items():
        done = sum(1 for letter in letters if replays.get(letter.ref))
        title = f"{topic}: {len(letters)} dead letter{'s' * (len(letters) != 1)}"
        if done:
            title += f", {done} replayed"
        if not letters:
            blocks.append(title)
            continue
        rows = [(letter.partition, letter.offset, utc_text(letter.timestamp), letter.reason, _source_cell(letter),
                 letter.service, letter.event.type, letter.event.id, shorten(printable(letter.key), 24),
                 len(replays.get(letter.ref, [])) or None, _short_ref(replay_of(letter, origins), topic),
                 shorten(letter.error, error_width))
                for letter in letters]
        blocks.append(title + "\n" + table(LIST_HEADERS, rows))
    blocks += [f"{topic}: no such topic" for topic in missing]
    return "\n\n".join(blocks)


def _source_cell(letter: DeadLetter) -> str:
    # The source topic is the dead-letter topic's name without .dlq: say it only when not.
    if letter.source_topic == source_of(letter.topic):
        return f"[{_dash(letter.source_partition)}]@{_dash(letter.source_offset)}"
    return letter.source_ref


def _short_ref(ref: str | None, topic: str) -> str | None:
    return ref[len(topic) + 1:] if ref and ref.startswith(topic + "/") else ref


def render_show(letter: DeadLetter, replays: list | None = None, origin: str | None = None) -> str:
    out = [f"Dead letter {letter.topic} partition {letter.partition} offset {letter.offset}",
           f"  dead-lettered at  {utc_text(letter.timestamp) or '-'}",
           f"  reason            {letter.reason or '-'}",
           f"  service           {letter.service or '-'}",
           f"  from              {letter.source_ref}",
           (f"  event             {letter.event.type or '-'}  id {letter.event.id or '-'}"
            f"  source {letter.event.source or '-'}  time {letter.event.time or '-'}"
            f"  ({letter.event.mode or 'not a CloudEvent'})"),
           *([f"  replay of         {origin}"] if origin else []),
           "", "Error:", _indent(letter.error or "-"), ""]
    out += ["Key:", *_bytes_block(letter.key), ""]
    out += [f"Value ({len(letter.value)} bytes):", *_bytes_block(letter.value), ""]
    if letter.original_headers is None:
        out += [f"Original headers: cannot be recovered exactly ({letter.problem})."]
    else:
        out += [f"Original headers ({len(letter.original_headers)}, from {ORIGINAL_HEADERS}):"]
        for name, raw in letter.original_headers:
            shown = printable(raw) if is_utf8(raw) else f"(not UTF-8) hex {raw.hex()}"
            out.append(f"  {name}: {shown}")
            out.append(f"    base64 {b64(raw)}")
    out += ["", "Replays:"]
    out += [f"  {r.describe()}" for r in replays or []] or ["  never replayed"]
    return "\n".join(out)


def _bytes_block(raw: bytes | None) -> list[str]:
    if raw is None:
        return ["  (null)"]
    return ["  text   " + printable(raw).replace("\n", "\n         "),
            "  base64 " + (b64(raw) or ""),
            _indent(hexdump(raw))]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines() or [""])


def to_json(letter: DeadLetter, replays: list | None = None, full: bool = False, origin: str | None = None) -> dict:
    view = {
        "topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
        "time": utc_text(letter.timestamp), "reason": letter.reason, "error": letter.error,
        "service": letter.service, "source": {"topic": letter.source_topic, "partition": letter.source_partition,
                                              "offset": letter.source_offset},
        "event": {"type": letter.event.type, "id": letter.event.id, "source": letter.event.source,
                  "time": letter.event.time, "mode": letter.event.mode},
        "key": printable(letter.key) if letter.key is not None else None,
        "replays": [r.to_json() for r in replays or []],
        "replay_of": origin,
    }
    if full:
        view["key_base64"] = b64(letter.key)
        view["value_base64"] = b64(letter.value)
        view["value_text"] = printable(letter.value)
        view["original_headers"] = (None if letter.original_headers is None else
                                    [{"name": n, "text": raw.decode("utf-8") if is_utf8(raw) else None,
                                      "base64": b64(raw)} for n, raw in letter.original_headers])
        view["original_headers_problem"] = letter.problem
    return view


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _dash(value: object) -> str:
    return "-" if value is None else str(value)
