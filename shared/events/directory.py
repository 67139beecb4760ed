"""`exemplars.directory`: units and staff, as the units' HR systems publish them."""

from pydantic import Field

from shared.events.base import Day, Email, Erased, Identifier, Payload, Text, Url
from shared.vocabulary import Field as SectorField
from shared.vocabulary import Role, UnitKind

# Each code at most once: a list can never be longer than the vocabulary it draws from.
MAX_FIELDS = len(SectorField)
MAX_ROLES = len(Role)


class UnitRegistered(Payload):
    """A unit, or a new version of it (rename, new parent, closing date)."""

    event_type = "unit.registered"

    unit_id: Identifier
    name: Text
    kind: UnitKind = UnitKind.OTHER
    parent_id: Identifier | None = None
    fields: list[SectorField] = Field(default_factory=list, max_length=MAX_FIELDS)
    valid_from: Day
    valid_to: Day | None = None
    email: Email | None = None
    webhook_url: Url | None = None


class StaffRegistered(Payload):
    """A staff member, or a new version of them (new roles, new contact)."""

    event_type = "staff.registered"

    staff_id: Identifier
    unit_id: Identifier
    full_name: Text
    position: Text | None = None
    email: Email | Erased  # personal fields are sealed in the log (shared/personal.py)
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    # Fields of expertise, used to prefer evaluators of a nomination's field.
    fields: list[SectorField] = Field(default_factory=list, max_length=MAX_FIELDS)
    webhook_url: Url | Erased | None = None


class StaffRemoved(Payload):
    event_type = "staff.removed"

    staff_id: Identifier
    unit_id: Identifier
    removed_on: Day | None = None


class PersonErased(Payload):
    """A person's data erased at their request (Law 91/2025/QH15): their key is already deleted
    from the key store, so every sealed copy in the log reads as erased; each service clears
    what its projection holds of them."""

    event_type = "person.erased"

    staff_id: Identifier
    erased_on: Day
