"""One unit of work per consumed batch: load what it needs, decide each event, commit once.

A service's handlers decide and do no I/O: `decide(view, event) -> Decision`, the changes as
whole new documents, and the events to publish. This module runs them over a batch:

1. the answers already given to the batch's inputs are read (one query): an input answered
   before is not decided again, its stored answer is published again (a redelivery after a
   crash, a producer's retry, a dead letter replayed);
2. the documents the inputs name are read (one query per collection, `Decider.needs`); a
   handler reaching for one nobody asked for raises `NotLoaded`, which loads it and decides
   that event again: `needs` saves round trips, it never decides what is right;
3. each event is decided over the view in the order given (each partition in its order),
   later events seeing earlier ones' changes;
4. everything is written at once (`Documents.commit`): the last version of every document
   the batch changed, guarded by the revision it was read at, and one `answers` document
   per input, which is both the input's outbox and its applied marker.

So there is one consistency scheme: an input is applied exactly when its answer is stored,
and both are one commit. A document whose revision moved under us (another instance wrote
it) fails the commit with `Conflict`, and the batch is read and decided again.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import envelope, personal
from shared.envelope import Event
from shared.trust import NOT_AUTHORIZED

log = logging.getLogger("exemplars.unit_of_work")

ANSWERS = "answers"
QUERIES = "?"  # the key of `needs` under which a handler lists the `Where` queries it asks
REVISION = "_rev"  # how many times the document was written; compared, never shown


@dataclass(frozen=True)
class Put:
    """The whole new version of a document (its `_id` inside, its revision left to the commit)."""

    collection: str
    doc: dict


@dataclass(frozen=True)
class Create:
    """A new document no other input can write: its id derives from the input deciding it,
    which is answered once. Written without being read first (a read could only say it is
    absent); the commit still refuses it if it exists."""

    collection: str
    doc: dict


@dataclass(frozen=True)
class Delete:
    collection: str
    id: Any


Change = Put | Create | Delete


@dataclass(frozen=True)
class Decision:
    changes: tuple[Change, ...] = ()
    publish: tuple[Event, ...] = ()

    @classmethod
    def of(cls, *changes: Change, publish: Iterable[Event] = ()) -> "Decision":
        return cls(tuple(changes), tuple(publish))


NOTHING = Decision()

Needs = Mapping[str, Iterable[Any]]  # collection -> ids


@dataclass(frozen=True)
class Where:
    """Every document of `collection` whose `field` holds one of `values` (for a list field: any
    of them); every document of it when `field` is None. A dotted `field` reaches into
    subdocuments and lists of them (`sheets.evaluator_id`), as MongoDB's does. The one query
    shape both stores answer, so neither has to interpret anyone's filters."""

    collection: str
    field: str | None = None
    values: tuple = ()

    def matches(self, doc: dict) -> bool:
        if self.field is None:
            return True
        found: list = [doc]
        for name in self.field.split("."):
            items = [i for node in found for i in (node if isinstance(node, list) else [node])]
            found = [item[name] for item in items if isinstance(item, dict) and name in item]
        return any(v in self.values for value in found for v in (value if isinstance(value, list) else [value]))


class NotLoaded(Exception):
    """A handler read documents (or asked queries) its `needs` did not name: `wanted`, in the
    shape of `needs`, is what the unit of work loads before deciding again."""

    def __init__(self, wanted: Mapping[str, Iterable]) -> None:
        self.wanted = {collection: set(ids) for collection, ids in wanted.items()}
        super().__init__(f"{self.wanted} was not loaded")


class HandlerFailed(Exception):
    """A handler raised (its cause): the input's own fate."""


class Conflict(Exception):
    """Another writer changed a document this batch read: read and decide the batch again."""


@dataclass(frozen=True)
class Write:
    """One document's net change in a batch: `doc` None deletes it; `expected` is the revision
    it was read at (None: it did not exist)."""

    collection: str
    id: Any
    expected: int | None
    doc: dict | None


