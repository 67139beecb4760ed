"""The evaluations projection in MongoDB.

Evaluations and exemplars are aggregates: one document each, carrying a revision number
and an outbox of the input events it answered with the events it produced. A change is
one `update_one` guarded by both the revision (another instance, or another topic's
consumer, may have changed the document since it was read) and the outbox (the input
may have been applied already); the handler rereads and decides again when the guard
fails. A redelivered input therefore finds its answer in the outbox and republishes it
unchanged. Refusals of inputs go to `answers`, keyed by the input, for the same reason.
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.evaluations.domain import SCORING, Candidate, ExemplarStatus, Status
from services.evaluations.exemplar_rules import Exemplar, UnitPeriod
from shared import envelope
from shared.envelope import Event
from shared.events import StaffRegistered, StaffRemoved, UnitRegistered
from shared.mongo import apply_once, ensure_indexes
from shared.vocabulary import Field, Role

INDEXES = {
    "evaluations": [IndexModel([("status", ASCENDING), ("deadline", ASCENDING)]),
                    IndexModel([("panel", ASCENDING)]), IndexModel([("outbox.input", ASCENDING)]),
                    IndexModel([("year", ASCENDING), ("unit_id", ASCENDING)])],
    "exemplars": [IndexModel([("year", ASCENDING), ("field", ASCENDING), ("level", ASCENDING)]),
                  IndexModel([("status", ASCENDING)])],
    "staff": [IndexModel([("roles", ASCENDING)])],
    "notices": [IndexModel([("published", ASCENDING)]), IndexModel([("nomination_id", ASCENDING)])],
}
SCORING_VALUES = [s.value for s in SCORING]


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

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- aggregates ------------------------------------------------------------------------

    async def create(self, collection: AsyncCollection, doc: dict[str, Any], event: Event, output: list[Event]) -> bool:
        """Insert a new aggregate answering `event`; False when the id exists already."""
        doc = {**doc, "rev": 1, "created_at": event.time, "updated_at": event.time,
               "outbox": [_entry(event, output)]}
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def commit(self, collection: AsyncCollection, doc: dict[str, Any], changes: dict[str, Any],
                     event: Event, output: list[Event]) -> bool:
        """Apply `changes` and remember the answer, unless the document moved on since it was read."""
        result = await collection.update_one(
            {"_id": doc["_id"], "rev": doc["rev"], "outbox.input": {"$ne": event.dedup_key}},
            {"$set": {**changes, "rev": doc["rev"] + 1, "updated_at": event.time},
             "$push": {"outbox": _entry(event, output)}})
        return result.matched_count == 1

    async def answered_by(self, collection: AsyncCollection, event: Event) -> list[Event]:
        """Everything aggregates of `collection` produced for `event` (inputs touching several)."""
        output = []
        async for doc in collection.find({"outbox.input": event.dedup_key}, {"outbox": 1}):
            output.extend(stored_answer(doc, event) or [])
        return output

    async def refusal(self, event: Event) -> list[Event] | None:
        doc = await self.answers.find_one({"_id": event.dedup_key})
        return [envelope.from_document(out) for out in doc["output"]] if doc else None

    async def record_refusal(self, event: Event, output: list[Event]) -> None:
        try:
            await self.answers.insert_one({"_id": event.dedup_key, "output": [envelope.to_document(e) for e in output],
                                           "at": event.time})
        except DuplicateKeyError:
            pass  # refused before: the same answer is stored

    # ---- evaluations -----------------------------------------------------------------------

    async def evaluation(self, nomination_id: str) -> dict[str, Any] | None:
        return await self.evaluations.find_one({"_id": nomination_id})

    async def evaluations_in(self, statuses: list[Status], **query: Any) -> list[dict[str, Any]]:
        cursor = self.evaluations.find({"status": {"$in": [s.value for s in statuses]}, **query}, {"outbox": 0})
        return await cursor.sort("_id", ASCENDING).to_list()

    async def open_assignments(self) -> dict[str, int]:
        """Evaluations each evaluator still has to score (the load to balance)."""
        cursor = await self.evaluations.aggregate([
            {"$match": {"status": {"$in": SCORING_VALUES}}},
            {"$unwind": "$panel"},
            {"$group": {"_id": "$panel", "n": {"$sum": 1}}},
        ])
        return {doc["_id"]: doc["n"] async for doc in cursor}

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
        await self.exemplars.update_one({"_id": doc["_id"]}, {"$setOnInsert": {
            **doc, "rev": 1, "reviews": [], "adopters": [], "replications": [], "visits": [], "outbox": [],
            "created_at": event.time, "updated_at": event.time}}, upsert=True)

    async def find_exemplars(self, *, year: int | None, field: str | None, level: str | None, status: str | None,
                             limit: int, offset: int) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("year", year), ("field", field), ("level", level), ("status", status)) if v}
        cursor = self.exemplars.find(query, {"outbox": 0, "reviews": 0, "replications": 0, "visits": 0})
        return await cursor.sort([("year", DESCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit).to_list()

    # ---- directory -------------------------------------------------------------------------

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        await apply_once(self.units, unit.unit_id, event.dedup_key, {"$set": {
            "name": unit.name, "parent_id": unit.parent_id, "valid_from": day(unit.valid_from),
            "valid_to": day(unit.valid_to)}})

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        await apply_once(self.staff, staff.staff_id, event.dedup_key, {"$set": {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "fields": [f.value for f in staff.fields], "removed": False}})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        await apply_once(self.staff, removed.staff_id, event.dedup_key,
                         {"$set": {"unit_id": removed.unit_id, "removed": True}})

    async def unit_periods(self) -> dict[str, UnitPeriod]:
        return {doc["_id"]: UnitPeriod(doc["_id"], date(doc["valid_from"]), date(doc.get("valid_to")))
                async for doc in self.units.find({"valid_from": {"$exists": True}})}

    async def unit_parents(self) -> dict[str, str | None]:
        return {doc["_id"]: doc.get("parent_id") async for doc in self.units.find({}, {"parent_id": 1})}

    async def staff_member(self, staff_id: str) -> dict[str, Any] | None:
        return await self.staff.find_one({"_id": staff_id, "unit_id": {"$exists": True}})

    async def candidates(self) -> list[Candidate]:
        """Every current evaluator with their load."""
        load = await self.open_assignments()
        return [Candidate(doc["_id"], doc["unit_id"], frozenset(Role(r) for r in doc.get("roles", [])),
                          frozenset(Field(f) for f in doc.get("fields", [])), load.get(doc["_id"], 0))
                async for doc in self.staff.find({"roles": Role.EVALUATOR.value, "removed": {"$ne": True}})]


def stored_answer(doc: dict | None, event: Event) -> list[Event] | None:
    """The events already produced for `event`, if this document answered it before."""
    for entry in (doc or {}).get("outbox", []):
        if entry["input"] == event.dedup_key:
            return [envelope.from_document(out) for out in entry["output"]]
    return None


def as_exemplar(doc: dict[str, Any] | None) -> Exemplar | None:
    return Exemplar(doc["_id"], doc["unit_id"], doc["year"], ExemplarStatus(doc["status"])) if doc else None


def _entry(event: Event, output: list[Event]) -> dict[str, Any]:
    return {"input": event.dedup_key, "output": [envelope.to_document(e) for e in output]}
