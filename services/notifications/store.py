"""The notifications projection in MongoDB: directory view, remembered panels, the notified
events and the delivery ledger.

Idempotence, write by write:
- directory documents carry the log position of the record that wrote them (`position`, see
  `domain.Position`) and only a record later in the log may overwrite them, so redelivery and
  cross-partition reordering are harmless and no sender's clock decides what is current;
- deliveries are inserted with `$setOnInsert` under their deterministic id: a redelivered
  event finds them already there and changes nothing, whatever their status;
- a delivery is claimed with a lease before it is sent, under a claim token its outcome's
  write is guarded by; the lease of a crashed instance expires and another instance sends
  the delivery, which is the one message a crash may repeat.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notifications import directory, domain
from services.notifications.domain import (
    DirectoryView,
    Needs,
    NominationView,
    PlannedDelivery,
    StaffView,
    UnitView,
)
from shared import envelope
from shared.envelope import Event
from shared.events import Payload, StaffRegistered, StaffRemoved, UnitRegistered
from shared.mongo import ensure_indexes
from shared.vocabulary import Role

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATUSES = (PENDING, SENDING, SENT, FAILED)

INDEXES = {
    "deliveries": [
        # What is due on one lane: `{status, channel, next_attempt_at: {$lte: now}}` is one range.
        IndexModel([("status", ASCENDING), ("channel", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
        IndexModel([("event_id", ASCENDING)]),
        IndexModel([("outcome_pending", ASCENDING)], sparse=True),
    ],
    "staff": [IndexModel([("unit_id", ASCENDING)]), IndexModel([("roles", ASCENDING)])],
}


_day = directory.day


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


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


class NotificationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.units = db["units"]
        self.staff = db["staff"]
        self.nominations = db["nominations"]
        self.events = db["events"]
        self.deliveries = db["deliveries"]
        self.pacing = db["pacing"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db, INDEXES)

    # ---- directory -------------------------------------------------------------------------

    async def _versioned(self, collection, doc_id: str, event: Event, fields: dict[str, Any]) -> None:
        """Write `fields` unless a record later in the log wrote the document: one guarded upsert."""
        position = directory.position_of(event)
        if position is None:
            # An event that did not come through Kafka (tests, tools): taken as the newest.
            guard: dict[str, Any] = {}
            update: dict[str, Any] = {"$set": fields, "$unset": {"position": "", "version": ""}}
        else:
            guard = directory.earlier_than(position)
            # `version` was the sender's time, which decided nothing right: dropped on the next write.
            update = {"$set": {**fields, "position": position.document()}, "$unset": {"version": ""}}
        try:
            await collection.update_one({"_id": doc_id, **guard}, update, upsert=True)
        except DuplicateKeyError:
            pass  # a later record already wrote it: this one is history

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        await self._versioned(self.units, unit.unit_id, event, directory.unit_fields(unit))

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        await self._versioned(self.staff, staff.staff_id, event, directory.staff_fields(staff))

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        await self._versioned(self.staff, removed.staff_id, event, {"removed": True})

    # ---- remembered nominations ------------------------------------------------------------

    async def remember(self, payload: Payload) -> None:
        """Update what is known of the payload's nomination (panel, title), compare-and-set."""
        nomination_id = getattr(payload, "nomination_id", None)
        if nomination_id is None:
            return
        while True:
            doc = await self.nominations.find_one({"_id": nomination_id})
            current = _nomination(doc) if doc else None
            updated = domain.next_nomination(current, payload)
            if updated is None or updated == current:
                return
            fields = {"unit_id": updated.unit_id, "title": updated.title, "panel": sorted(updated.panel),
                      "rev": (doc or {}).get("rev", 0) + 1}
            try:
                result = await self.nominations.update_one({"_id": nomination_id, "rev": (doc or {}).get("rev")},
                                                           {"$set": fields}, upsert=doc is None)
            except DuplicateKeyError:
                continue  # inserted concurrently by the other topic's consumer: read again
            if result.matched_count or result.upserted_id is not None:
                return

    # ---- the view an event needs -----------------------------------------------------------

    async def load_view(self, needs: Needs) -> DirectoryView:
        view = DirectoryView()
        clauses: list[dict] = []
        if needs.staff_ids:
            clauses.append({"_id": {"$in": sorted(needs.staff_ids)}})
        if needs.unit_ids:
            clauses.append({"unit_id": {"$in": sorted(needs.unit_ids)}})
        if needs.roles:
            clauses.append({"roles": {"$in": sorted(role.value for role in needs.roles)}})
        nomination = None
        if needs.nomination_id:
            nomination = await self.nominations.find_one({"_id": needs.nomination_id})
            if nomination:
                view.nominations[needs.nomination_id] = _nomination(nomination)
                clauses.append({"_id": {"$in": nomination.get("panel", [])}})
        if clauses:
            async for doc in self.staff.find({"$or": clauses, "email": {"$exists": True}}):
                view.staff[doc["_id"]] = _staff(doc)
        unit_query: dict = {"name": {"$exists": True}}
        if not needs.all_units:
            unit_query["_id"] = {"$in": sorted(needs.unit_ids | {s.unit_id for s in view.staff.values()})}
        async for doc in self.units.find(unit_query):
            view.units[doc["_id"]] = _unit(doc)
        return view

    # ---- planning --------------------------------------------------------------------------

    async def planned(self, event: Event) -> bool:
        return await self.events.count_documents({"_id": event.dedup_key, "planned": True}, limit=1) > 0

    async def reserve_publicity(self, count: int, interval: float, now: dt.datetime) -> dt.datetime:
        """Slots for `count` paced mails after every broadcast already scheduled, so two
        recognitions at once do not double the rate. Returns the first slot."""
        while True:
            doc = await self.pacing.find_one({"_id": "publicity"})
            start = max(now, doc["next_slot"]) if doc else now
            after = start + dt.timedelta(seconds=count * interval)
            try:
                if doc is None:
                    await self.pacing.insert_one({"_id": "publicity", "next_slot": after})
                    return start
                result = await self.pacing.update_one({"_id": "publicity", "next_slot": doc["next_slot"]},
                                                      {"$set": {"next_slot": after}})
                if result.modified_count:
                    return start
            except DuplicateKeyError:
                pass  # another instance reserved first: read again

    async def record(self, event: Event, planned: list[PlannedDelivery], now: dt.datetime) -> None:
        """The event, then its deliveries, then the mark that planning is complete: a crash in
        between is repaired by the redelivered event, without duplicates."""
        await self.events.update_one({"_id": event.dedup_key}, {"$setOnInsert": envelope.to_document(event)},
                                     upsert=True)
        if planned:
            await self.deliveries.bulk_write([UpdateOne({"_id": p.delivery_id}, {"$setOnInsert": {
                "event_key": event.dedup_key, "event_id": event.id, "event_type": event.type,
                "recipient_id": p.recipient.id, "recipient_kind": p.recipient.kind,
                "recipient_name": p.recipient.name, "unit_id": p.recipient.unit_id, "channel": p.channel.value,
                "template": p.recipient.template, "address": p.address, "publicity": p.recipient.publicity,
                "status": PENDING, "attempts": 0, "next_attempt_at": p.not_before, "created_at": now,
                "updated_at": now}}, upsert=True) for p in planned], ordered=False)
        await self.events.update_one({"_id": event.dedup_key}, {"$set": {"planned": True, "deliveries": len(planned)}})

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
                 "$inc": {"attempts": 1}}
        ids = {status: [d["_id"] for d in due if d["status"] == status] for status in (PENDING, SENDING)}
        result = await self.deliveries.bulk_write(
            [UpdateMany({"_id": {"$in": ids[status]}, **_due(status, now)}, claim) for status in ids if ids[status]],
            ordered=False)
        if result.modified_count == len(due):  # all won: no need to read them back
            return [{**doc, **claim["$set"], "attempts": doc["attempts"] + 1} for doc in due]
        won = {doc["_id"]: doc for doc in await self.deliveries.find(
            {"_id": {"$in": [d["_id"] for d in due]}, "claimed_by": claimant, "status": SENDING}).to_list()}
        return [won[d["_id"]] for d in due if d["_id"] in won]  # another instance took the others

    async def claim(self, candidate: tuple[str, ...], now: dt.datetime, lease_seconds: float,
                    worker: str) -> dict | None:
        """Take one delivery by id if it is still due (status `candidate[1]`)."""
        delivery_id, status = candidate[0], candidate[1]
        result = await self.deliveries.update_one(
            {"_id": delivery_id, **_due(status, now)},
            {"$set": {"status": SENDING, "lease_until": now + dt.timedelta(seconds=lease_seconds),
                      "claimed_by": worker, "updated_at": now},
             "$inc": {"attempts": 1}})
        if result.modified_count == 0:
            return None
        return await self.deliveries.find_one({"_id": delivery_id, "status": SENDING, "claimed_by": worker})

    async def release(self, deliveries: list[dict], now: dt.datetime) -> None:
        """Hand back claimed deliveries that were not tried: due again at once, the claim's
        attempt not counted."""
        for claimant in {d.get("claimed_by") for d in deliveries}:
            await self.deliveries.update_many(
                {"_id": {"$in": [d["_id"] for d in deliveries if d.get("claimed_by") == claimant]},
                 "status": SENDING, "claimed_by": claimant},
                {"$set": {"status": PENDING, "updated_at": now}, "$inc": {"attempts": -1},
                 "$unset": {"lease_until": ""}})

    async def events_by_key(self, keys: list[str]) -> dict[str, Event]:
        return {doc["_id"]: envelope.from_document(doc)
                async for doc in self.events.find({"_id": {"$in": sorted(set(keys))}})}

    async def load_views(self, needs: list[Needs]) -> DirectoryView:
        """One view holding what each of `needs` would load (`load_view`), from one query per
        kind of record: a view holding more than one delivery needs renders the same mail,
        since the templates look people and units up by id."""
        view = DirectoryView()
        staff_ids = set().union(*(n.staff_ids for n in needs))
        unit_ids = set().union(*(n.unit_ids for n in needs))
        roles = sorted({role.value for n in needs for role in n.roles})
        nomination_ids = sorted({n.nomination_id for n in needs if n.nomination_id})
        if nomination_ids:
            async for doc in self.nominations.find({"_id": {"$in": nomination_ids}}):
                view.nominations[doc["_id"]] = _nomination(doc)
                staff_ids.update(doc.get("panel", []))
        # `_id` first in each filter: SecantusDB serves the first indexed clause and filters the rest.
        queries = [({"_id": {"$in": sorted(staff_ids)}}, staff_ids), ({"unit_id": {"$in": sorted(unit_ids)}}, unit_ids),
                   ({"roles": {"$in": roles}}, roles)]
        for query, wanted in queries:
            if wanted:
                async for doc in self.staff.find({**query, "email": {"$exists": True}}):
                    view.staff[doc["_id"]] = _staff(doc)
        units = unit_ids | {s.unit_id for s in view.staff.values()}
        query = {} if any(n.all_units for n in needs) else {"_id": {"$in": sorted(units)}}
        async for doc in self.units.find({**query, "name": {"$exists": True}}):
            view.units[doc["_id"]] = _unit(doc)
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
            ops.append(UpdateOne(guard, {"$set": fields, "$unset": {"lease_until": ""}}))
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
            await self.deliveries.update_many({"_id": {"$in": delivery_ids}}, {"$unset": {"outcome_pending": ""}})

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


def _unit(doc: dict) -> UnitView:
    return UnitView(doc["_id"], doc["name"], _date(doc["valid_from"]), _date(doc.get("valid_to")),
                    doc.get("email"), doc.get("webhook_url"))


def _staff(doc: dict) -> StaffView:
    roles = frozenset(Role(role) for role in doc.get("roles", []) if role in Role._value2member_map_)
    return StaffView(doc["_id"], doc["unit_id"], doc["full_name"], doc["email"], roles, doc.get("webhook_url"),
                     doc.get("removed", False))


def _nomination(doc: dict) -> NominationView:
    return NominationView(doc["_id"], doc.get("unit_id"), doc.get("title"), frozenset(doc.get("panel", [])))


def _due(status: str, now: dt.datetime) -> dict[str, Any]:
    """Due to be sent: pending and its time has come, or sending under a lease that ran out."""
    return {"status": status, ("next_attempt_at" if status == PENDING else "lease_until"): {"$lte": now}}