class Documents(Protocol):
    """Where a service's documents live: MongoDB live, memory in a rebuild (shared/documents.py).
    What they return is the unit of work's to keep; what `commit` is given, the store's."""

    async def load(self, needs: Mapping[str, set]) -> dict[str, dict[Any, dict]]:
        """The documents that exist among those named, revision included."""

    async def query(self, queries: list[Where]) -> dict[Where, list[dict]]:
        """The documents each query matches, revision included."""

    async def answers(self, keys: list[str]) -> dict[str, dict]:
        """The stored answers among the inputs named, by input key."""

    async def commit(self, writes: list[Write], answers: list[dict]) -> None:
        """All or nothing; `Conflict` when a document's revision is not the expected one."""


class View:
    """What a batch sees: the documents it read, with its own changes applied in order.

    Documents are values: a handler builds a new one (`{**doc, "field": new}`) and never
    changes what it read in place, below the top level. Nothing is deep-copied on the way
    (a deep copy per read cost more than the decisions themselves).
    """

    def __init__(self) -> None:
        self._docs: dict[tuple[str, Any], dict | None] = {}
        self._ids: dict[str, dict[Any, None]] = {}  # per collection, so `where` scans only it
        # `where`'s answers, kept while their collection is unchanged (a batch asks the same
        # directory queries once per event): query -> (the collection's writes then, found).
        self._writes: dict[str, int] = {}
        self._found: dict[Where, tuple[int, list[dict]]] = {}
        self._derived: dict[tuple[Where, Callable], tuple[int, Any]] = {}
        self._read_at: dict[tuple[str, Any], int | None] = {}
        self._changed: dict[tuple[str, Any], None] = {}  # in order of first change
        self._existed: set[tuple[str, Any]] = set()  # read from the store (a revision or none)
        self._queried: set[Where] = set()

    def get(self, collection: str, doc_id: Any) -> dict | None:
        """The document (a shallow copy), or None when it does not exist."""
        key = (collection, doc_id)
        if key not in self._docs:
            if Where(collection) not in self._queried:
                raise NotLoaded({collection: [doc_id]})
            # The whole collection was read: what it did not hold does not exist.
            self._set(key, None)
            self._read_at[key] = None
        doc = self._docs[key]
        return dict(doc) if doc is not None else None

    def where(self, query: Where) -> list[dict]:
        """Copies of the documents matching `query` now (the batch's changes included), by id."""
        if query not in self._queried:
            raise NotLoaded({QUERIES: [query]})
        writes = self._writes.get(query.collection, 0)
        kept = self._found.get(query)
        if kept is None or kept[0] != writes:
            docs = (self._docs[(query.collection, doc_id)] for doc_id in self._ids.get(query.collection, ()))
            found = sorted((doc for doc in docs if doc is not None and query.matches(doc)), key=lambda d: str(d["_id"]))
            kept = self._found[query] = (writes, found)
        return [dict(doc) for doc in kept[1]]

    def derived(self, query: Where, make: Callable[[list[dict]], Any]) -> Any:
        """`make` over the documents `query` matches, computed again only once their collection
        has changed: what every event of a batch derives from a whole directory, derived once.
        `make` (a module-level function, so it is the same key each time) reads the stored
        documents themselves and must not change them; what it returns is shared, read-only."""
        writes = self._writes.get(query.collection, 0)
        kept = self._derived.get((query, make))
        if kept is None or kept[0] != writes:
            self.where(query)
            kept = self._derived[(query, make)] = (writes, make(self._found[query][1]))
        return kept[1]

    def need(self, needs: Mapping[str, Iterable]) -> None:
        """Raise `NotLoaded` for all of `needs` the view lacks at once, so a handler that reads
        many documents it could not name in `needs` costs one late load, not one per document."""
        missing: dict[str, set] = {}
        for collection, wanted in needs.items():
            if collection == QUERIES:
                lacking = {query for query in wanted if query not in self._queried}
            else:
                lacking = {i for i in wanted if i is not None and not self.knows(collection, i)}
            if lacking:
                missing[collection] = lacking
        if missing:
            raise NotLoaded(missing)

    def knows(self, collection: str, doc_id: Any) -> bool:
        return (collection, doc_id) in self._docs or Where(collection) in self._queried

    def asked(self, query: Where) -> bool:
        return query in self._queried

    def add_query(self, query: Where, found: list[dict]) -> None:
        """Whatever matched then: a document that matches only after this batch changed it is in
        the view already, so `where` over everything the view holds stays complete."""
        self.add({query.collection: {doc["_id"] for doc in found}}, {query.collection: {d["_id"]: d for d in found}})
        self._queried.add(query)

    def add(self, wanted: Mapping[str, set], found: Mapping[str, Mapping[Any, dict]]) -> None:
        for collection, ids in wanted.items():
            for doc_id in ids:
                key = (collection, doc_id)
                if key not in self._docs:
                    doc = found.get(collection, {}).get(doc_id)
                    self._set(key, doc)
                    self._read_at[key] = doc.get(REVISION) if doc else None
                    if doc is not None:
                        self._existed.add(key)

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            key = (change.collection, change.id if isinstance(change, Delete) else change.doc["_id"])
            if isinstance(change, Create):  # checked absent by the unit of work
                self._read_at.setdefault(key, None)
            else:
                self.get(*key)  # a blind write could overwrite what another instance wrote: NotLoaded
            self._set(key, None if isinstance(change, Delete) else change.doc)
            self._changed[key] = None

    def _set(self, key: tuple[str, Any], doc: dict | None) -> None:
        self._docs[key] = doc
        self._ids.setdefault(key[0], {})[key[1]] = None
        self._writes[key[0]] = self._writes.get(key[0], 0) + 1

    def writes(self) -> list[Write]:
        result = []
        for key in self._changed:
            doc, expected = self._docs[key], self._read_at[key]
            if doc is None and expected is None and key not in self._existed:
                continue  # created and deleted within the batch
            # (a stored document written without a revision, as the workspace's pages write
            # theirs, is read with none: its deletion is still a write)
            result.append(Write(key[0], key[1], expected, doc))
        return result


