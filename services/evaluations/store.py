"""The evaluations projection in MongoDB.

Evaluations and exemplars are aggregates: one document each, carrying a revision number
and an outbox of the last inputs it answered with the events it produced (`OUTBOX_KEEP`).
A change is one `update_one` guarded by both the revision (another instance, or another
topic's consumer, may have changed the document since it was read) and the outbox (the
input may have been applied already); the handler rereads and decides again when the guard
fails. A redelivered input therefore finds its answer in the outbox and republishes it
unchanged.

Nothing grows with history inside a document (MongoDB refuses any update of a 16 MB one):
after the change, every answer goes to `answers` for good, keyed by the input and the
aggregate it answered, so a duplicate that comes after the outbox moved on (a dead letter
replayed, a producer's retry days later) still gets it; a refusal, which changes nothing,
goes only there. The follow-up history of an exemplar (reviews, replications, visits) lives
in collections of its own, one document per report, written after the change from the
outbox entry that carries them, with the exemplar keeping counters and the latest review.
Each evaluator's open load is kept the same way, in `loads` (`count_load` says how).
"""

import asyncio
import datetime as dt
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.evaluations.domain import SCORING, Candidate, ExemplarStatus, Status
from services.evaluations.exemplar_rules import Exemplar, UnitPeriod
from shared import envelope
from shared.envelope import Event
from shared.events import StaffRegistered, StaffRemoved, UnitRegistered
from shared.mongo import apply_once, applied_before, ensure_indexes, insert_once, keep_applied, outbox_push
from shared.vocabulary import Field, Role

INDEXES = {
    "evaluations": [IndexModel([("status", ASCENDING), ("deadline", ASCENDING)]),
                    IndexModel([("panel", ASCENDING)]), IndexModel([("outbox.input", ASCENDING)]),
                    IndexModel([("year", ASCENDING), ("unit_id", ASCENDING)])],
    "exemplars": [IndexModel([("year", ASCENDING), ("field", ASCENDING), ("level", ASCENDING)]),
                  IndexModel([("status", ASCENDING)])],
    "staff": [IndexModel([("roles", ASCENDING)])],
    "notices": [IndexModel([("published", ASCENDING)]), IndexModel([("nomination_id", ASCENDING)])],
    "answers": [IndexModel([("input", ASCENDING)])],
    "reviews": [IndexModel([("exemplar_id", ASCENDING), ("period", ASCENDING)])],
    "replications": [IndexModel([("exemplar_id", ASCENDING), ("n", ASCENDING)])],
    "visits": [IndexModel([("exemplar_id", ASCENDING), ("n", ASCENDING)])],
}
# An exemplar's history, one document per report: the collection and the order it is read in.
HISTORY = {"reviews": "period", "replications": "n", "visits": "n"}
Record = dict[str, Any]  # {"collection": one of HISTORY, "doc": a history document with its `_id`}
SCORING_VALUES = [s.value for s in SCORING]
# The aggregates whose changes move evaluators' open load (`load_changes`).
COUNTED = "evaluations"
DUPLICATE_KEY = 11000


def day(value: dt.date | None) -> dt.datetime | None:
    """BSON has no date type: days are stored as UTC midnights."""
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC) if value else None


def date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


class Conflict(Exception):
    """The document kept changing under us; the consumer retries the event."""


class EvaluationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.evaluations = db["evaluations"]
        self.exemplars = db["exemplars"]
        self.units = db["units"]
        self.staff = db["staff"]
        self.answers = db["answers"]
        self.notices = db["notices"]
        self.reviews = db["reviews"]
        self.replications = db["replications"]
        self.visits = db["visits"]
        self.applied_events = db["applied_events"]
        self.loads = db["loads"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- aggregates ------------------------------------------------------------------------

    async def create(self, collection: AsyncCollection, doc: dict[str, Any], event: Event, output: list[Event]) -> bool:
        """Insert a new aggregate answering `event`; False when the id exists already."""
        entry = outbox_entry(event, output, loads=load_changes(collection.name, None, doc))
        doc = {**doc, "rev": 1, "created_at": event.time, "updated_at": event.time, "outbox": [entry]}
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        await self.settle(collection.name, doc["_id"], event, entry)
        return True

    async def commit(self, collection: AsyncCollection, doc: dict[str, Any], changes: dict[str, Any],
                     event: Event, output: list[Event], records: list[Record] = ()) -> bool:
        """Apply `changes` and remember the answer, unless the document moved on since it was read."""
        entry = outbox_entry(event, output, records, rev=doc["rev"] + 1,
                             loads=load_changes(collection.name, doc, {**doc, **changes}))
        result = await collection.update_one(
            {"_id": doc["_id"], "rev": doc["rev"], "outbox.input": {"$ne": event.dedup_key}},
            {"$set": {**changes, "rev": doc["rev"] + 1, "updated_at": event.time}, "$push": outbox_push(entry)})
        if result.matched_count != 1:
            return False
        await self.settle(collection.name, doc["_id"], event, entry)
        return True

    async def settle(self, collection: str, doc_id: str, event: Event, entry: dict[str, Any]) -> None:
        """What follows a change, from its outbox entry: the history documents it adds, the
        evaluators' loads it moves, then the answer kept for good. Again on every redelivery that
        finds the entry: a crash may have come in between, and every one of these writes is
        idempotent."""
        for record in entry.get("records", []):
            await self.write_record(record)
        if "loads" in entry:
            await self.count_load(doc_id, entry["loads"])
        await insert_once(self.answers, answer_document(collection, doc_id, event, entry["output"]))

    async def write_record(self, record: dict[str, Any]) -> None:
        doc = record["doc"]
        if not record.get("replaces"):
            await insert_once(self.db[record["collection"]], doc)  # one per input: written once
            return
        try:
            # Guarded by the aggregate's revision: a late copy never overwrites a newer report
            # (a review corrected by a second one for the same period).
            await self.db[record["collection"]].replace_one({"_id": doc["_id"], "rev": {"$lt": doc["rev"]}}, doc,
                                                            upsert=True)
        except DuplicateKeyError:
            pass  # this revision or a later one is there

    async def answer_to(self, collection: AsyncCollection, doc_id: str, doc: dict[str, Any] | None,
                        event: Event) -> list[Event] | None:
        """The answer given to `event` for this aggregate before: its recent outbox, else `answers`."""
        if (entry := outbox_entry_of(doc, event)) is not None:
            await self.settle(collection.name, doc_id, event, entry)
            return events_of(entry["output"])
        kept = await self.answers.find_one({"_id": answer_id(collection.name, doc_id, event)})
        return events_of(kept["output"]) if kept else None

    async def load(self, collection: AsyncCollection, doc_id: str,
                   event: Event) -> tuple[dict[str, Any] | None, list[Event] | None]:
        """The aggregate and the answer given to `event` before, if any (`answer_to`), read together:
        the answer is looked up for every input, and one round trip is saved."""
        doc, kept = await asyncio.gather(collection.find_one({"_id": doc_id}),
                                         self.answers.find_one({"_id": answer_id(collection.name, doc_id, event)}))
        if (entry := outbox_entry_of(doc, event)) is not None:
            await self.settle(collection.name, doc_id, event, entry)
            return doc, events_of(entry["output"])
        return doc, events_of(kept["output"]) if kept else None

    async def answers_to(self, collection: AsyncCollection, event: Event) -> dict[str, list[Event]]:
        """Per aggregate of `collection`, what it answered `event` with (inputs touching several)."""
        answered: dict[str, list[Event]] = {}
        async for doc in collection.find({"outbox.input": event.dedup_key}, {"outbox": 1}):
            answered[doc["_id"]] = await self.answer_to(collection, doc["_id"], doc, event)
        async for kept in self.answers.find({"input": event.dedup_key, "collection": collection.name}):
            answered.setdefault(kept["doc_id"], events_of(kept["output"]))
        return answered

    async def keep_refusal(self, collection: AsyncCollection, doc_id: str, event: Event, output: list[Event]) -> None:
        await insert_once(self.answers, answer_document(collection.name, doc_id, event,
                                                        [envelope.to_document(e) for e in output]))

    # ---- evaluations -----------------------------------------------------------------------

    async def evaluation(self, nomination_id: str) -> dict[str, Any] | None:
        return await self.evaluations.find_one({"_id": nomination_id})

    async def evaluations_in(self, statuses: list[Status], **query: Any) -> list[dict[str, Any]]:
        cursor = self.evaluations.find({"status": {"$in": [s.value for s in statuses]}, **query}, {"outbox": 0})
        return await cursor.sort("_id", ASCENDING).to_list()

    async def open_assignments(self) -> dict[str, int]:
        """Evaluations each evaluator still has to score (the load to balance): one small
        document per evaluator, not a scan of the open evaluations."""
        return {doc["_id"]: doc["n"] async for doc in self.loads.find({"n": {"$gt": 0}}, {"n": 1})}

    async def count_load(self, nomination_id: str, changes: dict[str, list[str]]) -> None:
        """Move the evaluators' loads as a change of `nomination_id` did (`load_changes`).

        Each load document holds the set of evaluations its evaluator has open, with its size
        `n` beside it in the same write: adding an id already there, or removing one that is
        not, matches nothing, so a change counts once however often its entry is settled, and a
        crash before the counters leaves them to the redelivery. A plain `$inc` could not tell
        a second copy from the first; the set stays as small as the load.

        A seat, once closed (member gone, evaluation completed or cancelled), never opens again
        (recused members are never chosen again; no status returns to scoring). A join settled
        late, after the evaluation moved on (a redelivered acceptance after the member left),
        would count a closed seat: so the evaluation is read after the joins, and the seats it no
        longer has open are taken back. The evaluation's write precedes its own leave's `$pull`,
        so whichever order two instances run in, the seat ends removed."""
        nid = nomination_id
        if joined := changes.get("join"):
            await self._bulk([UpdateOne({"_id": e, "open": {"$ne": nid}}, {"$push": {"open": nid}, "$inc": {"n": 1}},
                                        upsert=True) for e in joined])
            now = await self.evaluations.find_one({"_id": nid}, {"panel": 1, "status": 1})
            closed = set(joined) - open_seats(now)
            changes = {**changes, "leave": sorted({*changes.get("leave", []), *closed})}
        if left := changes.get("leave"):
            await self._bulk([UpdateOne({"_id": e, "open": nid}, {"$pull": {"open": nid}, "$inc": {"n": -1}})
                              for e in left])

    async def _bulk(self, updates: list[UpdateOne]) -> None:
        for _ in range(2):
            try:
                await self.loads.bulk_write(updates, ordered=False)
                return
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                # An upsert that matched nothing inserts a twin: either the id is in the set already
                # (done), or another instance created the document meanwhile (not done). Once the
                # document exists, a second try tells the two apart.
                updates = [updates[e["index"]] for e in errors]

    async def find_evaluations(self, *, year: int | None, unit_id: str | None, status: str | None,
                               limit: int, offset: int) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("year", year), ("unit_id", unit_id), ("status", status)) if v is not None}
        cursor = self.evaluations.find(query, {"outbox": 0, "sheets": 0, "criteria": 0})
        return await cursor.sort("_id", ASCENDING).skip(offset).limit(limit).to_list()

    # ---- reminders -------------------------------------------------------------------------

    async def due_for_reminders(self, today: dt.date, horizon_days: int) -> list[dict[str, Any]]:
        horizon = day(today + dt.timedelta(days=horizon_days))
        cursor = self.evaluations.find({"status": {"$in": SCORING_VALUES}, "opened": True,
                                        "deadline": {"$lte": horizon}}, {"outbox": 0, "criteria": 0})
        return await cursor.to_list()

    async def sent_notices(self, nomination_id: str) -> dict[str, set[str]]:
        sent: dict[str, set[str]] = {}
        async for doc in self.notices.find({"nomination_id": nomination_id}, {"evaluator_id": 1, "key": 1}):
            sent.setdefault(doc["evaluator_id"], set()).add(doc["key"])
        return sent

    async def add_notice(self, nomination_id: str, evaluator_id: str, key: str, event: Event) -> None:
        try:
            await self.notices.insert_one({"_id": f"{nomination_id}|{evaluator_id}|{key}", "nomination_id": nomination_id,
                                           "evaluator_id": evaluator_id, "key": key,
                                           "event": envelope.to_document(event), "published": False})
        except DuplicateKeyError:
            pass  # another instance decided it first; its copy is published

    async def unpublished_notices(self) -> list[Event]:
        return [envelope.from_document(doc["event"]) async for doc in self.notices.find({"published": False})]

    async def mark_notices_published(self, events: list[Event]) -> None:
        await self.notices.update_many({"event.id": {"$in": [e.id for e in events]}}, {"$set": {"published": True}})

    # ---- exemplars -------------------------------------------------------------------------

    async def exemplar(self, exemplar_id: str) -> dict[str, Any] | None:
        return await self.exemplars.find_one({"_id": exemplar_id})

    async def open_exemplar(self, doc: dict[str, Any], event: Event) -> None:
        """Create the exemplar or fostering record of a council decision, once."""
        await self.exemplars.update_one({"_id": doc["_id"]}, {"$setOnInsert": new_exemplar(doc, event)}, upsert=True)

    async def review(self, exemplar_id: str, period: str) -> dict[str, Any] | None:
        """The review recorded for `period`, if any (a second report for a period corrects the first)."""
        return await self.reviews.find_one({"_id": review_id(exemplar_id, period)})

    async def history(self, exemplar_id: str, kind: str, *, limit: int, offset: int = 0,
                      latest: bool = False) -> list[dict[str, Any]]:
        """Reports of one kind in their order (`HISTORY`); with `latest`, the last `limit` of them."""
        order = HISTORY[kind]
        cursor = self.db[kind].find({"exemplar_id": exemplar_id}, {"_id": 0, "exemplar_id": 0, "rev": 0})
        docs = await cursor.sort(order, DESCENDING if latest else ASCENDING).skip(offset).limit(limit).to_list()
        return docs[::-1] if latest else docs

    async def find_exemplars(self, *, year: int | None, field: str | None, level: str | None, status: str | None,
                             limit: int, offset: int) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("year", year), ("field", field), ("level", level), ("status", status)) if v}
        cursor = self.exemplars.find(query, {"outbox": 0})
        return await cursor.sort([("year", DESCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit).to_list()

    # ---- directory -------------------------------------------------------------------------

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        await self._apply(self.units, unit.unit_id, event, {"$set": {
            "name": unit.name, "parent_id": unit.parent_id, "valid_from": day(unit.valid_from),
            "valid_to": day(unit.valid_to)}})

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        await self._apply(self.staff, staff.staff_id, event, {"$set": {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "fields": [f.value for f in staff.fields], "removed": False}})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        await self._apply(self.staff, removed.staff_id, event, {"$set": {"unit_id": removed.unit_id, "removed": True}})

    async def _apply(self, collection: AsyncCollection, doc_id: str, event: Event, update: dict) -> None:
        """A directory event, once however late its copy comes (`shared.mongo`'s markers)."""
        if not await applied_before(self.applied_events, collection, doc_id, event.dedup_key):
            await apply_once(collection, doc_id, event.dedup_key, update)
            await keep_applied(self.applied_events, collection, doc_id, event.dedup_key)

    async def unit_periods(self) -> dict[str, UnitPeriod]:
        return {doc["_id"]: UnitPeriod(doc["_id"], date(doc["valid_from"]), date(doc.get("valid_to")))
                async for doc in self.units.find({"valid_from": {"$exists": True}})}

    async def unit_parents(self) -> dict[str, str | None]:
        return {doc["_id"]: doc.get("parent_id") async for doc in self.units.find({}, {"parent_id": 1})}

    async def staff_member(self, staff_id: str) -> dict[str, Any] | None:
        return await self.staff.find_one({"_id": staff_id, "unit_id": {"$exists": True}})

    async def candidates(self) -> list[Candidate]:
        """Every current evaluator with their load."""
        staff = self.staff.find({"roles": Role.EVALUATOR.value, "removed": {"$ne": True}}, {"applied": 0}).to_list()
        evaluators, load = await asyncio.gather(staff, self.open_assignments())
        return [Candidate(doc["_id"], doc["unit_id"], frozenset(Role(r) for r in doc.get("roles", [])),
                          frozenset(Field(f) for f in doc.get("fields", [])), load.get(doc["_id"], 0))
                for doc in evaluators]


def new_exemplar(doc: dict[str, Any], event: Event) -> dict[str, Any]:
    """An exemplar or fostering record as the council's decision opens it: counters, not lists."""
    return {**doc, "rev": 1, "adopters": [], "reviews_count": 0, "review_visits": 0, "replications_count": 0,
            "visits_count": 0, "study_visits": 0, "outbox": [], "created_at": event.time, "updated_at": event.time}


def review_id(exemplar_id: str, period: str) -> str:
    return f"{exemplar_id}|{period}"


def record(collection: str, doc: dict[str, Any], *, replaces: bool = False) -> Record:
    """A history document a change adds; `replaces`: it may replace an earlier one of the same
    id (a review corrected for its period), else its id is the input's and it is written once."""
    return {"collection": collection, "doc": doc, "replaces": replaces}


def outbox_entry(event: Event, output: list[Event], records: list[Record] = (), *, rev: int = 1,
                 loads: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What an aggregate remembers of an input: the answer, the history documents the
    change adds (stamped with the revision it makes, their write's guard), and the
    evaluators whose load it moves."""
    entry: dict[str, Any] = {"input": event.dedup_key, "output": [envelope.to_document(e) for e in output]}
    if records:
        entry["records"] = [{**r, "doc": {**r["doc"], "rev": rev}} for r in records]
    if loads:
        entry["loads"] = loads
    return entry


def open_seats(doc: dict[str, Any] | None) -> set[str]:
    """The evaluators for whom this evaluation counts in their load."""
    return set(doc["panel"]) if doc and doc["status"] in SCORING_VALUES else set()


def load_changes(collection: str, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, list[str]]:
    """Whose load a change of an evaluation moves, from its states before and after: derived
    here, under every write, rather than by each handler, so no path that changes a panel or
    a status can forget it."""
    if collection != COUNTED:
        return {}
    was, now = open_seats(before), open_seats(after)
    return {k: sorted(v) for k, v in (("join", now - was), ("leave", was - now)) if v}


def outbox_entry_of(doc: dict | None, event: Event) -> dict[str, Any] | None:
    return next((e for e in (doc or {}).get("outbox", []) if e["input"] == event.dedup_key), None)


def stored_answer(doc: dict | None, event: Event) -> list[Event] | None:
    """The events already produced for `event`, if this document's recent outbox holds them."""
    entry = outbox_entry_of(doc, event)
    return events_of(entry["output"]) if entry is not None else None


def events_of(documents: list[dict[str, Any]]) -> list[Event]:
    return [envelope.from_document(out) for out in documents]


def answer_id(collection: str, doc_id: str, event: Event) -> str:
    return f"{collection}/{doc_id}|{event.dedup_key}"


def answer_document(collection: str, doc_id: str, event: Event, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {"_id": answer_id(collection, doc_id, event), "input": event.dedup_key, "collection": collection,
            "doc_id": doc_id, "output": output, "at": event.time, "received_at": event.received_at}


def as_exemplar(doc: dict[str, Any] | None) -> Exemplar | None:
    return Exemplar(doc["_id"], doc["unit_id"], doc["year"], ExemplarStatus(doc["status"])) if doc else None
