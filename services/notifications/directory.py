"""Which directory record is current: the one later in the log, never the sender's clock.

A unit's HR system dating a `staff.registered` in the year 9999 would otherwise own that
person's contact details forever, every later true update being "older". So a document
remembers the log position of the record that wrote it, and a record may overwrite it only
if it comes later:
- in the same partition (the same unit's key, or any key hashing there): a later offset;
  a redelivered record (same offset) or an earlier one changes nothing;
- across partitions (a person moved to another unit is published under the new unit's key,
  so in another partition): the later broker receive time (`Received.at`, which the consumer
  bounds by its own clock), ties broken by (partition, offset).

`later` decides it, in the handlers, live and in a rebuild alike. The directory's documents
become domain.py's views here too (`view_of`).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.notifications.domain import (
    DirectoryView,
    NominationView,
    StaffView,
    UnitView,
)
from shared.days import date, day
from shared.envelope import Event
from shared.events import StaffRegistered, UnitRegistered
from shared.vocabulary import Role


def ms(moment: dt.datetime) -> dt.datetime:
    """BSON keeps milliseconds (UTC): positions compare in memory as the database compares them."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Position:
    partition: int
    offset: int
    at: dt.datetime  # broker receive time, UTC milliseconds

    def after(self, other: "Position") -> bool:
        """Is the record at `self` later in the log than the one at `other`?"""
        if self.partition == other.partition:
            return self.offset > other.offset
        return (self.at, self.partition) > (other.at, other.partition)

    def document(self) -> dict[str, Any]:
        return {"partition": self.partition, "offset": self.offset, "at": self.at}

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Position":
        return cls(doc["partition"], doc["offset"], ms(doc["at"]))


def position_of(event: Event) -> Position | None:
    """Where the event stands in the log; None for one that did not come from Kafka."""
    if event.received is None:
        return None
    return Position(event.received.partition, event.received.offset, ms(event.received.at))


def later(event: Event, stored: dict | None) -> bool:
    """May `event` write over `stored`? Only if its record is later in the log than the one
    that wrote it. An event that did not come through Kafka (tests, tools) is taken as the
    newest, and so is any event over a document from before positions."""
    position = position_of(event)
    if position is None or stored is None or stored.get("position") is None:
        return True
    return position.after(Position.from_document(stored["position"]))


def versioned(event: Event, stored: dict | None, doc_id: str, fields: dict[str, Any]) -> dict:
    """The document after `event` wrote `fields` (check `later` first), with its position."""
    # `version` was the sender's time, which decided nothing right: dropped on the next write.
    base = {k: v for k, v in (stored or {"_id": doc_id}).items() if k not in ("version", "position")}
    position = position_of(event)
    return {**base, **fields, **({"position": position.document()} if position else {})}


def unit_fields(unit: UnitRegistered) -> dict[str, Any]:
    return {"name": unit.name, "valid_from": day(unit.valid_from), "valid_to": day(unit.valid_to),
            "email": str(unit.email) if unit.email else None,
            "webhook_url": str(unit.webhook_url) if unit.webhook_url else None}


def staff_fields(staff: StaffRegistered) -> dict[str, Any]:
    """An erased person's addresses read ERASED (shared/personal.py) and are kept so: they stay a
    recipient, planned as before their erasure (a rebuild plans, from a log where they read
    ERASED, the deliveries whose outcomes the log holds), and the delivery worker sends nothing
    to an ERASED address (`domain.current_address`)."""
    return {"unit_id": staff.unit_id, "full_name": staff.full_name, "email": str(staff.email),
            "roles": [role.value for role in staff.roles],
            "webhook_url": str(staff.webhook_url) if staff.webhook_url else None, "removed": False}


# ---- documents as the views domain.py decides with ---------------------------------------


def unit_of(doc: dict) -> UnitView:
    return UnitView(doc["_id"], doc["name"], date(doc["valid_from"]), date(doc.get("valid_to")),
                    doc.get("email"), doc.get("webhook_url"))


def staff_of(doc: dict) -> StaffView:
    roles = frozenset(Role(role) for role in doc.get("roles", []) if role in Role._value2member_map_)
    return StaffView(doc["_id"], doc["unit_id"], doc["full_name"], doc["email"], roles, doc.get("webhook_url"),
                     doc.get("removed", False))


def nomination_of(doc: dict) -> NominationView:
    return NominationView(doc["_id"], doc.get("unit_id"), doc.get("title"), frozenset(doc.get("panel", [])),
                          frozenset(doc.get("told_of_recognition", [])))


def view_of(units: Iterable[dict], staff: Iterable[dict], nominations: Iterable[dict] = ()) -> DirectoryView:
    """The directory as domain.py sees it. Only complete records count: a unit known only
    by an id, or a person only by a removal, cannot be written to or named."""
    view = DirectoryView()
    view.units = {doc["_id"]: unit_of(doc) for doc in units if "name" in doc}
    view.staff = {doc["_id"]: staff_of(doc) for doc in staff if "email" in doc}
    view.nominations = {doc["_id"]: nomination_of(doc) for doc in nominations}
    return view
