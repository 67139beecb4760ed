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

`NotificationStore` turns this into one guarded upsert (`earlier_than`); the rebuild's
memory store applies `Position.after` to the same effect, so a rebuild equals the live view.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shared.envelope import Event
from shared.events import StaffRegistered, UnitRegistered


def ms(moment: dt.datetime) -> dt.datetime:
    """BSON keeps milliseconds (UTC): positions compare in memory as the database compares them."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def day(value: dt.date | None) -> dt.datetime | None:
    """BSON has no date type: days are stored as UTC midnights."""
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC) if value else None


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


def earlier_than(position: Position) -> dict[str, Any]:
    """A MongoDB filter: the document was last written by a record before `position` (or by
    none with a position: a document from before positions, or from a tool)."""
    return {"$or": [
        {"position": None},  # missing or null
        {"position.partition": position.partition, "position.offset": {"$lt": position.offset}},
        {"position.partition": {"$ne": position.partition}, "position.at": {"$lt": position.at}},
        {"position.partition": {"$lt": position.partition}, "position.at": position.at},
    ]}


def unit_fields(unit: UnitRegistered) -> dict[str, Any]:
    return {"name": unit.name, "valid_from": day(unit.valid_from), "valid_to": day(unit.valid_to),
            "email": str(unit.email) if unit.email else None,
            "webhook_url": str(unit.webhook_url) if unit.webhook_url else None}


def staff_fields(staff: StaffRegistered) -> dict[str, Any]:
    return {"unit_id": staff.unit_id, "full_name": staff.full_name, "email": str(staff.email),
            "roles": [role.value for role in staff.roles],
            "webhook_url": str(staff.webhook_url) if staff.webhook_url else None, "removed": False}