class Decider(Protocol):
    """A service's handlers, as one object: what each event needs and what it decides.
    `needs` may also hold `Where` queries, under the key `QUERIES`."""

    def needs(self, event: Event) -> Needs: ...

    def decide(self, view: View, event: Event) -> Decision: ...

    # Deciders of an intake topic also answer an input whose sender may not say it
    # (`event.sender.refusal`, shared/credentials.py): `refuse(event, code, message)` returns
    # the coded refusal, changing no document.


@dataclass
class Outcome:
    """What became of one input: its answer (decided now or stored before), or its error."""

    event: Event
    publish: list[Event] = field(default_factory=list)
    error: Exception | None = None
    repeated: bool = False  # answered before: published again, nothing decided


def _same(event: Event) -> Event:
    return event


@dataclass
class UnitOfWork:
    documents: Documents
    decider: Decider
    # The rebuild's one hook: what a handler produced becomes the event the log holds.
    pin: Callable[[Event], Event] = _same
    # Run on each decision's events before it is accepted; raising makes it that input's error.
    check: Callable[[list[Event]], None] | None = None
    # For /metrics and the benchmark: batches committed, inputs they held, load queries issued.
    batches: int = 0
    inputs: int = 0
    loads: int = 0

    async def run(self, events: list[Event]) -> list[Outcome]:
        """Decide and commit `events` (in the order given). Raises `Conflict` or an outage, in
        which case nothing was written and the whole batch may simply be run again."""
        stored = await self.documents.answers(list({e.dedup_key for e in events}))
        view = View()
        await self._load(view, [e for e in events if e.dedup_key not in stored])
        outcomes: list[Outcome] = []
        answered: dict[str, list[Event]] = {}
        new_answers: list[dict] = []
        for event in events:
            key = event.dedup_key
            if key in stored:
                outcomes.append(Outcome(event, [envelope.from_document(d) for d in stored[key]["output"]], repeated=True))
                continue
            if key in answered:  # the same input twice in one batch
                outcomes.append(Outcome(event, answered[key], repeated=True))
                continue
            try:
                decision = await self._decide(view, event)
                publish = [self.pin(e) for e in decision.publish]
                if self.check is not None:
                    try:
                        self.check(publish)
                    except Exception as exc:
                        raise HandlerFailed() from exc
            except HandlerFailed as failed:  # a handler's bug is its input's fate, not the batch's
                outcomes.append(Outcome(event, error=failed.__cause__))
                continue
            view.apply(decision.changes)
            answered[key] = publish
            new_answers.append(answer_document(event, publish))
            outcomes.append(Outcome(event, publish))
        await self.documents.commit(view.writes(), new_answers)
        self.batches += 1
        self.inputs += len(events)
        return outcomes

    async def _decide(self, view: View, event: Event) -> Decision:
        """The handler's decision; loads what it reached for beyond `needs` (outages propagate)."""
        if event.refusal is not None:
            try:
                return self.decider.refuse(event, NOT_AUTHORIZED, event.refusal)  # type: ignore[attr-defined]
            except Exception as exc:
                raise HandlerFailed() from exc
        for _ in range(_MAX_LATE_LOADS):
            try:
                decision = self.decider.decide(view, event)
                for change in decision.changes:  # every document written must have been read
                    if isinstance(change, Create):
                        if view.knows(change.collection, change.doc["_id"]) and view.get(
                                change.collection, change.doc["_id"]) is not None:
                            raise ValueError(f"{change.collection}/{change.doc['_id']} exists: it cannot be created")
                        continue
                    key = change.doc["_id"] if isinstance(change, Put) else change.id
                    if not view.knows(change.collection, key):
                        raise NotLoaded({change.collection: [key]})
            except NotLoaded as missing:
                await self._fetch(view, missing.wanted)
                continue
            except Exception as exc:
                raise HandlerFailed() from exc
            return decision
        raise HandlerFailed() from RuntimeError(f"still missing documents after {_MAX_LATE_LOADS} loads")

    async def _load(self, view: View, events: list[Event]) -> None:
        wanted: dict[str, set] = {}
        for event in events:
            if event.refusal is not None:
                continue  # refused unread
            try:
                needs = self.decider.needs(event)
            except Exception:  # noqa: BLE001 - its decision reads what it needs late, or fails as its own
                log.warning("needs() failed on %s %s; reading late", event.type, event.id, exc_info=True)
                continue
            for collection, ids in needs.items():
                wanted.setdefault(collection, set()).update(i for i in ids if i is not None)
        if wanted := {c: ids for c, ids in wanted.items() if ids}:
            await self._fetch(view, wanted)

    async def _fetch(self, view: View, wanted: dict[str, set]) -> None:
        queries = [q for q in wanted.pop(QUERIES, ()) if not view.asked(q)]
        if queries:
            # Queries on the same field are asked as one (each event of a batch names its own
            # values), and each is then answered from what that one found.
            merged: dict[tuple[str, str | None], Where] = {}
            for q in queries:
                seen = merged.get((q.collection, q.field))
                values = () if q.field is None else tuple(sorted({*(seen.values if seen else ()), *q.values}, key=str))
                merged[(q.collection, q.field)] = Where(q.collection, q.field, values)
            self.loads += len(merged)
            found = await self.documents.query(list(merged.values()))
            for q in queries:
                view.add_query(q, [d for d in found[merged[(q.collection, q.field)]] if q.matches(d)])
        # Documents a query brought are known already: only the rest is read by id.
        wanted = {c: {i for i in ids if not view.knows(c, i)} for c, ids in wanted.items()}
        if wanted := {c: ids for c, ids in wanted.items() if ids}:
            self.loads += len(wanted)
            view.add(wanted, await self.documents.load(wanted))


_MAX_LATE_LOADS = 8


def answer_document(event: Event, publish: list[Event]) -> dict[str, Any]:
    """An input's answer, under its key, for good, with who sent the input: the producer
    and key that signed it, the sender's `time` and the broker's receive time; and whose
    personal fields it holds (`persons`), which an erasure finds the answers to clear by."""
    output = [envelope.to_document(e) for e in publish]
    doc = {"_id": event.dedup_key, "output": output, "at": event.time, "received_at": event.received_at,
           "persons": sorted(set().union(*(personal.owners_of(d["type"], d["data"]) for d in output)))}
    if event.sender is not None:
        doc["sender"] = event.sender.as_document()
    return doc
