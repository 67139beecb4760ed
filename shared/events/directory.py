"""`exemplars.directory`: units and staff, as the units' HR systems publish them."""

import datetime as dt

from pydantic import EmailStr, Field, HttpUrl

from shared.events.base import Identifier, Payload, Text
from shared.vocabulary import Field as SectorField
from shared.vocabulary import Role, UnitKind


class UnitRegistered(Payload):
    """A unit, or a new version of it (rename, new parent, closing date)."""

    event_type = "unit.registered"

    unit_id: Identifier
    name: Text
    kind: UnitKind = UnitKind.OTHER
    parent_id: Identifier | None = None
    fields: list[SectorField] = Field(default_factory=list)
    valid_from: dt.date
    valid_to: dt.date | None = None
    email: EmailStr | None = None
    webhook_url: HttpUrl | None = None


class StaffRegistered(Payload):
    """A staff member, or a new version of them (new roles, new contact)."""

    event_type = "staff.registered"

    staff_id: Identifier
    unit_id: Identifier
    full_name: Text
    position: Text | None = None
    email: EmailStr
    roles: list[Role] = Field(default_factory=list)
    # Fields of expertise, used to prefer evaluators of a nomination's field.
    fields: list[SectorField] = Field(default_factory=list)
    webhook_url: HttpUrl | None = None


class StaffRemoved(Payload):
    event_type = "staff.removed"

    staff_id: Identifier
    unit_id: Identifier
    removed_on: dt.date | None = None
