"""The workspace's database: the projection (written through the unit of work, handlers.py)
and what its web side keeps of its own:

- drafts: (nomination, evaluator) -> a score sheet saved and not sent;
- submissions: event id -> what a form published (one per form: a second click finds it);
- used_links: link id -> who signed in with it, when (a link works once).
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.workspace.handlers import (
    ASSIGNMENTS,
    DRAFTS,
    NOMINATIONS,
    REFUSALS,
    STAFF,
    SUBMISSIONS,
    UNITS,
    USED_LINKS,
)
from shared.documents import MongoDocuments
from shared.mongo import ensure_indexes
from shared.unit_of_work import ANSWERS, REVISION

HIDDEN = {REVISION: 0}

# A person's erasure asks for everything of theirs by staff id (handlers.erasure_queries): each
# of those queries has its index, beside the pages' own.
INDEXES = {
    ASSIGNMENTS: [IndexModel([("panel", ASCENDING)]), IndexModel([("year", ASCENDING), ("status", ASCENDING)]),
                  IndexModel([("recused", ASCENDING)]), IndexModel([("discussion.comments.evaluator_id", ASCENDING)])],
    SUBMISSIONS: [IndexModel([("nomination_id", ASCENDING), ("person", ASCENDING)]),
                  IndexModel([("person", ASCENDING)])],
    STAFF: [IndexModel([("roles", ASCENDING)]), IndexModel([("unit_id", ASCENDING)])],
    NOMINATIONS: [IndexModel([("unit_id", ASCENDING), ("year", ASCENDING)]), IndexModel([("year", ASCENDING)]),
                  IndexModel([("nominee.staff_id", ASCENDING)])],
    DRAFTS: [IndexModel([("person", ASCENDING)])],
    ANSWERS: [IndexModel([("persons", ASCENDING)])],
}


class WorkspaceStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.documents = MongoDocuments(db)

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- the projection ----------------------------------------------------------------------

    async def person(self, staff_id: str) -> dict | None:
        doc = await self.db[STAFF].find_one({"_id": staff_id}, HIDDEN)
        return doc if doc and not doc.get("removed") else None

    async def people(self, limit: int = 500) -> list[dict]:
        """The directory's current people, by unit and name (the development sign-in lists them)."""
        cursor = self.db[STAFF].find({"removed": False}, HIDDEN).sort([("unit_id", ASCENDING), ("name", ASCENDING)])
        return await cursor.limit(limit).to_list()

    async def names(self, staff_ids: list[str]) -> dict[str, str]:
        """Staff id -> name, for the people a page shows (those since removed included)."""
        return {doc["_id"]: doc["name"] async for doc in self.db[STAFF].find({"_id": {"$in": staff_ids}}, {"name": 1})}

    async def unit_names(self) -> dict[str, str]:
        return {doc["_id"]: doc["name"] async for doc in self.db[UNITS].find({}, {"name": 1})}

    async def assignments_of(self, person: str) -> list[dict]:
        cursor = self.db[ASSIGNMENTS].find({"panel": person}, HIDDEN).sort([("deadline", ASCENDING), ("_id", ASCENDING)])
        return await cursor.to_list()

    async def assignment(self, nomination_id: str) -> dict | None:
        return await self.db[ASSIGNMENTS].find_one({"_id": nomination_id}, HIDDEN)

    async def done_in_year(self, year: int, statuses: tuple[str, ...]) -> list[dict]:
        """The year's evaluations in `statuses`, every field: the council's pack reads them all."""
        return await self.db[ASSIGNMENTS].find({"year": year, "status": {"$in": list(statuses)}}, HIDDEN).to_list()

    async def recognised(self) -> list[dict]:
        """Every recognised exemplar's evaluation (other units report replications and visits of them)."""
        cursor = self.db[ASSIGNMENTS].find({"status": "decided", "decision.recognized": True},
                                           {"title": 1, "unit_id": 1, "year": 1, "field": 1})
        return await cursor.sort([("year", DESCENDING), ("_id", ASCENDING)]).to_list()

    async def units(self) -> list[dict]:
        return await self.db[UNITS].find({}, HIDDEN).to_list()

    async def nominations_in(self, year: int) -> list[dict]:
        return await self.db[NOMINATIONS].find({"year": year}, {"unit_id": 1, "year": 1, "status": 1}).to_list()

    async def assignments_in(self, year: int) -> list[dict]:
        fields = {"sheets": 0, "criteria": 0, "result.breakdown": 0, REVISION: 0}
        return await self.db[ASSIGNMENTS].find({"year": year}, fields).to_list()

    async def unit_nominations(self, unit_id: str) -> list[dict]:
        """The unit's nominations the workspace knows of: accepted, refused or withdrawn."""
        cursor = self.db[NOMINATIONS].find({"unit_id": unit_id}, HIDDEN)
        return await cursor.sort([("year", DESCENDING), ("_id", ASCENDING)]).to_list()

    async def assignments_by_id(self, nomination_ids: list[str]) -> dict[str, dict]:
        return {doc["_id"]: doc async for doc in self.db[ASSIGNMENTS].find({"_id": {"$in": nomination_ids}}, HIDDEN)}

    async def unit_staff(self, unit_id: str) -> list[dict]:
        cursor = self.db[STAFF].find({"unit_id": unit_id, "removed": False}, HIDDEN)
        return await cursor.sort("name", ASCENDING).to_list()

    async def nomination(self, nomination_id: str) -> dict | None:
        return await self.db[NOMINATIONS].find_one({"_id": nomination_id}, HIDDEN)

    async def refusals(self, input_ids: list[str]) -> dict[str, dict]:
        return {doc["_id"]: doc async for doc in self.db[REFUSALS].find({"_id": {"$in": input_ids}}, HIDDEN)}

    # ---- the web side's own ------------------------------------------------------------------

    async def draft(self, nomination_id: str, person: str) -> dict | None:
        return await self.db[DRAFTS].find_one({"_id": f"{nomination_id}|{person}"})

    async def save_draft(self, nomination_id: str, person: str, sheet: dict[str, Any], now: dt.datetime) -> None:
        await self.db[DRAFTS].replace_one({"_id": f"{nomination_id}|{person}"},
                                          {"nomination_id": nomination_id, "person": person, **sheet, "saved_at": now},
                                          upsert=True)

    async def claim_submission(self, event_id: str, kind: str, nomination_id: str, person: str,
                               now: dt.datetime) -> dict | None:
        """Record that a form publishes event `event_id`; None when it is new, else what an
        earlier press of the same form recorded (a double click publishes nothing more)."""
        try:
            await self.db[SUBMISSIONS].insert_one({"_id": event_id, "kind": kind, "nomination_id": nomination_id,
                                                   "person": person, "at": now, "published": False})
            return None
        except DuplicateKeyError:
            return await self.db[SUBMISSIONS].find_one({"_id": event_id})

    async def mark_published(self, event_id: str) -> None:
        await self.db[SUBMISSIONS].update_one({"_id": event_id}, {"$set": {"published": True}})

    async def submissions(self, nomination_id: str, person: str) -> list[dict]:
        cursor = self.db[SUBMISSIONS].find({"nomination_id": nomination_id, "person": person}).sort("at", ASCENDING)
        return await cursor.to_list()

    async def submissions_of(self, person: str, limit: int = 50) -> list[dict]:
        """What `person` sent lately, newest first."""
        cursor = self.db[SUBMISSIONS].find({"person": person}).sort("at", DESCENDING).limit(limit)
        return await cursor.to_list()

    async def submitted_by(self, person: str) -> set[str]:
        """The nominations `person` has sent anything for (one query for a whole list)."""
        return set(await self.db[SUBMISSIONS].distinct("nomination_id", {"person": person}))

    async def use_link(self, link_id: str, person: str, now: dt.datetime) -> bool:
        """True the first time a link is used, False ever after."""
        try:
            await self.db[USED_LINKS].insert_one({"_id": link_id, "person": person, "at": now})
            return True
        except DuplicateKeyError:
            return False
