"""The nominations projection in MongoDB.

Every write is idempotent on its own: directory changes through `apply_once`, places and
nominee claims through unique ids owned by a nomination, and each nomination document
records the last input events it answered together with the events it produced (its
outbox, `OUTBOX_KEEP` entries), so a redelivered event republishes the same answer instead
of deciding again. Every answer is also kept in `answers` under its input's key, for a
duplicate that comes later than that (a dead letter replayed, a producer's retry days
later); a refusal that changes nothing is kept only there. No document grows with the
number of inputs: a unit's `history` gets a version only when the unit changed.
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.nominations.domain import HOLDS_QUOTA, Nomination, Staff, Status, Unit
from shared import envelope
from shared.envelope import Event
from shared.events import StaffRegistered, StaffRemoved, UnitRegistered
from shared.mongo import apply_once, applied_before, ensure_indexes, insert_once, keep_applied, outbox_push

INDEXES = {
    "nominations": [IndexModel([("unit_id", ASCENDING), ("year", ASCENDING), ("status", ASCENDING)]),
                    IndexModel([("status", ASCENDING), ("year", ASCENDING)])],
    "places": [IndexModel([("unit_id", ASCENDING), ("year", ASCENDING)]), IndexModel([("nomination_id", ASCENDING)])],
    "nominee_claims": [IndexModel([("nomination_id", ASCENDING)])],
    "staff": [IndexModel([("unit_id", ASCENDING)])],
    "shortfalls": [IndexModel([("published", ASCENDING)])],
}


def _day(value: dt.date | None) -> dt.datetime | None:
    """BSON has no date type: days are stored as UTC midnights."""
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC) if value else None


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


class NominationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.nominations = db["nominations"]
        self.places = db["places"]
        self.claims = db["nominee_claims"]
        self.units = db["units"]
        self.staff = db["staff"]
        self.shortfalls = db["shortfalls"]
        self.answers = db["answers"]
        self.applied_events = db["applied_events"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- directory -------------------------------------------------------------------------

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        if await applied_before(self.applied_events, self.units, unit.unit_id, event.dedup_key):
            return
        content = unit_version(unit)
        version = {**content, "event_time": event.time, "received_at": event.received_at}
        # The current version on top, every different version kept: renamed and merged units stay
        # readable, and an HR system re-sending the same unit (a nightly full export) adds nothing.
        differs = {"$or": [{name: {"$ne": value}} for name, value in content.items()]}
        if not await apply_once(self.units, unit.unit_id, event.dedup_key,
                                {"$set": version, "$push": {"history": version}}, where=differs):
            await apply_once(self.units, unit.unit_id, event.dedup_key, {"$set": version}, upsert=False)
        await keep_applied(self.applied_events, self.units, unit.unit_id, event.dedup_key)

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        await self._apply(self.staff, staff.staff_id, event, {"$set": {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "removed": False}})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        await self._apply(self.staff, removed.staff_id, event, {"$set": {"unit_id": removed.unit_id, "removed": True}})

    async def _apply(self, collection, doc_id: str, event: Event, update: dict) -> None:
        """A directory event, once however late its copy comes (`shared.mongo`'s markers)."""
        if not await applied_before(self.applied_events, collection, doc_id, event.dedup_key):
            await apply_once(collection, doc_id, event.dedup_key, update)
            await keep_applied(self.applied_events, collection, doc_id, event.dedup_key)

    async def unit(self, unit_id: str) -> Unit | None:
        doc = await self.units.find_one({"_id": unit_id, "name": {"$exists": True}})
        return _unit(doc) if doc else None

    async def all_units(self) -> list[Unit]:
        return [_unit(doc) async for doc in self.units.find({"name": {"$exists": True}})]

    async def staff_member(self, staff_id: str | None) -> Staff | None:
        if not staff_id:
            return None
        doc = await self.staff.find_one({"_id": staff_id, "unit_id": {"$exists": True}})
        return Staff(doc["_id"], doc["unit_id"], doc.get("removed", False)) if doc else None

    # ---- nominations -----------------------------------------------------------------------

    async def nomination(self, nomination_id: str) -> dict[str, Any] | None:
        return await self.nominations.find_one({"_id": nomination_id})

    async def held_places(self, unit_id: str, year: int, excluding: str) -> int:
        return await self.places.count_documents({"unit_id": unit_id, "year": year, "nomination_id": {"$ne": excluding}})

    async def nominee_holder(self, year: int, key: str, excluding: str) -> str | None:
        doc = await self.claims.find_one({"_id": f"{year}:{key}"})
        return doc["nomination_id"] if doc and doc["nomination_id"] != excluding else None

    async def claim_nominee(self, year: int, key: str, nomination_id: str) -> str | None:
        """Claim the nominee for the year; returns the other nomination holding it, if any."""
        try:
            await self.claims.insert_one({"_id": f"{year}:{key}", "nomination_id": nomination_id})
            return None
        except DuplicateKeyError:
            return await self.nominee_holder(year, key, excluding=nomination_id)

    async def take_place(self, unit_id: str, year: int, nomination_id: str, maximum: int) -> bool:
        """Take one of the unit's numbered places for the year; atomic against any other instance."""
        if await self.places.find_one({"nomination_id": nomination_id, "unit_id": unit_id, "year": year}):
            return True
        for slot in range(1, maximum + 1):
            try:
                await self.places.insert_one({"_id": f"{unit_id}:{year}:{slot}", "unit_id": unit_id, "year": year,
                                              "nomination_id": nomination_id})
                return True
            except DuplicateKeyError:
                continue
        return False

    async def release(self, nomination_id: str) -> None:
        """Free the nomination's place and nominee claim (withdrawal, or a lost race)."""
        await self.places.delete_many({"nomination_id": nomination_id})
        await self.claims.delete_many({"nomination_id": nomination_id})

    async def record_submission(self, event: Event, status: Status, nominee_key: str, reasons: list, answer: Event) -> None:
        sub = event.data
        entry = outbox_entry(event, [answer])
        await self.nominations.replace_one({"_id": sub.nomination_id}, {
            "unit_id": sub.unit_id, "year": sub.year, "field": sub.field, "status": status.value,
            "nominee_key": nominee_key, "submission": sub.model_dump(mode="json"),
            "reasons": [r.model_dump() for r in reasons], "submitted_at": event.time,
            "received_at": event.received_at, "updated_at": event.time, "outbox": [entry],
        }, upsert=True)
        await self.keep_answer(event, [answer])

    async def record_answer(self, nomination_id: str, event: Event, answer: list[Event], changes: dict | None = None) -> None:
        """Remember that `event` was answered with `answer`, with any status change, in one write."""
        await self.nominations.update_one(
            {"_id": nomination_id, "outbox.input": {"$ne": event.dedup_key}},
            {"$set": {**(changes or {}), "updated_at": event.time}, "$push": outbox_push(outbox_entry(event, answer))})
        await self.keep_answer(event, answer)

    async def keep_answer(self, event: Event, answer: list[Event]) -> None:
        """Every answer for good, under its input's key; alone, for a refusal that changes nothing.
        Written after the aggregate's own write: a crash in between leaves it in the outbox,
        where the redelivered input finds it and writes it here again."""
        await insert_once(self.answers, answer_document(event, answer))

    async def answer_to(self, doc: dict | None, event: Event) -> list[Event] | None:
        """The answer given to `event` before: in the nomination's recent outbox, else in `answers`."""
        if (answer := stored_answer(doc, event)) is not None:
            await self.keep_answer(event, answer)  # the write after the outbox's may have been lost
            return answer
        kept = await self.answers.find_one({"_id": event.dedup_key})
        return [envelope.from_document(out) for out in kept["output"]] if kept else None

    async def set_evaluation_state(self, nomination_id: str, changes: dict[str, Any]) -> None:
        await self.nominations.update_one({"_id": nomination_id}, {"$set": changes})

    # ---- quota and shortfall ---------------------------------------------------------------

    async def held_by_unit(self, year: int) -> dict[str, int]:
        cursor = await self.places.aggregate([{"$match": {"year": year}},
                                              {"$group": {"_id": "$unit_id", "n": {"$sum": 1}}}])
        return {doc["_id"]: doc["n"] async for doc in cursor}

    async def quota(self, unit_id: str, year: int) -> list[dict]:
        statuses = [s.value for s in HOLDS_QUOTA]
        cursor = self.nominations.find({"unit_id": unit_id, "year": year, "status": {"$in": statuses}},
                                       {"status": 1, "submission.title": 1, "submission.nominee.name": 1})
        return await cursor.to_list()

    async def add_shortfall(self, unit_id: str, year: int, event: Event) -> None:
        try:
            await self.shortfalls.insert_one({"_id": f"{unit_id}:{year}", "unit_id": unit_id, "year": year,
                                              "event": envelope.to_document(event), "published": False})
        except DuplicateKeyError:
            pass  # already decided; it is republished until marked published

    async def shortfall_recorded(self, unit_id: str, year: int) -> bool:
        return await self.shortfalls.count_documents({"_id": f"{unit_id}:{year}"}, limit=1) > 0

    async def unpublished_shortfalls(self) -> list[Event]:
        return [envelope.from_document(doc["event"]) async for doc in self.shortfalls.find({"published": False})]

    async def mark_shortfalls_published(self, events: list[Event]) -> None:
        ids = [f"{e.data.unit_id}:{e.data.year}" for e in events]
        await self.shortfalls.update_many({"_id": {"$in": ids}}, {"$set": {"published": True}})

    # ---- reads for the API -----------------------------------------------------------------

    async def find(self, *, unit_id: str | None, year: int | None, status: str | None, limit: int, offset: int) -> list[dict]:
        query: dict[str, Any] = {}
        if unit_id:
            query["unit_id"] = unit_id
        if year:
            query["year"] = year
        if status:
            query["status"] = status
        cursor = self.nominations.find(query, {"outbox": 0}).sort("_id", ASCENDING).skip(offset).limit(limit)
        return await cursor.to_list()


def unit_version(unit: UnitRegistered) -> dict[str, Any]:
    """What a version of a unit says (not when it was said)."""
    return {"name": unit.name, "parent_id": unit.parent_id, "kind": unit.kind.value,
            "valid_from": _day(unit.valid_from), "valid_to": _day(unit.valid_to)}


def outbox_entry(event: Event, answer: list[Event]) -> dict[str, Any]:
    return {"input": event.dedup_key, "output": [envelope.to_document(e) for e in answer]}


def answer_document(event: Event, answer: list[Event]) -> dict[str, Any]:
    return {"_id": event.dedup_key, "output": [envelope.to_document(e) for e in answer], "at": event.time,
            "received_at": event.received_at}


def as_nomination(doc: dict | None) -> Nomination | None:
    return Nomination(doc["_id"], doc["unit_id"], Status(doc["status"])) if doc else None


def stored_answer(doc: dict | None, event: Event) -> list[Event] | None:
    """The events already produced for `event`, if this document answered it before."""
    for entry in (doc or {}).get("outbox", []):
        if entry["input"] == event.dedup_key:
            return [envelope.from_document(out) for out in entry["output"]]
    return None


def _unit(doc: dict) -> Unit:
    return Unit(doc["_id"], doc["name"], _date(doc["valid_from"]), _date(doc.get("valid_to")))
