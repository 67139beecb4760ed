"""Nominations: the intake a unit system sends, and what the nominations service answers."""

from pydantic import Field, model_validator

from shared.events.base import (
    MAX_ACHIEVEMENTS,
    MAX_EVIDENCE,
    MAX_MEMBERS,
    MAX_REASONS,
    Count,
    Day,
    Identifier,
    LongText,
    NominationId,
    Payload,
    Reason,
    Text,
    Url,
    Year,
)
from shared.vocabulary import EvidenceKind, NomineeKind


class Nominee(Payload):
    kind: NomineeKind
    name: Text
    # For an individual: who they are in the directory and their position.
    staff_id: Identifier | None = None
    position: Text | None = None
    # For a collective: how many people it has.
    members: int | None = Field(default=None, ge=1, le=MAX_MEMBERS)

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> "Nominee":
        if self.kind is NomineeKind.INDIVIDUAL and not self.staff_id:
            raise ValueError("an individual nominee needs staff_id")
        # A collective names no person: a staff id on it would make its name one person's
        # data, sealed under their key and erased with them (README, "Personal data").
        if self.kind is NomineeKind.COLLECTIVE and (self.staff_id or self.position):
            raise ValueError("a collective nominee has no staff_id or position")
        return self


class Evidence(Payload):
    kind: EvidenceKind
    title: Text
    url: Url


class NominationSubmitted(Payload):
    """Intake: a unit nominates a collective or an individual for the year."""

    event_type = "nomination.submitted"

    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    nominee: Nominee
    # A code of shared.vocabulary.Field; an unknown one is a business refusal, not poison.
    field: Identifier
    movement: Text  # the emulation movement or campaign (phong trào thi đua)
    title: Text  # the model's title
    summary: LongText
    achievements: list[Text] = Field(default_factory=list, max_length=MAX_ACHIEVEMENTS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    started_on: Day | None = None  # when the model began operating
    disciplinary_record: bool = False  # any discipline at warning level or above
    submitter_id: Identifier


class NominationWithdrawn(Payload):
    """Intake: a unit asks to withdraw; output: the withdrawal took effect.

    The same type on both topics, as the design names it; the service fills `year` and
    `title` when it confirms.
    """

    event_type = "nomination.withdrawn"

    nomination_id: NominationId
    unit_id: Identifier
    requested_by: Identifier
    reason: Text | None = None
    year: Year | None = None
    title: Text | None = None


class NominationAccepted(NominationSubmitted):
    """Everything submitted, plus the unit's quota after this acceptance."""

    event_type = "nomination.accepted"

    accepted_in_year: Count  # accepted nominations of the unit this year, this one included
    yearly_maximum: Count  # from the programme's configuration


class NominationRejected(Payload):
    event_type = "nomination.rejected"

    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    submitter_id: Identifier | None = None
    title: Text | None = None
    reasons: list[Reason] = Field(max_length=MAX_REASONS)


class WithdrawalRejected(Payload):
    event_type = "nomination.withdrawal_rejected"

    nomination_id: NominationId
    unit_id: Identifier
    requested_by: Identifier
    reasons: list[Reason] = Field(max_length=MAX_REASONS)


class QuotaShortfall(Payload):
    """A unit has fewer accepted nominations than the yearly minimum after the reminder date."""

    event_type = "unit.quota_shortfall"

    unit_id: Identifier
    year: Year
    accepted: Count
    yearly_minimum: Count
    checked_on: Day
