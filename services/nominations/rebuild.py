"""Rebuild the nominations projection from the log, in memory (see shared/replay.py).

The service's own `Handlers` run over `MemoryNominationStore`, which keeps the documents
`NominationStore` would write, as plain dicts; every answer a handler records is the
logged event of the same id. The yearly shortfalls are decided by a schedule, not by an
input, so they come straight from the logged `unit.quota_shortfall` events.

Who won the last place of a unit's year depends on how the live instances interleaved
partitions, which the log does not keep. So the quota is pinned to the log: a submission the
service accepted finds its place and its nominee free, as it did live, and one it refused
takes no place; what a refusal records is the published reason.
"""

import copy
from typing import Any

from services.nominations.domain import HOLDS_QUOTA, Staff, Status, Unit
from services.nominations.handlers import Handlers
from services.nominations.settings import NominationsSettings
from services.nominations.store import _unit, answer_document, outbox_entry, stored_answer, unit_version
from shared import envelope, replay
from shared.envelope import Event, derived_id
from shared.events import (
    NominationAccepted,
    NominationRejected,
    QuotaShortfall,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.programme import load_programme
from shared.mongo import applied_document, applied_id, with_entry, with_marker
from shared.replay import Answers, Comparison, Logged

COMPARISON: dict[str, Comparison] = {
    # `applied` holds the last directory events in the order they arrived.
    "units": Comparison(unordered=frozenset({"applied"})),
    "staff": Comparison(unordered=frozenset({"applied"})),
    # `updated_at` is the time of the last input applied. The outbox's inputs all come from the
    # intake topic (one partition per nomination), but the order is kept unordered as before.
    "nominations": Comparison(ignore=frozenset({"updated_at"}), unordered=frozenset({"outbox"})),
    "answers": Comparison(),
    "applied_events": Comparison(),
    # A place's number is whichever slot was free when the nomination came; what counts is
    # which nomination holds a place of which unit and year.
    "places": Comparison(identity=lambda d: (d["unit_id"], d["year"], d["nomination_id"])),
    "nominee_claims": Comparison(),
    "shortfalls": Comparison(),
}


class MemoryNominationStore:
    """The methods `Handlers` calls on `NominationStore`, over dicts."""

    def __init__(self, answers: Answers, maximum: int) -> None:
        self.answers = answers
        self.maximum = maximum
        self.collections: dict[str, dict[Any, dict]] = {name: {} for name in COMPARISON}
        self.accepted_live = False  # the log's answer to the input being applied

    async def applying(self, record: Logged) -> None:
        self.accepted_live = derived_id(record.event.dedup_key, NominationAccepted.event_type) in self.answers.by_id

    def documents(self) -> dict[str, list[dict]]:
        return {name: list(docs.values()) for name, docs in self.collections.items()}

    # ---- directory -------------------------------------------------------------------------

    def _apply_once(self, name: str, doc_id: str, event_key: str, fields: dict,
                    history: dict | None = None) -> None:
        """`shared.mongo.apply_once`: the change and its marker, unless recently applied; a unit's
        version joins its history only when it says something new (`NominationStore.apply_unit`)."""
        kept = self.collections["applied_events"]
        if applied_id(name, doc_id, event_key) in kept:
            return
        kept[applied_id(name, doc_id, event_key)] = applied_document(name, doc_id, event_key)
        doc = self.collections[name].setdefault(doc_id, {"_id": doc_id})
        if event_key in doc.get("applied", []):
            return
        if history is not None and any(doc.get(k, _ABSENT) != v for k, v in history.items()):
            doc["history"] = [*doc.get("history", []), copy.deepcopy(fields)]
        doc.update(copy.deepcopy(fields))
        doc["applied"] = with_marker(doc.get("applied", []), event_key)

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        content = unit_version(unit)
        version = {**content, "event_time": event.time, "received_at": event.received_at}
        self._apply_once("units", unit.unit_id, event.dedup_key, version, history=content)

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        self._apply_once("staff", staff.staff_id, event.dedup_key, {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "removed": False})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        self._apply_once("staff", removed.staff_id, event.dedup_key, {"unit_id": removed.unit_id, "removed": True})

    async def unit(self, unit_id: str) -> Unit | None:
        doc = self.collections["units"].get(unit_id)
        return _unit(doc) if doc and "name" in doc else None

    async def all_units(self) -> list[Unit]:
        return [_unit(doc) for doc in self.collections["units"].values() if "name" in doc]

    async def staff_member(self, staff_id: str | None) -> Staff | None:
        doc = self.collections["staff"].get(staff_id) if staff_id else None
        if not doc or "unit_id" not in doc:
            return None
        return Staff(doc["_id"], doc["unit_id"], doc.get("removed", False))

    # ---- nominations -----------------------------------------------------------------------

    async def nomination(self, nomination_id: str) -> dict | None:
        return copy.deepcopy(self.collections["nominations"].get(nomination_id))

    async def held_places(self, unit_id: str, year: int, excluding: str) -> int:
        held = sum(1 for p in self.collections["places"].values()
                   if p["unit_id"] == unit_id and p["year"] == year and p["nomination_id"] != excluding)
        if self.accepted_live and excluding:  # live, a place was free for it
            return min(held, self.maximum - 1)
        return held

    async def nominee_holder(self, year: int, key: str, excluding: str) -> str | None:
        doc = self.collections["nominee_claims"].get(f"{year}:{key}")
        if self.accepted_live:
            return None  # live, nobody held the nominee
        return doc["nomination_id"] if doc and doc["nomination_id"] != excluding else None

    async def claim_nominee(self, year: int, key: str, nomination_id: str) -> str | None:
        claims = self.collections["nominee_claims"]
        claim_id = f"{year}:{key}"
        if claim_id not in claims or self.accepted_live:
            claims[claim_id] = {"_id": claim_id, "nomination_id": nomination_id}
            return None
        return await self.nominee_holder(year, key, excluding=nomination_id)

    async def take_place(self, unit_id: str, year: int, nomination_id: str, maximum: int) -> bool:
        places = self.collections["places"]
        if any(p["nomination_id"] == nomination_id and p["unit_id"] == unit_id and p["year"] == year
               for p in places.values()):
            return True
        if not self.accepted_live:
            return False
        # Whatever number is free: the slot ids are compared by holder, not by number.
        slot = next(n for n in range(1, len(places) + 2) if f"{unit_id}:{year}:{n}" not in places)
        places[f"{unit_id}:{year}:{slot}"] = {"_id": f"{unit_id}:{year}:{slot}", "unit_id": unit_id, "year": year,
                                              "nomination_id": nomination_id}
        return True

    async def release(self, nomination_id: str) -> None:
        for name in ("places", "nominee_claims"):
            docs = self.collections[name]
            for doc_id in [k for k, d in docs.items() if d["nomination_id"] == nomination_id]:
                del docs[doc_id]

    async def record_submission(self, event: Event, status: Status, nominee_key: str, reasons: list,
                                answer: Event) -> None:
        sub = event.data
        answer = self.answers.pin(answer)
        if isinstance(answer.data, NominationRejected):
            reasons = answer.data.reasons  # as published, whatever the replay's counts
        self.collections["nominations"][sub.nomination_id] = {
            "_id": sub.nomination_id, "unit_id": sub.unit_id, "year": sub.year, "field": sub.field,
            "status": status.value, "nominee_key": nominee_key, "submission": sub.model_dump(mode="json"),
            "reasons": [r.model_dump() for r in reasons], "submitted_at": event.time,
            "received_at": event.received_at, "updated_at": event.time, "outbox": [outbox_entry(event, [answer])],
        }
        await self.keep_answer(event, [answer])

    async def record_answer(self, nomination_id: str, event: Event, answer: list[Event],
                            changes: dict | None = None) -> None:
        doc = self.collections["nominations"].get(nomination_id)
        if doc is not None and not any(entry["input"] == event.dedup_key for entry in doc["outbox"]):
            doc.update(copy.deepcopy(changes or {}), updated_at=event.time)
            doc["outbox"] = with_entry(doc["outbox"], outbox_entry(event, self.answers.pin_all(answer)))
        await self.keep_answer(event, answer)

    async def keep_answer(self, event: Event, answer: list[Event]) -> None:
        self.collections["answers"].setdefault(event.dedup_key, answer_document(event, self.answers.pin_all(answer)))

    async def answer_to(self, doc: dict | None, event: Event) -> list[Event] | None:
        if (answer := stored_answer(doc, event)) is not None:
            return answer
        kept = self.collections["answers"].get(event.dedup_key)
        return [envelope.from_document(out) for out in kept["output"]] if kept else None

    async def set_evaluation_state(self, nomination_id: str, changes: dict[str, Any]) -> None:
        if (doc := self.collections["nominations"].get(nomination_id)) is not None:
            doc.update(copy.deepcopy(changes))

    # ---- quota and shortfall: decided by the schedule, taken from the log -----------------

    def add_published_shortfall(self, event: Event) -> None:
        shortfall: QuotaShortfall = event.data
        doc_id = f"{shortfall.unit_id}:{shortfall.year}"
        self.collections["shortfalls"][doc_id] = {"_id": doc_id, "unit_id": shortfall.unit_id, "year": shortfall.year,
                                                  "event": envelope.to_document(event), "published": True}

    async def quota(self, unit_id: str, year: int) -> list[dict]:
        statuses = {s.value for s in HOLDS_QUOTA}
        return [copy.deepcopy(d) for d in self.collections["nominations"].values()
                if d["unit_id"] == unit_id and d["year"] == year and d["status"] in statuses]


_ABSENT = object()


async def rebuild(inputs: list[Logged], answers: Answers, settings: NominationsSettings) -> dict[str, list[dict]]:
    programme = load_programme(settings.programme_file)
    store = MemoryNominationStore(answers, programme.yearly_maximum)
    handlers = Handlers(store, programme)  # type: ignore[arg-type]
    await replay.apply(inputs, handlers.by_topic(), before=store.applying)
    for event in answers.of_type(QuotaShortfall.event_type):
        store.add_published_shortfall(event)
    return store.documents()
