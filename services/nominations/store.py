"""The nominations projection in MongoDB: its indexes, the reads of the API and the report,
and the yearly shortfalls the schedule decides.

Every input is written through the unit of work (`shared/unit_of_work.py`, the documents
`handlers.py` describes); this module never writes what an input decides.
"""

from collections.abc import Collection
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.nominations.domain import HOLDS_QUOTA, Unit
from services.nominations.handlers import CLAIMS, NOMINATIONS, QUOTAS, STAFF, UNITS, unit_of
from shared import envelope
from shared.documents import MongoDocuments
from shared.envelope import Event
from shared.mongo import ensure_indexes
from shared.unit_of_work import ANSWERS, REVISION

INDEXES = {
    NOMINATIONS: [IndexModel([("unit_id", ASCENDING), ("year", ASCENDING), ("status", ASCENDING)]),
                  IndexModel([("status", ASCENDING), ("year", ASCENDING)]),
                  # An erasure's query: the nominations naming the person (handlers.nominated).
                  IndexModel([("submission.nominee.staff_id", ASCENDING)])],
    QUOTAS: [IndexModel([("year", ASCENDING)])],
    CLAIMS: [IndexModel([("nomination_id", ASCENDING)])],
    STAFF: [IndexModel([("unit_id", ASCENDING)])],
    "shortfalls": [IndexModel([("published", ASCENDING)])],
    # An erasure's query: the answers holding the person's fields (shared.erasure.answers_of).
    ANSWERS: [IndexModel([("persons", ASCENDING)])],
}


class NominationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.documents = MongoDocuments(db)
        self.nominations = db[NOMINATIONS]
        self.quotas = db[QUOTAS]
        self.units = db[UNITS]
        self.staff = db[STAFF]
        self.shortfalls = db["shortfalls"]
        self.answers = db[ANSWERS]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    async def all_units(self) -> list[Unit]:
        return [unit_of(doc) async for doc in self.units.find({"name": {"$exists": True}})]

    async def nomination(self, nomination_id: str) -> dict[str, Any] | None:
        return await self.nominations.find_one({"_id": nomination_id}, {REVISION: 0})

    # ---- quota and shortfall ---------------------------------------------------------------

    async def held_by_unit(self, years: list[int]) -> dict[int, dict[str, int]]:
        held: dict[int, dict[str, int]] = {year: {} for year in years}
        async for doc in self.quotas.find({"year": {"$in": years}}):
            held[doc["year"]][doc["unit_id"]] = len(doc["holders"])
        return held

    async def quota(self, unit_id: str, year: int) -> list[dict]:
        statuses = [s.value for s in HOLDS_QUOTA]
        cursor = self.nominations.find({"unit_id": unit_id, "year": year, "status": {"$in": statuses}},
                                       {"status": 1, "submission.title": 1, "submission.nominee.name": 1})
        return await cursor.to_list()

    async def add_shortfall(self, event: Event) -> None:
        """Kept until published; decided once per unit and year (a later count changes nothing)."""
        try:
            await self.shortfalls.insert_one(shortfall_document(event, published=False))
        except DuplicateKeyError:
            pass

    async def unpublished_shortfalls(self) -> list[Event]:
        return [envelope.from_document(doc["event"]) async for doc in self.shortfalls.find({"published": False})]

    async def mark_shortfalls_published(self, events: list[Event]) -> None:
        ids = [f"{e.data.unit_id}:{e.data.year}" for e in events]
        await self.shortfalls.update_many({"_id": {"$in": ids}}, {"$set": {"published": True}})

    # ---- reads for the API -----------------------------------------------------------------

    async def find(self, *, units: Collection[str] | None, year: int | None, status: str | None, limit: int,
                   offset: int) -> list[dict]:
        """`units`: those units' nominations only (None: every unit's)."""
        query: dict[str, Any] = {}
        if units is not None:
            query["unit_id"] = {"$in": sorted(units)}
        if year:
            query["year"] = year
        if status:
            query["status"] = status
        cursor = self.nominations.find(query, {REVISION: 0}).sort("_id", ASCENDING).skip(offset).limit(limit)
        return await cursor.to_list()


def shortfall_document(event: Event, published: bool) -> dict[str, Any]:
    return {"_id": f"{event.data.unit_id}:{event.data.year}", "unit_id": event.data.unit_id, "year": event.data.year,
            "event": envelope.to_document(event), "published": published}
