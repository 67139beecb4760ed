"""Rebuilding a projection from the log: what a rebuild reads, in which order it applies
it, and the answers it takes from the log instead of deciding again.

A service's decisions depend on things the log does not hold: which instance read which
partition first, and the load on each evaluator at that moment. Replaying the inputs
through the live service would decide again and could decide differently under the same
event ids. A rebuild therefore runs the service's own handlers over an in-memory store and
*pins* every decision to the one the service published: each event a handler produces is
swapped for the logged event of the same (deterministic) id, and a handler that produces
an id the log does not hold is counted as a divergence, which blocks the switch.

The inputs are read up to the offsets the live consumer groups have committed, the
service's own output topic to its end: the rebuilt projection then stands exactly where
the live one stands, and the service can resume on it under the same groups.
"""

import dataclasses
import datetime as dt
import heapq
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby

from shared.documents import MemoryDocuments
from shared.envelope import Event, Received
from shared.unit_of_work import REVISION, UnitOfWork

log = logging.getLogger("exemplars.replay")


@dataclass(frozen=True)
class Logged:
    """One decoded record of an input topic."""

    topic: str
    partition: int
    offset: int
    at: dt.datetime  # the record's timestamp: when it was produced
    event: Event


@dataclass
class Answers:
    """The events the service published, by id."""

    by_id: dict[str, Event]
    divergent: list[Event] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterable[Event]) -> "Answers":
        return cls({e.id: e for e in events})

    def pin(self, produced: Event) -> Event:
        """The logged copy of what a handler produced (same id, so same input and decision)."""
        logged = self.by_id.get(produced.id)
        if logged is None or logged.type != produced.type:
            self.divergent.append(produced)
            return produced
        return logged

    def pin_all(self, produced: Iterable[Event]) -> list[Event]:
        return [self.pin(e) for e in produced]

    def of_type(self, *types: str) -> list[Event]:
        return [e for e in self.by_id.values() if e.type in types]


def processing_order(records: Iterable[Logged]) -> list[Logged]:
    """Every partition in its own order, partitions merged by when their records arrived.

    The live service read its partitions concurrently; the arrival time is the best account
    of that interleaving the log keeps, and the pinned answers absorb the rest.
    """
    by_partition = sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    partitions = [list(rs) for _, rs in groupby(by_partition, key=lambda r: (r.topic, r.partition))]
    return list(heapq.merge(*partitions, key=lambda r: (r.at, r.topic, r.partition, r.offset)))


Handler = Callable[[Event], Awaitable[object]]
Before = Callable[[Logged], Awaitable[None]]


async def apply(inputs: Iterable[Logged], by_topic: dict[str, dict[str, Handler]], before: Before | None = None) -> int:
    """Run each input through the handler its topic and type name (a service's `by_topic()`),
    in processing order, after `before` (what the rebuild pins for that input). Returns how
    many were applied."""
    applied = 0
    for record in processing_order(inputs):
        handler = by_topic.get(record.topic, {}).get(record.event.type)
        if handler is not None:  # other types were skipped or dead-lettered live
            if before is not None:
                await before(record)
            await handler(received(record))
            applied += 1
    return applied


REPLAY_BATCH = 1_000


async def run(inputs: Iterable[Logged], decider, answers: Answers) -> MemoryDocuments:
    """Run the inputs a service routes through its handlers (`decider.routes()`), in processing
    order, in the same unit of work as live but over memory, every answer pinned to the log."""
    documents = MemoryDocuments()
    unit = UnitOfWork(documents, decider, pin=answers.pin)
    routes = decider.routes()
    routed = [received(r) for r in processing_order(inputs) if r.event.type in routes.get(r.topic, {})]
    for start in range(0, len(routed), REPLAY_BATCH):
        for outcome in await unit.run(routed[start:start + REPLAY_BATCH]):
            if outcome.error is not None:  # live it was answered (dead-lettered inputs are not read)
                log.error("replaying %s %s failed: %r", outcome.event.type, outcome.event.id, outcome.error)
                answers.divergent.append(outcome.event)
    return documents


def received(record: Logged) -> Event:
    """The event as the live consumer had it: "today" in its checks is when the record was
    received (`Event.received_at`), the record's own time in the log."""
    if record.event.received is not None:
        return record.event
    return dataclasses.replace(record.event, received=Received(record.topic, record.partition, record.offset, record.at))


# ---- comparing a rebuilt projection with the live one ------------------------------------


@dataclass(frozen=True)
class Comparison:
    """How one collection is compared: what the log cannot reproduce is named here, with why,
    in the service's rebuild module."""

    ignore: frozenset[str] = frozenset()  # top-level fields that record when, not what
    unordered: frozenset[str] = frozenset()  # list fields whose order is the arrival order
    identity: Callable[[dict], object] | None = None  # instead of _id, when _id is arbitrary
    normalize: Callable[[dict], dict] | None = None  # any other reshaping, applied first


@dataclass
class Difference:
    collection: str
    missing: list[object] = field(default_factory=list)  # live only
    extra: list[object] = field(default_factory=list)  # rebuilt only
    changed: list[tuple[object, str]] = field(default_factory=list)  # (id, first differing field)

    @property
    def empty(self) -> bool:
        return not (self.missing or self.extra or self.changed)


def compare(live: dict[str, list[dict]], rebuilt: dict[str, list[dict]],
            rules: dict[str, Comparison]) -> list[Difference]:
    """Per collection of `rules`, the documents that differ beyond what the rules excuse."""
    differences = []
    for name, rule in rules.items():
        a = _keyed(live.get(name, []), rule)
        b = _keyed(rebuilt.get(name, []), rule)
        diff = Difference(name, missing=sorted(a.keys() - b.keys(), key=str), extra=sorted(b.keys() - a.keys(), key=str))
        for key in sorted(a.keys() & b.keys(), key=str):
            if a[key] != b[key]:
                fields = sorted(set(a[key]) | set(b[key]))
                diff.changed.append((key, next(f for f in fields if a[key].get(f) != b[key].get(f))))
        if not diff.empty:
            differences.append(diff)
    return differences


def _keyed(docs: list[dict], rule: Comparison) -> dict[object, dict]:
    keyed = {}
    for doc in docs:
        doc = rule.normalize(dict(doc)) if rule.normalize else dict(doc)
        key = rule.identity(doc) if rule.identity else doc["_id"]
        if rule.identity:
            doc.pop("_id", None)
        for name in rule.ignore | {REVISION}:  # how often a document was written: batches differ
            doc.pop(name, None)
        for name in rule.unordered & doc.keys():
            doc[name] = sorted(doc[name], key=_canonical)
        keyed[key] = _canonical_value(doc)
    return keyed


def _canonical_value(value):
    """Datetimes as MongoDB keeps them (UTC milliseconds), so memory and database agree."""
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    return value


def _canonical(value) -> str:
    return json.dumps(_canonical_value(value), sort_keys=True, default=str)
