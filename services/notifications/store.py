"""The notifications projection in MongoDB: what the delivery worker and the API read and
the worker writes.

The handlers' writes (directory, remembered nominations, notified events, new deliveries,
the publicity slot) go through the unit of work (`documents`, shared/unit_of_work.py), one
commit per consumed batch with the inputs' answers. After that a delivery is the worker's:
- it is claimed with a lease before it is sent, under a claim token its outcome's write is
  guarded by; the lease of a crashed instance expires and another instance sends the
  delivery, which is the one message a crash may repeat;
- its outcome is recorded with the event announcing it (an outbox), then published.
A person's erasure is the one input that changes deliveries again (`handlers.person_erased`):
every write here moves the revision its commit is guarded by (`MOVED`), and it takes back the
claim of a delivery in flight that it changes, whose outcome then records nothing.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.notifications import directory
from services.notifications.domain import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    DirectoryView,
    Needs,
)
from shared import envelope
from shared.documents import MongoDocuments
from shared.envelope import Event
from shared.mongo import ensure_indexes
from shared.unit_of_work import ANSWERS, REVISION

STATUSES = (PENDING, SENDING, SENT, FAILED)

INDEXES = {
    "deliveries": [
        # What is due on one lane: `{status, channel, next_attempt_at: {$lte: now}}` is one range.
        IndexModel([("status", ASCENDING), ("channel", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
        IndexModel([("event_id", ASCENDING)]),
        IndexModel([("event_key", ASCENDING)]),
        IndexModel([("outcome_pending", ASCENDING)], sparse=True),
    ],
    "staff": [IndexModel([("unit_id", ASCENDING)]), IndexModel([("roles", ASCENDING)])],
    # An erasure's queries (handlers.person_erased): the notified events holding the person's
    # fields, and the answers (shared.erasure.answers_of); their deliveries are found by
    # `recipient_id` and `event_key` above.
    "events": [IndexModel([("persons", ASCENDING)])],
    ANSWERS: [IndexModel([("persons", ASCENDING)])],
}
# Every write of the worker moves a delivery's revision, as a commit does: a handler that read
# it before (an erasure, which changes deliveries) fails its commit and reads it again, and
# never writes an older version over the worker's.
MOVED = {REVISION: 1}


@dataclass(frozen=True)
class Settled:
    """What one attempt of a claimed delivery came to: a final status (`SENT`, `FAILED`) with
    the outcome event to publish, or `PENDING` again at `retry_at`."""

    delivery: dict
    status: str
    error: str | None = None
    outcome: Event | None = None
    subject: str | None = None
    address: str | None = None
    retry_at: dt.datetime | None = None


class NotificationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.units = db["units"]
        self.staff = db["staff"]
        self.nominations = db["nominations"]
        self.events = db["events"]
        self.deliveries = db["deliveries"]
        self.documents = MongoDocuments(db)

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- the delivery worker ---------------------------------------------------------------
    #
    # SecantusDB runs `findAndModify`, and any filter with an `$or`, as a scan of the
    # collection (~45 ms at 4,000 deliveries): every query here is one index range or `_id`
    # lookups, and a batch is claimed with one guarded write per status.

    async def claim_due(self, channel: str, now: dt.datetime, limit: int, lease_seconds: float, claimant: str,
                        expired: bool = True) -> list[dict]:
        """Claim up to `limit` due deliveries of `channel`, the most overdue first, and those
        whose claimant's lease ran out (if `expired`); returns the claimed documents won.

        `claimant` must be unique to this claim: it is what the outcome's write is guarded by,
        so a worker whose lease ran out and was taken over cannot record over the new claim.
        """
        # Expired claims first: they are the most overdue, and a backlog must not starve them.
        due = await self.deliveries.find({"status": SENDING, "channel": channel, "lease_until": {"$lte": now}}
                                         ).limit(limit).to_list() if expired else []
        if len(due) < limit:
            due += await self.deliveries.find({"status": PENDING, "channel": channel, "next_attempt_at": {"$lte": now}}
                                              ).sort("next_attempt_at", ASCENDING).limit(limit - len(due)).to_list()
        # A delivery released between the two reads is in both: claimed once.
        due = list({d["_id"]: d for d in due}.values())
        if not due:
            return []
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        claim = {"$set": {"status": SENDING, "lease_until": lease_until, "claimed_by": claimant, "updated_at": now},
                 "$inc": {"attempts": 1, **MOVED}}
        ids = {status: [d["_id"] for d in due if d["status"] == status] for status in (PENDING, SENDING)}
        result = await self.deliveries.bulk_write(
            [UpdateMany({"_id": {"$in": ids[status]}, **_due(status, now)}, claim) for status in ids if ids[status]],
            ordered=False)
        if result.modified_count == len(due):  # all won: no need to read them back
            return [{**doc, **claim["$set"], "attempts": doc["attempts"] + 1,
                     REVISION: doc.get(REVISION, 0) + 1} for doc in due]
        won = {doc["_id"]: doc for doc in await self.deliveries.find(
            {"_id": {"$in": [d["_id"] for d in due]}, "claimed_by": claimant, "status": SENDING}).to_list()}
        return [won[d["_id"]] for d in due if d["_id"] in won]  # another instance took the others

    async def release(self, deliveries: list[dict], now: dt.datetime) -> None:
        """Hand back claimed deliveries that were not tried: due again at once, the claim's
        attempt not counted."""
        for claimant in {d.get("claimed_by") for d in deliveries}:
            await self.deliveries.update_many(
                {"_id": {"$in": [d["_id"] for d in deliveries if d.get("claimed_by") == claimant]},
                 "status": SENDING, "claimed_by": claimant},
                {"$set": {"status": PENDING, "updated_at": now}, "$inc": {"attempts": -1, **MOVED},
                 "$unset": {"lease_until": ""}})

    async def events_by_key(self, keys: list[str]) -> dict[str, Event]:
        return {doc["_id"]: envelope.from_document(doc)
                async for doc in self.events.find({"_id": {"$in": sorted(set(keys))}})}

    async def load_views(self, needs: list[Needs]) -> DirectoryView:
        """One view holding what each of `needs` names, from one query per kind of record: a
        view holding more than one delivery's needs renders the same mail,
        since the templates look people and units up by id."""
        view = DirectoryView()
        staff_ids = set().union(*(n.staff_ids for n in needs))
        unit_ids = set().union(*(n.unit_ids for n in needs))
        roles = sorted({role.value for n in needs for role in n.roles})
        nomination_ids = sorted({n.nomination_id for n in needs if n.nomination_id})
        if nomination_ids:
            async for doc in self.nominations.find({"_id": {"$in": nomination_ids}}):
                view.nominations[doc["_id"]] = directory.nomination_of(doc)
                staff_ids.update(doc.get("panel", []))
        # `_id` first in each filter: SecantusDB serves the first indexed clause and filters the rest.
        queries = [({"_id": {"$in": sorted(staff_ids)}}, staff_ids), ({"unit_id": {"$in": sorted(unit_ids)}}, unit_ids),
                   ({"roles": {"$in": roles}}, roles)]
        for query, wanted in queries:
            if wanted:
                async for doc in self.staff.find({**query, "email": {"$exists": True}}):
                    view.staff[doc["_id"]] = directory.staff_of(doc)
        units = unit_ids | {s.unit_id for s in view.staff.values()}
        query = {} if any(n.all_units for n in needs) else {"_id": {"$in": sorted(units)}}
        async for doc in self.units.find({**query, "name": {"$exists": True}}):
            view.units[doc["_id"]] = directory.unit_of(doc)
        return view

    async def settle(self, outcomes: list[Settled], now: dt.datetime) -> set[tuple[str, str]]:
        """Write what the attempts came to, in one write; returns the claims, as (delivery id,
        claim token), whose final status (and outcome to publish, the outbox) this write
        recorded. Each update is guarded by the claim it ends, so a claim taken over after its
        lease ran out records nothing, even when both claims' attempts settle in one group."""
        if not outcomes:
            return set()
        ops = []
        for o in outcomes:
            guard = {"_id": o.delivery["_id"], "status": SENDING, "claimed_by": o.delivery.get("claimed_by")}
            if o.status == PENDING:
                fields: dict[str, Any] = {"status": PENDING, "next_attempt_at": o.retry_at, "last_error": o.error,
                                          "updated_at": now}
            else:
                # Finished when the attempt ended, as its outcome says (the rebuild reads it
                # there), not when the group's write came round.
                fields = {"status": o.status, "updated_at": now, "finished_at": o.outcome.time, "last_error": o.error,
                          "outcome": envelope.to_document(o.outcome), "outcome_pending": True}
                fields.update({k: v for k, v in (("subject", o.subject), ("address", o.address)) if v is not None})
            ops.append(UpdateOne(guard, {"$set": fields, "$unset": {"lease_until": ""}, "$inc": MOVED}))
        result = await self.deliveries.bulk_write(ops, ordered=False)
        final = {(o.delivery["_id"], o.delivery.get("claimed_by")): o for o in outcomes if o.status != PENDING}
        if result.modified_count == len(ops) and len({key for key, _ in final}) == len(final):
            return set(final)
        docs = await self.deliveries.find({"_id": {"$in": sorted({key for key, _ in final})}},
                                          {"status": 1, "claimed_by": 1}).to_list()
        return {(d["_id"], d.get("claimed_by")) for d in docs
                if (o := final.get((d["_id"], d.get("claimed_by")))) is not None and d["status"] == o.status}

    async def unpublished_outcomes(self, before: dt.datetime, limit: int = 200) -> list[dict]:
        cursor = self.deliveries.find({"outcome_pending": True, "finished_at": {"$lte": before}},
                                      {"outcome": 1}).limit(limit)
        return await cursor.to_list()

    async def outcomes_published(self, delivery_ids: list[str]) -> None:
        if delivery_ids:
            await self.deliveries.update_many({"_id": {"$in": delivery_ids}},
                                              {"$unset": {"outcome_pending": ""}, "$inc": MOVED})

    # ---- reads for the API -----------------------------------------------------------------

    async def find_deliveries(self, *, recipient_id: str | None = None, status: str | None = None,
                              event_id: str | None = None, event_type: str | None = None,
                              limit: int = 100, offset: int = 0) -> list[dict]:
        query = {name: value for name, value in (("recipient_id", recipient_id), ("status", status),
                                                  ("event_id", event_id), ("event_type", event_type)) if value}
        cursor = self.deliveries.find(query, {"outcome": 0}).sort("created_at", DESCENDING).skip(offset).limit(limit)
        return await cursor.to_list()

    async def delivery(self, delivery_id: str) -> dict | None:
        return await self.deliveries.find_one({"_id": delivery_id}, {"outcome": 0})

    async def counts(self) -> dict[str, int]:
        cursor = await self.deliveries.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        found = {doc["_id"]: doc["n"] async for doc in cursor}
        return {status: found.get(status, 0) for status in STATUSES}


def _due(status: str, now: dt.datetime) -> dict[str, Any]:
    """Due to be sent: pending and its time has come, or sending under a lease that ran out."""
    return {"status": status, ("next_attempt_at" if status == PENDING else "lease_until"): {"$lte": now}}
