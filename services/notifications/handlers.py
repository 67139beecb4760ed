"""Thin handlers: keep the directory view, and turn each routed event into recorded
deliveries. Nothing is sent here: sending belongs to the delivery worker, so a slow or
broken mail server never holds up a partition.

No I/O here: `shared.unit_of_work` loads what `needs` names, runs `decide` per event and
commits. `routes()` is every event type this service consumes, per topic, and who handles
it; which people each routed type reaches is `routes.yaml` (`routing.py`).

Documents (collection: id -> fields):
- units, staff: the directory, each with the log position of the record that wrote it;
- nominations: nomination id -> unit, title and panel, for events naming only the id;
- events: the notified event as received, how many deliveries its planning recorded, and
  whose personal fields it holds (`persons`, as the answers keep them);
- deliveries: one per event, recipient and channel, created here and then the worker's;
- pacing: "publicity" -> the next free slot of the paced broadcasts.

A person's erasure (`person.erased`, `person_erased`) sets to "đã xóa" what these hold of their
personal fields, as a rebuild from the log (where those fields no longer open) stores them.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from services.notifications import directory, domain, letters
from services.notifications.domain import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    DirectoryView,
    NominationView,
    PlannedDelivery,
)
from services.notifications.routing import Route
from services.notifications.settings import NotificationsSettings
from shared import envelope, erasure, personal, topics
from shared.envelope import Event
from shared.events import (
    ExemplarRecognized,
    NotificationSent,
    PersonErased,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.events.base import ERASED
from shared.unit_of_work import (
    NOTHING,
    QUERIES,
    Create,
    Decision,
    Needs,
    Put,
    View,
    Where,
)

log = logging.getLogger("exemplars.notifications")

UNITS, STAFF, NOMINATIONS, EVENTS, DELIVERIES, PACING = "units", "staff", "nominations", "events", "deliveries", "pacing"
PUBLICITY = "publicity"
EVERY_UNIT = Where(UNITS)  # a few hundred documents: read whole once per batch

Now = Callable[[Event], dt.datetime]


def wall_clock(event: Event) -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Unplanned(Exception):
    """An outcome in the log names a delivery the replay did not plan (or finished already)."""


@dataclass
class Notifications:
    settings: NotificationsSettings
    routes_table: dict[str, Route]
    # When the handler decides. Live: now. A rebuild: when the record arrived, when live decided.
    now: Now = wall_clock
    # A rebuild also folds the worker's logged outcomes into the deliveries they finish.
    outcomes: bool = False
    _by_type: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        secret = self.settings.webhook_secret
        self.webhooks = secret is not None and bool(secret.get_secret_value())
        self._by_type = {t: handler for by_type in self.routes().values() for t, handler in by_type.items()}

    def routes(self) -> dict[str, dict[str, object]]:
        """Every event type consumed, per topic, and its handler."""
        routes: dict[str, dict[str, object]] = {
            topics.DIRECTORY: {"unit.registered": self.unit_registered, "staff.registered": self.staff_registered,
                               "staff.removed": self.staff_removed, "person.erased": self.person_erased}}
        for topic in (topics.NOMINATIONS, topics.EVALUATIONS):
            routes[topic] = {t: self.notify for t in topics.BY_NAME[topic].event_types if t in self.routes_table}
        if self.outcomes:
            routes[topics.NOTIFICATIONS] = {t: self.finished for t in topics.BY_NAME[topics.NOTIFICATIONS].event_types}
        return routes

    def decide(self, view: View, event: Event) -> Decision:
        return self._by_type[event.type](view, event)

    def needs(self, event: Event) -> Needs:
        data = event.data
        match data:
            case UnitRegistered():
                return {UNITS: [data.unit_id]}
            case StaffRegistered() | StaffRemoved():
                return {STAFF: [data.staff_id]}
            case PersonErased():
                return {STAFF: [data.staff_id], QUERIES: [*_erasure_queries(data.staff_id),
                                                          erasure.answers_of(data.staff_id)]}
        if event.type in self.routes_table:
            route = self.routes_table[event.type]
            return {**_directory_needs(domain.needs(route, data)), EVENTS: [event.dedup_key],
                    NOMINATIONS: [getattr(data, "nomination_id", None)],
                    PACING: [PUBLICITY] if any(rule.publicity for rule in route.rules) else []}
        if self.outcomes and hasattr(data, "delivery_id"):
            return {DELIVERIES: [data.delivery_id]}
        return {}

    # ---- directory -------------------------------------------------------------------------

    def unit_registered(self, view: View, event: Event) -> Decision:
        unit: UnitRegistered = event.data
        return _versioned(view, event, UNITS, unit.unit_id, directory.unit_fields(unit))

    def staff_registered(self, view: View, event: Event) -> Decision:
        staff: StaffRegistered = event.data
        return _versioned(view, event, STAFF, staff.staff_id, directory.staff_fields(staff))

    def staff_removed(self, view: View, event: Event) -> Decision:
        removed: StaffRemoved = event.data
        return _versioned(view, event, STAFF, removed.staff_id, {"removed": True})

    # ---- routed events ---------------------------------------------------------------------

    def notify(self, view: View, event: Event) -> Decision:
        """One delivery per recipient and channel, recorded for the worker to send."""
        # Panels and titles are remembered even for events too old to notify: a later
        # cancellation must still find the panel after a rebuild.
        changes, nomination = _remember(view, event)
        now = self.now(event)
        # Judged by when the log received the event, never by the sender's `time`: a sender
        # dating its events ahead must not slip past the age limit or the go-live cut-off.
        received = event.received_at
        if now - received > dt.timedelta(days=self.settings.max_event_age_days) or (
                self.settings.notify_after is not None and received < self.settings.notify_after):
            return Decision.of(*changes)
        recorded = view.get(EVENTS, event.dedup_key)
        if recorded is not None and recorded.get("planned"):
            return Decision.of(*changes)  # planned before answers were kept: its deliveries exist
        route = self.routes_table[event.type]
        seen = directory_view(view, domain.needs(route, event.data), nomination)
        # Who belongs to which open unit is judged on the day the log received the event.
        recipients = domain.resolve_recipients(route, event.data, seen, domain.local_date(received))
        interval = self.settings.publicity_interval_seconds
        start = None
        if (paced := domain.paced_count(recipients)) and interval > 0:
            # After every broadcast already scheduled, so two recognitions at once do not
            # double the rate.
            slot = view.get(PACING, PUBLICITY)
            start = max(now, slot["next_slot"]) if slot else now
            changes.append(Put(PACING, {"_id": PUBLICITY, "next_slot": start + dt.timedelta(seconds=paced * interval)}))
        planned = domain.plan_deliveries(event, recipients, now, interval, publicity_start=start, webhooks=self.webhooks)
        # A planning cut short before answers were kept left some deliveries: they keep their status.
        kept = {d["_id"] for d in view.where(Where(DELIVERIES, "event_key", (event.dedup_key,)))} if recorded else set()
        changes += [Create(DELIVERIES, delivery_document(event, p, now)) for p in planned if p.delivery_id not in kept]
        changes += _told(event, nomination, planned)
        stored = envelope.to_document(event)
        changes.append(Put(EVENTS, {"_id": event.dedup_key, **stored, "planned": True, "deliveries": len(planned),
                                    "persons": sorted(personal.owners_of(event.type, stored["data"]))}))
        return Decision.of(*changes)

    # ---- a person's erasure ----------------------------------------------------------------

    def person_erased(self, view: View, event: Event) -> Decision:
        """Their personal fields set to "đã xóa" wherever a document copied them, as a rebuild
        from the log (where they no longer open, and the worker's outcomes were sealed under
        their key too) stores them; their ids stay, as in the log:
        - staff: their `full_name`, `email` and `webhook_url` (`directory.staff_fields` keeps an
          erased address as it reads, so they stay planned as before and are sent nothing);
        - events: the notified events holding their fields (`persons`), as the log now reads them;
        - deliveries to them: `recipient_name` (when it was their name: an unknown recipient's
          is their id), `address`, and the address in the stored outcome; one still pending is
          then failed by the worker at once (`domain.RECIPIENT_ERASED`);
        - deliveries of those events to anyone: the `subject` of a sent mail, when it showed
          their fields (the nominee's name of a recognition), rendered again from the event as
          the log now reads it, as a rebuild renders it;
        - a delivery in flight (`sending`) that changes: its claim is taken back, so the outcome
          of that attempt, rendered or addressed with what is now erased, records nothing (the
          worker's writes move the revision, `store.MOVED`); it is tried again when the lease
          runs out (a mail to someone else may so be sent twice, the at-least-once window);
        - the stored answers (`shared.erasure`; this service publishes none).
        Taking the same erasure again changes nothing."""
        person = event.data.staff_id
        changes: list = []
        staff = view.get(STAFF, person)
        if staff is not None and (erased := _erased(StaffRegistered.event_type, person, {
                "staff_id": person, **{name: staff[name] for name in CONTACT if name in staff}})):
            changes.append(Put(STAFF, {**staff, **{name: erased[name] for name in CONTACT if name in staff}}))
        about: dict[str, tuple[Event, Event]] = {}  # event key -> (as notified, as the log now reads it)
        for doc in view.where(_erasure_queries(person)[0]):
            if (cleared := erasure.cleared_event(doc, person)) is not None:
                changes.append(Put(EVENTS, cleared))
                about[doc["_id"]] = (envelope.from_document(doc), envelope.from_document(cleared))
        deliveries = {d["_id"]: d for d in view.where(_erasure_queries(person)[1])}
        if about:
            of_events = Where(DELIVERIES, "event_key", tuple(sorted(about)))
            view.need({QUERIES: [of_events], NOMINATIONS: [getattr(e.data, "nomination_id", None)
                                                           for e, _ in about.values()]})
            deliveries |= {d["_id"]: d for d in view.where(of_events)}
        subjects = self._erased_subjects(view, [d for d in deliveries.values() if d["event_key"] in about
                                                and d["status"] in (SENT, SENDING)], about, person)
        for _, doc in sorted(deliveries.items()):
            new = dict(doc)
            if doc["recipient_id"] == person:
                if doc.get("unit_id") is not None:  # planned while they were in the directory: their name
                    new["recipient_name"] = ERASED
                if doc.get("address") is not None:
                    new["address"] = ERASED
                if doc.get("outcome") and (outcome := erasure.cleared_event(doc["outcome"], person)) is not None:
                    new["outcome"] = outcome
            if doc["_id"] in subjects and doc["status"] == SENT:
                new["subject"] = subjects[doc["_id"]]
            if new != doc or doc["_id"] in subjects:
                if doc["status"] == SENDING:
                    new["claimed_by"] = None  # its attempt's outcome records nothing
                changes.append(Put(DELIVERIES, new))
        changes += erasure.cleared_answers(view, person)
        return Decision.of(*changes)

    def _erased_subjects(self, view: View, deliveries: list[dict], about: dict[str, tuple[Event, Event]],
                         person: str) -> dict[str, str]:
        """Delivery id -> its subject rendered from its event as the log now reads it, for
        those whose subject showed the person's fields (it renders differently from before)."""
        plans = []
        for delivery in deliveries:
            before, after = about[delivery["event_key"]]
            if (route := self.routes_table.get(before.type)) is not None:
                nomination = view.get(NOMINATIONS, nomination_id) if (
                    nomination_id := getattr(before.data, "nomination_id", None)) else None
                seen = directory.nomination_of(nomination) if nomination else None
                plans.append((delivery, before, after, letters.needs_of(route, before, delivery), seen))
        wanted: dict[str, set] = {}
        for _, _, _, needs, nomination in plans:  # the whole directory they need, in one late load
            directory_needs = _directory_needs(needs)
            directory_needs[STAFF] = [*directory_needs[STAFF], *(nomination.panel if nomination else ())]
            for collection, ids in directory_needs.items():
                wanted.setdefault(collection, set()).update(ids)
        view.need(wanted)
        subjects = {}
        for delivery, before, after, needs, nomination in plans:
            seen = directory_view(view, needs, nomination)
            if (them := seen.staff.get(person)) is not None:  # as the directory now reads them
                seen.staff[person] = replace(them, full_name=ERASED, email=ERASED,
                                             webhook_url=ERASED if them.webhook_url else None)
            was, now = (letters.subject(delivery, e, seen, self.settings.mail_from_name) for e in (before, after))
            if was != now:
                subjects[delivery["_id"]] = now
        return subjects

    # ---- the worker's outcomes, in a rebuild -----------------------------------------------

    def finished(self, view: View, outcome: Event) -> Decision:
        """The delivery `outcome` names, finished as the worker recorded it (`store.settle`)."""
        data = outcome.data
        doc = view.get(DELIVERIES, data.delivery_id)
        if doc is None or doc["status"] != PENDING or (doc["event_id"], doc["recipient_id"], doc["channel"]) != (
                data.notified_event_id, data.recipient_id, data.channel):
            raise Unplanned(f"{outcome.type} {outcome.id} names no pending delivery {data.delivery_id}")
        sent = outcome.type == NotificationSent.event_type
        doc.update(status=SENT if sent else FAILED, attempts=data.attempts, finished_at=outcome.time,
                   last_error=None if sent else data.error, outcome=envelope.to_document(outcome))
        if sent:  # a failure keeps the planned address; the outcome may say "unknown"
            doc["address"] = data.address
            doc["subject"] = self._subject(view, doc)
        return Decision.of(Put(DELIVERIES, doc))

    def _subject(self, view: View, delivery: dict) -> str:
        """The subject the worker rendered (not in the log), rendered again with its functions
        from the directory as the replay stands when the outcome was published."""
        # An outcome's `needs` can name its delivery only: what rendering reads is asked for
        # in two late loads (the event, then its nomination and directory), not one per document.
        event = envelope.from_document(view.get(EVENTS, delivery["event_key"]))
        needs = letters.needs_of(self.routes_table[event.type], event, delivery)
        nomination_id = getattr(event.data, "nomination_id", None)
        view.need({NOMINATIONS: [nomination_id], **_directory_needs(needs)})
        nomination = view.get(NOMINATIONS, nomination_id) if nomination_id else None
        seen = directory_view(view, needs, directory.nomination_of(nomination) if nomination else None)
        return letters.subject(delivery, event, seen, self.settings.mail_from_name)


# ---- reading the view ------------------------------------------------------------------------

CONTACT = ("full_name", "email", "webhook_url")  # a staff document's copies of `staff.registered`'s personal fields


def _erasure_queries(person: str) -> list[Where]:
    """The notified events holding the person's fields, and the deliveries to them."""
    return [Where(EVENTS, "persons", (person,)), Where(DELIVERIES, "recipient_id", (person,))]


def _erased(event_type: str, person: str, data: dict) -> dict | None:
    """`data` (in the shape of an `event_type` payload) with the person's personal fields
    "đã xóa" where `personal.PERSONAL` places them, or None when none was left."""
    data = dict(data)
    return data if personal.erase(event_type, data, person) else None


def _directory_needs(needs: domain.Needs) -> Needs:
    return {STAFF: sorted(needs.staff_ids), QUERIES: [EVERY_UNIT, *_staff_queries(needs)]}


def _staff_queries(needs: domain.Needs) -> list[Where]:
    queries = []
    if needs.unit_ids:
        queries.append(Where(STAFF, "unit_id", tuple(sorted(needs.unit_ids))))
    if needs.roles:
        queries.append(Where(STAFF, "roles", tuple(sorted(role.value for role in needs.roles))))
    return queries


def directory_view(view: View, needs: domain.Needs, nomination: NominationView | None) -> DirectoryView:
    """The directory domain.py needs for `needs` (a superset does no harm: the routes select)."""
    told = nomination.told_of_recognition if nomination and needs.told_of_recognition else frozenset()
    told_units = {r.removeprefix(domain.UNIT_RECIPIENT_PREFIX) for r in told if r.startswith(domain.UNIT_RECIPIENT_PREFIX)}
    told_staff = {r for r in told if not r.startswith(domain.UNIT_RECIPIENT_PREFIX)}
    wanted = sorted(needs.staff_ids | (nomination.panel if nomination else frozenset()) | told_staff)
    # All of it asked at once (a panel is known only once its nomination is read): one late
    # load at most, however many people it names.
    view.need({**_directory_needs(needs), STAFF: wanted})
    staff = {doc["_id"]: doc for query in _staff_queries(needs) for doc in view.where(query)}
    staff |= {staff_id: doc for staff_id in wanted if (doc := view.get(STAFF, staff_id))}
    if needs.all_units:  # role scopes judge every unit's validity
        units = view.where(EVERY_UNIT)
    else:  # the units named and those of the people seen: a few, not the hundreds read per batch
        named = needs.unit_ids | told_units | {doc["unit_id"] for doc in staff.values() if doc.get("unit_id")}
        units = [doc for unit_id in sorted(named) if (doc := view.get(UNITS, unit_id))]
    seen = directory.view_of(units, staff.values())
    if nomination is not None:
        seen.nominations[nomination.nomination_id] = nomination
    return seen


def _versioned(view: View, event: Event, collection: str, doc_id: str, fields: dict) -> Decision:
    stored = view.get(collection, doc_id)
    if not directory.later(event, stored):
        return NOTHING  # a later record already wrote it: this one is history
    return Decision.of(Put(collection, directory.versioned(event, stored, doc_id, fields)))


def _remember(view: View, event: Event) -> tuple[list, NominationView | None]:
    """What is known of the event's nomination after it (panel, title), and the change, if any."""
    nomination_id = getattr(event.data, "nomination_id", None)
    if nomination_id is None:
        return [], None
    doc = view.get(NOMINATIONS, nomination_id)
    current = directory.nomination_of(doc) if doc else None
    updated = domain.next_nomination(current, event.data)
    if updated is None or updated == current:
        return [], current
    return [Put(NOMINATIONS, nomination_document(updated))], updated


def nomination_document(nomination: NominationView) -> dict:
    told = {"told_of_recognition": sorted(nomination.told_of_recognition)} if nomination.told_of_recognition else {}
    return {"_id": nomination.nomination_id, "unit_id": nomination.unit_id, "title": nomination.title,
            "panel": sorted(nomination.panel), **told}


def _told(event: Event, nomination: NominationView | None, planned: list) -> list:
    """A recognition remembers whom its deliveries reach: its revocation tells them again."""
    if not isinstance(event.data, ExemplarRecognized):
        return []
    data: ExemplarRecognized = event.data
    base = nomination or NominationView(data.nomination_id, data.unit_id, data.title)
    told = base.told_of_recognition | {p.recipient.id for p in planned}
    return [Put(NOMINATIONS, nomination_document(replace(base, told_of_recognition=frozenset(told))))]


def delivery_document(event: Event, p: PlannedDelivery, now: dt.datetime) -> dict:
    return {"_id": p.delivery_id, "event_key": event.dedup_key, "event_id": event.id, "event_type": event.type,
            "recipient_id": p.recipient.id, "recipient_kind": p.recipient.kind, "recipient_name": p.recipient.name,
            "unit_id": p.recipient.unit_id, "channel": p.channel.value, "template": p.recipient.template,
            "address": p.address, "publicity": p.recipient.publicity, "status": PENDING, "attempts": 0,
            "next_attempt_at": p.not_before, "created_at": now, "updated_at": now}

