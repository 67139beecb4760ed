"""The evaluations projection in MongoDB: its indexes, the reads of the API and the report,
and the reminder schedule's own notices.

Every input is written through the unit of work (`shared/unit_of_work.py`, the documents
`decisions.py` lists); this module never writes what an input decides. The schedule is not
an input: it reads the evaluations, and keeps each notice it decides in `notices` until it
is published.
"""

import datetime as dt
from collections.abc import Collection
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.evaluations.decisions import (
    EVALUATIONS,
    EXEMPLARS,
    LOADS,
    REPLICATIONS,
    REVIEWS,
    STAFF,
    VISITS,
    review_id,
)
from services.evaluations.directory import SCORING_VALUES
from services.evaluations.erasure import EVALUATION_FIELDS
from services.evaluations.domain import Status
from shared import envelope
from shared.days import day
from shared.documents import MongoDocuments
from shared.envelope import Event
from shared.mongo import ensure_indexes
from shared.unit_of_work import ANSWERS, REVISION

INDEXES = {
    EVALUATIONS: [IndexModel([("status", ASCENDING), ("deadline", ASCENDING)]), IndexModel([("panel", ASCENDING)]),
                  IndexModel([("year", ASCENDING), ("unit_id", ASCENDING)]),
                  # An erasure's queries (erasure.queries): where a person's fields were copied.
                  *(IndexModel([(name, ASCENDING)]) for name in EVALUATION_FIELDS)],
    EXEMPLARS: [IndexModel([("year", ASCENDING), ("field", ASCENDING), ("level", ASCENDING)]),
                IndexModel([("status", ASCENDING)]), IndexModel([("nominee_staff_id", ASCENDING)])],
    STAFF: [IndexModel([("roles", ASCENDING)])],
    "notices": [IndexModel([("published", ASCENDING)]), IndexModel([("nomination_id", ASCENDING)])],
    REVIEWS: [IndexModel([("exemplar_id", ASCENDING), ("period", ASCENDING)])],
    REPLICATIONS: [IndexModel([("exemplar_id", ASCENDING), ("n", ASCENDING)])],
    VISITS: [IndexModel([("exemplar_id", ASCENDING), ("n", ASCENDING)])],
    # An erasure's query: the answers holding the person's fields (shared.erasure.answers_of).
    ANSWERS: [IndexModel([("persons", ASCENDING)])],
}
# An exemplar's history, one document per report: the collection and the order it is read in.
HISTORY = {REVIEWS: "period", REPLICATIONS: "n", VISITS: "n"}
HIDDEN = {REVISION: 0}


class EvaluationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.documents = MongoDocuments(db)
        self.evaluations = db[EVALUATIONS]
        self.exemplars = db[EXEMPLARS]
        self.loads = db[LOADS]
        self.reviews = db[REVIEWS]
        self.notices = db["notices"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- evaluations -----------------------------------------------------------------------

    async def evaluation(self, nomination_id: str) -> dict[str, Any] | None:
        return await self.evaluations.find_one({"_id": nomination_id}, HIDDEN)

    async def open_assignments(self) -> dict[str, int]:
        """Evaluations each evaluator still has to score: one small document per evaluator."""
        return {doc["_id"]: len(doc["open"]) async for doc in self.loads.find() if doc["open"]}

    async def find_evaluations(self, *, year: int | None, status: str | None, limit: int, offset: int,
                               units: Collection[str] | None = None,
                               evaluators: Collection[str] | None = None) -> list[dict[str, Any]]:
        """`units`, `evaluators`: only those units' evaluations, or those with one of these
        evaluators on the panel (None: no such limit)."""
        query: dict[str, Any] = {k: v for k, v in (("year", year), ("status", status)) if v is not None}
        if units is not None:
            query["unit_id"] = {"$in": sorted(units)}
        if evaluators is not None:
            query["panel"] = {"$in": sorted(evaluators)}
        cursor = self.evaluations.find(query, {**HIDDEN, "sheets": 0, "criteria": 0})
        return await cursor.sort("_id", ASCENDING).skip(offset).limit(limit).to_list()

    async def discussions_past(self, today: dt.date) -> list[dict[str, Any]]:
        """Evaluations still discussing after their discussion's last day."""
        cursor = self.evaluations.find({"status": Status.DISCUSSION.value, "discussion.closes_on": {"$lt": day(today)}},
                                       {"discussion.closes_on": 1})
        return await cursor.to_list()

    # ---- reminders (the schedule's own writes) ---------------------------------------------

    async def due_for_reminders(self, today: dt.date, horizon_days: int) -> list[dict[str, Any]]:
        horizon = day(today + dt.timedelta(days=horizon_days))
        cursor = self.evaluations.find({"status": {"$in": list(SCORING_VALUES)}, "opened": True,
                                        "deadline": {"$lte": horizon}}, {**HIDDEN, "criteria": 0})
        return await cursor.to_list()

    async def sent_notices(self, nomination_id: str) -> dict[str, set[str]]:
        sent: dict[str, set[str]] = {}
        async for doc in self.notices.find({"nomination_id": nomination_id}, {"evaluator_id": 1, "key": 1}):
            sent.setdefault(doc["evaluator_id"], set()).add(doc["key"])
        return sent

    async def add_notice(self, nomination_id: str, evaluator_id: str, key: str, event: Event) -> None:
        try:
            await self.notices.insert_one(notice_document(nomination_id, evaluator_id, key, event, published=False))
        except DuplicateKeyError:
            pass  # another instance decided it first; its copy is published

    async def unpublished_notices(self) -> list[Event]:
        return [envelope.from_document(doc["event"]) async for doc in self.notices.find({"published": False})]

    async def mark_notices_published(self, events: list[Event]) -> None:
        await self.notices.update_many({"event.id": {"$in": [e.id for e in events]}}, {"$set": {"published": True}})

    # ---- exemplars -------------------------------------------------------------------------

    async def exemplar(self, exemplar_id: str) -> dict[str, Any] | None:
        return await self.exemplars.find_one({"_id": exemplar_id}, HIDDEN)

    async def review(self, exemplar_id: str, period: str) -> dict[str, Any] | None:
        """The review recorded for `period`, if any (a second report for a period corrects the first)."""
        return await self.reviews.find_one({"_id": review_id(exemplar_id, period)}, HIDDEN)

    async def history(self, exemplar_id: str, kind: str, *, limit: int, offset: int = 0,
                      latest: bool = False) -> list[dict[str, Any]]:
        """Reports of one kind in their order (`HISTORY`); with `latest`, the last `limit` of them."""
        order = HISTORY[kind]
        cursor = self.db[kind].find({"exemplar_id": exemplar_id}, {"_id": 0, "exemplar_id": 0, **HIDDEN})
        docs = await cursor.sort(order, DESCENDING if latest else ASCENDING).skip(offset).limit(limit).to_list()
        return docs[::-1] if latest else docs

    async def find_exemplars(self, *, year: int | None, field: str | None, level: str | None, status: str | None,
                             limit: int, offset: int, units: Collection[str] | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {k: v for k, v in (("year", year), ("field", field), ("level", level),
                                                   ("status", status)) if v}
        if units is not None:
            query["unit_id"] = {"$in": sorted(units)}
        cursor = self.exemplars.find(query, HIDDEN)
        return await cursor.sort([("year", DESCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit).to_list()


def notice_document(nomination_id: str, evaluator_id: str, key: str, event: Event, *, published: bool) -> dict[str, Any]:
    return {"_id": f"{nomination_id}|{evaluator_id}|{key}", "nomination_id": nomination_id,
            "evaluator_id": evaluator_id, "key": key, "event": envelope.to_document(event), "published": published}
