"""Rebuilding the notifications projection from the Kafka log, in memory, mailing nobody.

The service's own `Handlers` run over `MemoryStore`, which keeps NotificationStore's
documents in plain dicts with the semantics of each Mongo write (the log-position guard of
the directory, directory.py; the `$setOnInsert` of deliveries; the compare-and-set of
remembered nominations, which memory satisfies trivially). Inputs are applied in
`shared.replay.processing_order`, each with the handler clock at the record's arrival time:
the live service decided at about that moment. The delivery worker does not run, so nothing
is sent and nothing is published. (The age limit compares that clock with the record's
receive time, so a record that waited in Kafka past `max_event_age_days` was not notified
live but is rebuilt as notified, and the comparison reports it; the go-live cut-off,
`notify_after`, depends on the receive time alone and is rebuilt exactly.)

The worker's decisions are then taken from the log: every `notification.sent` / `.failed`
it published finishes the delivery it names, with the fields `NotificationStore.finish`
writes. The mail subject is not in the log; it is rendered again with the worker's own code
from the stored event and the directory as the replay stood when the outcome was published
(outcomes are folded in between the inputs by time). A rename racing a send can therefore
show as a different subject: the comparison reports it rather than excusing it.

An outcome for a delivery the replay did not plan is a divergence (`answers.divergent`).
A delivery with no logged outcome is left pending and due: after a switch the worker sends
it. That includes a message sent just before the log was read whose outcome was not yet
published (the worker's outbox), which may so reach its recipient twice: the same
at-least-once window as a crash between the send and the outcome, and the reason to
compare before switching (the live document says `sent`, the rebuilt one `pending`).
"""

import copy
import datetime as dt
import logging

