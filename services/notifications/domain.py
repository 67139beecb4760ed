"""Who gets which notification, under which id, and when to try again. Pure: no I/O.

The service's view of the directory and of open evaluations arrives here as plain data
(`DirectoryView`); the store loads the part an event needs (`needs`) and the functions
below decide. Email and webhook messages are built in `messages.py`.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.notifications.routing import Route, Scope, Selector
from shared.envelope import Event, derived_id
from shared.events.base import ERASED
from shared.events import (
    EvaluatorReplaced,
    NominationAccepted,
    PanelAssigned,
    PanelIncomplete,
    Payload,
    StaffRegistered,
    UnitRegistered,
)
from shared.vocabulary import Role

# Dates in the programme ("valid on", "today") are Vietnamese calendar dates.
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# Payload fields whose ids the templates show as names.
STAFF_NAME_FIELDS = ("submitter_id", "requested_by", "sender_id")
UNIT_NAME_FIELDS = ("unit_id", "adopting_unit_id")
UNIT_RECIPIENT_PREFIX = "unit:"


# A delivery's status: planned, claimed by a worker, and its two outcomes.
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Why a delivery to an erased person fails at once (an error class, errors.py): their addresses
# read "đã xóa" (shared/personal.py), they are still planned as before, and nothing is sent.
# Shown to people as "Người nhận đã bị xóa dữ liệu cá nhân".
RECIPIENT_ERASED = "recipient_erased"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


# ---- the view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitView:
    unit_id: str
    name: str
    valid_from: dt.date
    valid_to: dt.date | None = None  # last day the unit exists; None: still open
    email: str | None = None
    webhook_url: str | None = None

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class StaffView:
    staff_id: str
    unit_id: str
    full_name: str
    email: str
    roles: frozenset[Role] = frozenset()
    webhook_url: str | None = None
    removed: bool = False


@dataclass(frozen=True)
class NominationView:
    """What the service remembers of a nomination, for events that name only its id."""

    nomination_id: str
    unit_id: str | None = None
    title: str | None = None
    panel: frozenset[str] = frozenset()
    # Recipient ids of the deliveries planned for its recognition (`exemplar.recognized`).
    told_of_recognition: frozenset[str] = frozenset()


@dataclass
class DirectoryView:
    units: dict[str, UnitView] = field(default_factory=dict)
    staff: dict[str, StaffView] = field(default_factory=dict)
    nominations: dict[str, NominationView] = field(default_factory=dict)

    def names(self) -> dict[str, str]:
        return {**{u.unit_id: u.name for u in self.units.values()},
                **{s.staff_id: s.full_name for s in self.staff.values()}}


def unit_view(payload: UnitRegistered) -> UnitView:
    return UnitView(payload.unit_id, payload.name, payload.valid_from, payload.valid_to,
                    str(payload.email) if payload.email else None,
                    str(payload.webhook_url) if payload.webhook_url else None)


def staff_view(payload: StaffRegistered) -> StaffView:
    return StaffView(payload.staff_id, payload.unit_id, payload.full_name, str(payload.email),
                     frozenset(payload.roles), str(payload.webhook_url) if payload.webhook_url else None)


def next_nomination(current: NominationView | None, payload: Payload) -> NominationView | None:
    """The remembered nomination after `payload`, or None when the event says nothing new.

    Idempotent: applying the same event twice gives the same view.
    """
    nomination_id = getattr(payload, "nomination_id", None)
    if nomination_id is None:
        return None
    base = current or NominationView(nomination_id)
    if isinstance(payload, NominationAccepted):
        return replace(base, unit_id=payload.unit_id, title=payload.title)
    if isinstance(payload, PanelAssigned):
        return replace(base, unit_id=payload.unit_id, title=payload.title, panel=frozenset(payload.evaluators))
    if isinstance(payload, PanelIncomplete):
        return replace(base, unit_id=payload.unit_id, title=payload.title, panel=frozenset(payload.assigned))
    if isinstance(payload, EvaluatorReplaced):
        panel = base.panel - {payload.recused_id}
        if payload.replacement_id:
            panel |= {payload.replacement_id}
        return replace(base, title=base.title or payload.title, panel=panel)
    return None


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(VN_TZ).date()


# ---- what the store must load --------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    staff_ids: frozenset[str] = frozenset()
    unit_ids: frozenset[str] = frozenset()  # units whose staff and record are needed
    roles: frozenset[Role] = frozenset()  # everyone holding these roles, any unit
    all_units: bool = False  # validity of every unit (role and every_unit scopes)
    nomination_id: str | None = None
    told_of_recognition: bool = False  # those the nomination's recognition reached


def needs(route: Route, payload: Payload) -> Needs:
    staff_ids: set[str] = set(_ids(payload, STAFF_NAME_FIELDS))
    unit_ids: set[str] = set(_ids(payload, UNIT_NAME_FIELDS))
    roles: set[Role] = set()
    for rule in route.rules:
        for selector in rule.to:
            if selector.scope is Scope.STAFF:
                staff_ids.update(_ids(payload, (selector.field,)))
            elif selector.scope is Scope.UNIT:
                unit_ids.update(_ids(payload, (selector.unit_field,)))
            elif selector.scope in (Scope.ROLE, Scope.EVERY_UNIT):
                roles.update(selector.roles)
    told = any(s.scope is Scope.TOLD_OF_RECOGNITION for rule in route.rules for s in rule.to)
    return Needs(frozenset(staff_ids), frozenset(unit_ids), frozenset(roles), all_units=bool(roles),
                 nomination_id=getattr(payload, "nomination_id", None), told_of_recognition=told)


def _ids(payload: Payload, names: Iterable[str | None]) -> list[str]:
    found: list[str] = []
    for name in names:
        value = getattr(payload, name, None) if name else None
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, str))
    return found


# ---- recipients ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    id: str  # staff id, or "unit:<unit id>" for a unit's own mailbox / webhook
    kind: str  # "staff" | "unit"
    name: str
    unit_id: str | None
    email: str | None  # None: not in the directory yet; resolved again when sending
    webhook_url: str | None
    template: str
    publicity: bool = False

    @property
    def known(self) -> bool:
        return self.email is not None or self.webhook_url is not None


def resolve_recipients(route: Route, payload: Payload, view: DirectoryView, today: dt.date) -> list[Recipient]:
    """Everyone `route` selects for `payload`, each once, in a stable order.

    A person selected by several rules keeps the first (direct news before publicity);
    removed staff get nothing; a staff id named in the event but absent from the directory
    is kept with no address, because the directory topic may simply not have arrived yet.
    """
    chosen: dict[str, Recipient] = {}
    for rule in route.rules:
        if not rule.applies(payload):
            continue
        for selector in rule.to:
            for recipient in _select(selector, payload, view, today, rule.template, rule.publicity):
                chosen.setdefault(recipient.id, recipient)
    return list(chosen.values())


def _select(selector: Selector, payload: Payload, view: DirectoryView, today: dt.date,
            template: str, publicity: bool) -> list[Recipient]:
    def person(staff: StaffView) -> Recipient:
        return Recipient(staff.staff_id, "staff", staff.full_name, staff.unit_id, staff.email,
                         staff.webhook_url, template, publicity)

    def in_open_unit(staff: StaffView) -> bool:
        unit = view.units.get(staff.unit_id)
        return unit is None or unit.valid_on(today)

    active = sorted((s for s in view.staff.values() if not s.removed), key=lambda s: (s.unit_id, s.staff_id))
    if selector.scope is Scope.STAFF:
        result = []
        for staff_id in _ids(payload, (selector.field,)):
            staff = view.staff.get(staff_id)
            if staff is None:
                result.append(Recipient(staff_id, "staff", staff_id, None, None, None, template, publicity))
            elif not staff.removed:
                result.append(person(staff))
        return result
    if selector.scope is Scope.UNIT:
        unit_id = getattr(payload, selector.unit_field)
        result = [person(s) for s in active if s.unit_id == unit_id and s.roles & set(selector.roles)]
        unit = view.units.get(unit_id)
        if selector.contact and unit is not None and (unit.email or unit.webhook_url):
            result.append(Recipient(UNIT_RECIPIENT_PREFIX + unit.unit_id, "unit", unit.name, unit.unit_id,
                                    unit.email, unit.webhook_url, template, publicity))
        return result
    if selector.scope is Scope.PANEL:
        nomination = view.nominations.get(payload.nomination_id)
        members = nomination.panel if nomination else frozenset()
        return [person(view.staff[m]) for m in sorted(members) if m in view.staff and not view.staff[m].removed]
    if selector.scope is Scope.ROLE:
        return [person(s) for s in active if s.roles & set(selector.roles) and in_open_unit(s)]
    if selector.scope is Scope.TOLD_OF_RECOGNITION:
        # Those it reached, as the directory has them now: removed staff get nothing, and a
        # person who took a role since was not told of the recognition, so is not of this.
        nomination = view.nominations.get(payload.nomination_id)
        result = []
        for recipient_id in sorted(nomination.told_of_recognition if nomination else ()):
            if recipient_id.startswith(UNIT_RECIPIENT_PREFIX):
                unit = view.units.get(recipient_id.removeprefix(UNIT_RECIPIENT_PREFIX))
                if unit is not None and (unit.email or unit.webhook_url):
                    result.append(Recipient(recipient_id, "unit", unit.name, unit.unit_id, unit.email,
                                            unit.webhook_url, template, publicity))
            elif (staff := view.staff.get(recipient_id)) is not None and not staff.removed:
                result.append(person(staff))
        return result
    # every_unit: only units open today, and only staff whose unit is known to be open.
    open_units = {u.unit_id for u in view.units.values() if u.valid_on(today)}
    return [person(s) for s in active if s.unit_id in open_units and s.roles & set(selector.roles)]


# ---- deliveries ----------------------------------------------------------------------------


def delivery_id(event_key: str, recipient_id: str, channel: str) -> str:
    """Deterministic: the same event, recipient and channel always give the same delivery."""
    return derived_id("notification", event_key, recipient_id, channel)


@dataclass(frozen=True)
class PlannedDelivery:
    delivery_id: str
    recipient: Recipient
    channel: Channel
    address: str | None
    not_before: dt.datetime


def plan_deliveries(event: Event, recipients: list[Recipient], now: dt.datetime, publicity_interval: float,
                    publicity_start: dt.datetime | None = None, webhooks: bool = True) -> list[PlannedDelivery]:
    """One delivery per recipient and channel: email when there is (or may be) an address,
    webhook when one is configured (and `webhooks` is on). Publicity is spread
    `publicity_interval` seconds apart from `publicity_start` (default `now`), a schedule
    stored with each delivery so it holds across restarts and instances."""
    planned: list[PlannedDelivery] = []
    paced = 0
    for recipient in recipients:
        if recipient.publicity:
            at = (publicity_start or now) + dt.timedelta(seconds=paced * publicity_interval)
            paced += 1
        else:
            at = now
        if recipient.email or not recipient.known:
            planned.append(PlannedDelivery(delivery_id(event.dedup_key, recipient.id, Channel.EMAIL),
                                           recipient, Channel.EMAIL, recipient.email, at))
        if recipient.webhook_url and webhooks:
            planned.append(PlannedDelivery(delivery_id(event.dedup_key, recipient.id, Channel.WEBHOOK),
                                           recipient, Channel.WEBHOOK, recipient.webhook_url, at))
    return planned


def paced_count(recipients: list[Recipient]) -> int:
    return sum(1 for recipient in recipients if recipient.publicity)


def current_address(recipient_id: str, channel: Channel, view: DirectoryView) -> tuple[str | None, str | None]:
    """(address, why not) for a delivery about to be sent: contacts may have changed and
    staff may have been removed, or erased (`RECIPIENT_ERASED`), since it was planned."""
    if recipient_id.startswith(UNIT_RECIPIENT_PREFIX):
        unit = view.units.get(recipient_id.removeprefix(UNIT_RECIPIENT_PREFIX))
        if unit is None:
            return None, "unknown_unit"
        address = unit.email if channel is Channel.EMAIL else unit.webhook_url
        return (address, None) if address else (None, "no_address")
    staff = view.staff.get(recipient_id)
    if staff is None:
        return None, "unknown_recipient"
    if staff.removed:
        return None, "recipient_removed"
    address = staff.email if channel is Channel.EMAIL else staff.webhook_url
    if address == ERASED:
        return None, RECIPIENT_ERASED
    return (address, None) if address else (None, "no_address")


# ---- retries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: try n waits base * factor**(n-1), capped, with a jitter that is
    derived from the delivery id, so a crowd of deliveries failing together does not come
    back together, and a recomputation after a crash gives the same time."""

    max_attempts: int = 6
    base_seconds: float = 30.0
    factor: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.1  # +/- this fraction of each delay

    def delay(self, attempts: int, key: str = "") -> float:
        """Seconds to wait after the `attempts`-th failed try."""
        raw = min(self.base_seconds * self.factor ** max(attempts - 1, 0), self.max_seconds)
        digest = hashlib.sha256(f"{key}/{attempts}".encode()).digest()
        spread = (int.from_bytes(digest[:8], "big") / 2**64) * 2 - 1  # in [-1, 1)
        return max(0.0, raw * (1 + self.jitter * spread))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def schedule(self, key: str = "") -> list[float]:
        """Every wait between the tries of one delivery."""
        return [self.delay(n, key) for n in range(1, self.max_attempts)]

    def next_attempt(self, attempts: int, now: dt.datetime, key: str = "") -> dt.datetime | None:
        """When to try again after `attempts` failed tries, or None: give up."""
        if self.exhausted(attempts):
            return None
        return now + dt.timedelta(seconds=self.delay(attempts, key))


# ---- rendering context ---------------------------------------------------------------------


def render_context(event: Event, recipient: Recipient, view: DirectoryView, sender_name: str) -> dict:
    """What the templates see. `rendering.render` cleans every string in it."""
    nomination = view.nominations.get(getattr(event.data, "nomination_id", "") or "")
    return {
        "d": event.data,
        "recipient": {"id": recipient.id, "kind": recipient.kind, "name": recipient.name},
        "names": view.names(),
        "nomination_title": nomination.title if nomination else None,
        "sender_name": sender_name,
        "event": {"id": event.id, "type": event.type, "time": event.time},
        "action_url": None,
    }
