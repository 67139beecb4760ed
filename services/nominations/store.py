"""The nominations projection in MongoDB.

Every write is idempotent on its own: directory changes through `apply_once`, places and
nominee claims through unique ids owned by a nomination, and each nomination document
records the input events it answered together with the events it produced (its outbox),
so a redelivered event republishes the same answer instead of deciding again.
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
from shared.mongo import apply_once, ensure_indexes

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

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- directory -------------------------------------------------------------------------

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        version = {"name": unit.name, "parent_id": unit.parent_id, "kind": unit.kind.value,
                   "valid_from": _day(unit.valid_from), "valid_to": _day(unit.valid_to), "event_time": event.time}
        # The current version on top, every version kept: renamed and merged units stay readable.
        await apply_once(self.units, unit.unit_id, event.dedup_key,
                         {"$set": version, "$push": {"history": version}})

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        await apply_once(self.staff, staff.staff_id, event.dedup_key, {"$set": {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "removed": False}})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        await apply_once(self.staff, removed.staff_id, event.dedup_key,
                         {"$set": {"unit_id": removed.unit_id, "removed": True}})

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
        await self.nominations.replace_one({"_id": sub.nomination_id}, {
            "unit_id": sub.unit_id, "year": sub.year, "field": sub.field, "status": status.value,
            "nominee_key": nominee_key, "submission": sub.model_dump(mode="json"),
            "reasons": [r.model_dump() for r in reasons], "submitted_at": event.time, "updated_at": event.time,
            "outbox": [{"input": event.dedup_key, "output": [envelope.to_document(answer)]}],
        }, upsert=True)

    async def record_answer(self, nomination_id: str, event: Event, answer: list[Event], changes: dict | None = None) -> None:
        """Remember that `event` was answered with `answer`, with any status change, in one write."""
        entry = {"input": event.dedup_key, "output": [envelope.to_document(e) for e in answer]}
        await self.nominations.update_one(
            {"_id": nomination_id, "outbox.input": {"$ne": event.dedup_key}},
            {"$set": {**(changes or {}), "updated_at": event.time}, "$push": {"outbox": entry}})

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