from services.notifications import delivery as delivery_module
from services.notifications import directory, domain
from services.notifications.domain import DirectoryView, Needs, PlannedDelivery
from services.notifications.handlers import Handlers
from services.notifications.routing import Route, default_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.store import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    _nomination,
    _staff,
    _unit,
)
from shared import envelope
from shared.envelope import Event
from shared.events import (
    NotificationFailed,
    NotificationSent,
    Payload,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.replay import Answers, Comparison, Logged, apply

log = logging.getLogger("exemplars.notifications.rebuild")

COLLECTIONS = ("units", "staff", "nominations", "events", "deliveries", "pacing")
OUTCOMES = (NotificationSent.event_type, NotificationFailed.event_type)
# The gap between the clock read stamped on an outcome and the one `finish` stores.
FINISH_SLACK = dt.timedelta(seconds=1)


_ms = directory.ms  # BSON keeps milliseconds


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _deliveries(doc: dict) -> dict:
    """What the log cannot know about a delivery's worker, made comparable."""
    outcome = doc.get("outcome")
    if doc.get("finished_at") and outcome and abs(_aware(doc["finished_at"]) - _aware(outcome["time"])) <= FINISH_SLACK:
        # `finish` reads the clock again a moment after the outcome was stamped.
        doc["finished_at"] = outcome["time"]
    if doc.get("status") in (PENDING, SENDING):
        # Tries that failed for now publish nothing, and a claim in flight is the worker's
        # timing: the rebuilt delivery is pending with a fresh retry budget.
        doc["status"] = PENDING
        for name in ("attempts", "last_error", "lease_until"):
            doc.pop(name, None)
    return doc


COMPARISON: dict[str, Comparison] = {
    # Written from the directory events alone, under the version guard.
    "units": Comparison(),
    "staff": Comparison(),
    # `rev` counts the writes, and how many change the view depends on how the nominations
    # and evaluations topics interleaved.
    "nominations": Comparison(ignore=frozenset({"rev"})),
    # The notified event as logged, and how many deliveries its planning recorded.
    "events": Comparison(),
    # created_at and next_attempt_at are the handler's clock (live: when it processed the
    # record, rebuilt: when the record arrived), paced slots included; updated_at and
    # claimed_by are the worker's timing and identity. See `_deliveries`.
    "deliveries": Comparison(ignore=frozenset({"created_at", "updated_at", "next_attempt_at", "claimed_by"}),
                             normalize=_deliveries),
    # The next free publicity slot is wall-clock; whether any was reserved is compared.
    "pacing": Comparison(ignore=frozenset({"next_slot"})),
}


class MemoryStore:
    """The part of NotificationStore that `Handlers` calls, over plain dicts."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, dict]] = {name: {} for name in COLLECTIONS}
        self.fresh: list[str] = []  # deliveries planned since the outcomes were last folded

    def documents(self) -> dict[str, list[dict]]:
        return {name: copy.deepcopy(list(docs.values())) for name, docs in self.docs.items()}

    # ---- directory: as `NotificationStore._versioned` (directory.py) ------------------------

    def _versioned(self, collection: str, doc_id: str, event: Event, fields: dict) -> None:
        docs = self.docs[collection]
        doc = docs.get(doc_id)
        position = directory.position_of(event)
        base = {k: v for k, v in (doc or {"_id": doc_id}).items() if k not in ("version", "position")}
        if position is None:  # not from Kafka: the newest, as the live filter takes it
            docs[doc_id] = {**base, **copy.deepcopy(fields)}
            return
        stored = doc.get("position") if doc is not None else None
        if stored is not None and not position.after(directory.Position.from_document(stored)):
            return  # a later record already wrote it: this one is history
        docs[doc_id] = {**base, **copy.deepcopy(fields), "position": position.document()}

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        self._versioned("units", unit.unit_id, event, directory.unit_fields(unit))

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        self._versioned("staff", staff.staff_id, event, directory.staff_fields(staff))

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        self._versioned("staff", removed.staff_id, event, {"removed": True})

    # ---- remembered nominations, the view, planning --------------------------------------------

    async def remember(self, payload: Payload) -> None:
        nomination_id = getattr(payload, "nomination_id", None)
        if nomination_id is None:
            return
        doc = self.docs["nominations"].get(nomination_id)
        current = _nomination(doc) if doc else None
        updated = domain.next_nomination(current, payload)
        if updated is None or updated == current:
            return
        self.docs["nominations"][nomination_id] = {
            **(doc or {"_id": nomination_id}), "unit_id": updated.unit_id, "title": updated.title,
            "panel": sorted(updated.panel), "rev": (doc or {}).get("rev", 0) + 1}

    async def load_view(self, needs: Needs) -> DirectoryView:
        view = DirectoryView()
        staff_ids, roles = set(needs.staff_ids), {role.value for role in needs.roles}
        if needs.nomination_id and (doc := self.docs["nominations"].get(needs.nomination_id)):
            view.nominations[needs.nomination_id] = _nomination(doc)
            staff_ids |= set(doc.get("panel", []))
        for doc in self.docs["staff"].values():
            if "email" in doc and (doc["_id"] in staff_ids or doc.get("unit_id") in needs.unit_ids
                                   or roles & set(doc.get("roles", []))):
                view.staff[doc["_id"]] = _staff(doc)
        unit_ids = needs.unit_ids | {s.unit_id for s in view.staff.values()}
        for doc in self.docs["units"].values():
            if "name" in doc and (needs.all_units or doc["_id"] in unit_ids):
                view.units[doc["_id"]] = _unit(doc)
        return view

    async def planned(self, event: Event) -> bool:
        return self.docs["events"].get(event.dedup_key, {}).get("planned") is True

    async def reserve_publicity(self, count: int, interval: float, now: dt.datetime) -> dt.datetime:
        doc = self.docs["pacing"].get("publicity")
        start = max(now, doc["next_slot"]) if doc else now
        self.docs["pacing"]["publicity"] = {"_id": "publicity",
                                            "next_slot": _ms(start + dt.timedelta(seconds=count * interval))}
        return start

    async def record(self, event: Event, planned: list[PlannedDelivery], now: dt.datetime) -> None:
        events, deliveries = self.docs["events"], self.docs["deliveries"]
        events.setdefault(event.dedup_key, {"_id": event.dedup_key, **envelope.to_document(event)})
        for p in planned:
            if p.delivery_id not in deliveries:
                self.fresh.append(p.delivery_id)
            deliveries.setdefault(p.delivery_id, {
                "_id": p.delivery_id, "event_key": event.dedup_key, "event_id": event.id, "event_type": event.type,
                "recipient_id": p.recipient.id, "recipient_kind": p.recipient.kind,
                "recipient_name": p.recipient.name, "unit_id": p.recipient.unit_id, "channel": p.channel.value,
                "template": p.recipient.template, "address": p.address, "publicity": p.recipient.publicity,
                "status": PENDING, "attempts": 0, "next_attempt_at": p.not_before, "created_at": now,
                "updated_at": now})
        events[event.dedup_key].update(planned=True, deliveries=len(planned))

    # ---- the worker's logged outcomes -----------------------------------------------------------

    async def finish(self, outcome: Event, routes: dict[str, Route], settings: NotificationsSettings) -> bool:
        """Finish the delivery `outcome` names as `NotificationStore.finish` did; False: no such
        pending delivery was planned."""
        data = outcome.data
        doc = self.docs["deliveries"].get(data.delivery_id)
        if doc is None or doc["status"] != PENDING or (doc["event_id"], doc["recipient_id"], doc["channel"]) != (
                data.notified_event_id, data.recipient_id, data.channel):
            return False
        sent = outcome.type == NotificationSent.event_type
        doc.update(status=SENT if sent else FAILED, attempts=data.attempts, finished_at=outcome.time,
                   last_error=None if sent else data.error, outcome=envelope.to_document(outcome))
        if sent:  # a failure keeps the planned address; the outcome may say "unknown"
            doc["address"] = data.address
            doc["subject"] = await self._subject(doc, routes, settings)
        return True

    async def _subject(self, delivery: dict, routes: dict[str, Route], settings: NotificationsSettings) -> str:
        """The subject the worker rendered, with the worker's own functions."""
        event = envelope.from_document(self.docs["events"][delivery["event_key"]])
        view = await self.load_view(delivery_module.needs_of(routes[event.type], event, delivery))
        return delivery_module.render(delivery, event, view, settings.mail_from_name)[1].subject


class _Outcomes:
    """The logged outcomes, folded in as the replay's time passes them."""

    def __init__(self, store: MemoryStore, answers: Answers, routes: dict[str, Route],
                 settings: NotificationsSettings) -> None:
        self.store, self.answers, self.routes, self.settings = store, answers, routes, settings
        self.queue = sorted(answers.of_type(*OUTCOMES), key=lambda e: (_aware(e.time), e.id))
        # By delivery id, outcomes stamped before their delivery's input arrived (the clocks of
        # different machines), until it is planned; what is left at the end is divergent.
        self.waiting: dict[str, list[Event]] = {}

    async def until(self, moment: dt.datetime | None) -> None:
        """Fold every outcome published before `moment` (None: all that remain)."""
        cut = 0
        while cut < len(self.queue) and (moment is None or _aware(self.queue[cut].time) < moment):
            cut += 1
        due = [e for d in self.store.fresh if d in self.waiting for e in self.waiting.pop(d)] + self.queue[:cut]
        self.queue, self.store.fresh = self.queue[cut:], []
        for outcome in due:
            if not await self.store.finish(outcome, self.routes, self.settings):
                self.waiting.setdefault(outcome.data.delivery_id, []).append(outcome)
        if moment is None:
            self.answers.divergent.extend(e for waiting in self.waiting.values() for e in waiting)


async def rebuild(inputs: list[Logged], answers: Answers, settings: NotificationsSettings) -> dict[str, list[dict]]:
    """The notifications projection the log implies, as NotificationStore's documents."""
    routes = default_routes()
    store = MemoryStore()
    clock = {"now": dt.datetime.now(dt.UTC)}
    handlers = Handlers(store, settings, routes, now=lambda: clock["now"])  # type: ignore[arg-type]
    outcomes = _Outcomes(store, answers, routes, settings)

    async def at_arrival(record: Logged) -> None:
        await outcomes.until(_aware(record.at))
        clock["now"] = _aware(record.at)

    applied = await apply(inputs, handlers.by_topic(), before=at_arrival)
    divergent_before = len(answers.divergent)
    await outcomes.until(None)
    unmatched = len(answers.divergent) - divergent_before
    docs = store.documents()
    log.info("rebuilt notifications from %d of %d records: %d deliveries, %d outcomes unmatched", applied,
             len(inputs), len(docs["deliveries"]), unmatched)
    if unmatched:
        log.warning("%d logged outcomes name deliveries the replay did not plan", unmatched)
    return docs
