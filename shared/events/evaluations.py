"""Evaluations: intake from evaluators, councils and units; what the evaluations service answers."""

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.events.base import (
    LONG_TEXT_MAX,
    MAX_COUNT,
    MAX_COMMENTS,
    MAX_CORRECTIONS,
    MAX_CRITERIA,
    MAX_GATES,
    MAX_NEW_ADOPTERS,
    MAX_PANEL,
    MAX_PARTICIPANTS,
    MAX_REASONS,
    MAX_STUDY_VISITS,
    Count,
    Day,
    Days,
    EventId,
    EventTypeName,
    Identifier,
    LongText,
    NominationId,
    Payload,
    Points,
    Reason,
    Score,
    Text,
    Year,
)
from shared.vocabulary import Field as SectorField
from shared.vocabulary import NomineeKind, Outcome, RecognitionLevel, RevocationGround, Trend

# ---- intake (exemplars.evaluations.intake) -------------------------------------------------

# A comment on one criterion: a paragraph. Twenty of them, with the sheet's own comment, keep the
# largest sheet under the intake's record limit even written as JSON escapes.
CRITERION_COMMENT_MAX = 1000
CriterionComment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=CRITERION_COMMENT_MAX)]


class ScoreSubmitted(Payload):
    """An evaluator's scores for every criterion of the evaluation's set (amendable until completion)."""

    event_type = "evaluation.score_submitted"

    nomination_id: NominationId
    evaluator_id: Identifier
    scores: dict[Identifier, Score] = Field(max_length=MAX_CRITERIA)
    # The evaluator's finding on each gate of the set (e.g. complete file): True = passed.
    gates: dict[Identifier, bool] = Field(default_factory=dict, max_length=MAX_GATES)
    comment: LongText | None = None
    # What the evaluator says of one criterion (its id -> the remark), beside the sheet's comment.
    criterion_comments: dict[Identifier, CriterionComment] = Field(default_factory=dict, max_length=MAX_CRITERIA)


class ConflictDeclared(Payload):
    event_type = "evaluation.conflict_declared"

    nomination_id: NominationId
    evaluator_id: Identifier
    reason: Text


# A contribution to a discussion says something: unlike an optional comment, never empty.
Remark = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT_MAX)]


class CommentPosted(Payload):
    """A panel member's contribution to the discussion of a panel whose totals diverge."""

    event_type = "evaluation.comment_posted"

    nomination_id: NominationId
    evaluator_id: Identifier
    comment: Remark


class DiscussionTimeUp(Payload):
    """The evaluations service's own clock: a discussion's time box has ended. Sent to the
    intake like any input, so the completion it causes is in the log and a rebuild replays it."""

    event_type = "evaluation.discussion_time_up"

    nomination_id: NominationId
    closes_on: Day  # the discussion's last day, as opened: a later discussion is not closed by it


class CouncilDecisionRecorded(Payload):
    event_type = "council.decision_recorded"

    nomination_id: NominationId
    recognized: bool
    level: RecognitionLevel | None = None  # required when recognized
    decision_ref: Text  # e.g. "123/QĐ-BTNMT"
    decided_on: Day
    note: LongText | None = None


class RevocationRecorded(Payload):
    """The council takes back a recognition obtained by fraud, false documents or an unlawful
    appraisal; the reward is recovered. The recognition's history stays readable, as revoked."""

    event_type = "council.revocation_recorded"

    nomination_id: NominationId
    revocation_ref: Text  # the revoking decision, e.g. "45/QĐ-BNNMT"
    revoked_on: Day  # from this day the title no longer stands and replications stop counting
    ground: RevocationGround
    reason: Remark  # what was found


class CorrectionRecorded(Payload):
    """The council corrects its decision: the level of a recognition, or the decision's reference.
    A field left out keeps its value; the reason is kept with the history of corrections."""

    event_type = "council.correction_recorded"

    nomination_id: NominationId
    level: RecognitionLevel | None = None
    decision_ref: Text | None = None
    corrected_on: Day
    reason: Remark


# A review's period: a year, a half, a quarter or a month of it ("2025", "2025-H1", "2025-Q3",
# "2025-06"). The evaluations service refuses any other (INVALID_PERIOD); forms check it first.
REVIEW_PERIOD = re.compile(r"^(\d{4})(?:-(?:H[12]|Q[1-4]|0[1-9]|1[0-2]))?$")


class ReviewReported(Payload):
    """A periodic check of an exemplar (or a fostered candidate)."""

    event_type = "exemplar.review_reported"

    exemplar_id: Identifier
    period: Identifier  # e.g. "2025-H1"
    influence: int = Field(ge=1, le=5)
    new_adopting_units: list[Identifier] = Field(default_factory=list, max_length=MAX_NEW_ADOPTERS)
    study_visits: int = Field(default=0, ge=0, le=MAX_STUDY_VISITS)
    trend: Trend
    difficulties: LongText | None = None
    needs_support: bool = False
    support_requested: LongText | None = None
    reported_by: Identifier


class ReplicationReported(Payload):
    """Unit `adopting_unit_id` applied exemplar `exemplar_id`."""

    event_type = "exemplar.replication_reported"

    exemplar_id: Identifier
    adopting_unit_id: Identifier
    applied_on: Day
    description: LongText | None = None
    reported_by: Identifier


class VisitReported(Payload):
    event_type = "exemplar.visit_reported"

    exemplar_id: Identifier
    visiting_unit_id: Identifier
    visited_on: Day
    participants: int = Field(default=1, ge=1, le=MAX_PARTICIPANTS)
    note: LongText | None = None


# ---- output (exemplars.evaluations) --------------------------------------------------------


class CriteriaSetRef(Payload):
    set_id: Identifier
    version: int = Field(ge=1, le=MAX_COUNT)


class PanelAssigned(Payload):
    event_type = "evaluation.panel_assigned"

    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    field: SectorField
    nominee_kind: NomineeKind
    title: Text
    criteria: CriteriaSetRef
    evaluators: list[Identifier] = Field(max_length=MAX_PANEL)
    deadline: Day


class PanelIncomplete(Payload):
    """Too few eligible evaluators: the evaluation waits until the directory has more."""

    event_type = "evaluation.panel_incomplete"

    nomination_id: NominationId
    unit_id: Identifier
    title: Text
    required: int = Field(ge=1, le=MAX_PANEL)
    assigned: list[Identifier] = Field(max_length=MAX_PANEL)


class EvaluatorReplaced(Payload):
    event_type = "evaluation.evaluator_replaced"

    nomination_id: NominationId
    title: Text
    recused_id: Identifier
    replacement_id: Identifier | None = None  # None: nobody eligible is left (absent on the wire)
    reason: Text
    deadline: Day


class ScoreRecorded(ScoreSubmitted):
    """A score sheet accepted, as sent: a panel member's first or an amendment. What the others
    may see once their own sheet is in."""

    event_type = "evaluation.score_recorded"

    total: Points  # this sheet's weighted total
    amended: bool = False  # replaces the member's earlier sheet


class DiscussionOpened(Payload):
    """The whole panel has scored and its totals differ by more than the threshold: the members
    discuss, may amend, and the evaluation completes when they agree or on `closes_on`'s end."""

    event_type = "evaluation.discussion_opened"

    nomination_id: NominationId
    unit_id: Identifier
    title: Text
    evaluators: list[Identifier] = Field(max_length=MAX_PANEL)
    evaluator_totals: dict[Identifier, Points] = Field(max_length=MAX_PANEL)
    spread: Points
    threshold: Points
    closes_on: Day


class CommentRecorded(Payload):
    event_type = "evaluation.comment_recorded"

    nomination_id: NominationId
    evaluator_id: Identifier
    comment: Remark
    number: int = Field(ge=1, le=MAX_COMMENTS)  # its place in the discussion


class EvaluationReminder(Payload):
    event_type = "evaluation.reminder"

    nomination_id: NominationId
    evaluator_id: Identifier
    title: Text
    deadline: Day
    days_left: Days


class EvaluationOverdue(Payload):
    event_type = "evaluation.overdue"

    nomination_id: NominationId
    evaluator_id: Identifier
    title: Text
    deadline: Day
    days_overdue: Days


class CriterionResult(Payload):
    criterion_id: Identifier
    name: Text
    weight: Points
    maximum: Score
    average: Score  # mean of the panel's scores
    weighted: Points  # contribution to the total, out of `weight`


class DiscussionSummary(Payload):
    """How a divergent panel's discussion ended."""

    opened_on: Day
    closed_on: Day
    closed_by: Literal["agreement", "time_box"]  # totals came within the threshold, or time ran out
    spread_at_opening: Points
    comments: int = Field(ge=0, le=MAX_COMMENTS)


class EvaluationCompleted(Payload):
    """The panel's recommendation to the council."""

    event_type = "evaluation.completed"

    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    field: SectorField
    title: Text
    criteria: CriteriaSetRef
    total: Points
    breakdown: list[CriterionResult] = Field(max_length=MAX_CRITERIA)
    gates: dict[Identifier, bool] = Field(max_length=MAX_GATES)
    outcome: Outcome
    evaluator_totals: dict[Identifier, Points] = Field(max_length=MAX_PANEL)
    divergent: bool
    spread: Points
    discussion: DiscussionSummary | None = None  # absent when the panel did not diverge


class EvaluationCancelled(Payload):
    event_type = "evaluation.cancelled"

    nomination_id: NominationId
    reason: Text


class _Recognition(Payload):
    """Which recognition: what its announcement and its revocation both name."""

    exemplar_id: Identifier
    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    field: SectorField
    nominee_name: Text
    nominee_staff_id: Identifier | None = None  # an individual: whose name it is (sealed under their key)
    title: Text


class ExemplarRecognized(_Recognition):
    event_type = "exemplar.recognized"

    level: RecognitionLevel
    decision_ref: Text
    total: Points


class ExemplarNotRecognized(Payload):
    event_type = "exemplar.not_recognized"

    exemplar_id: Identifier
    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    title: Text
    decision_ref: Text
    fostering: bool  # a fostering record was opened (outcome "keep fostering")


class ExemplarRevoked(_Recognition):
    """A recognition revoked: it leaves the recognised lists, its history stays, as revoked."""

    event_type = "exemplar.revoked"

    level: RecognitionLevel  # the level the title had
    decision_ref: Text  # the recognising decision, as last corrected
    revocation_ref: Text
    revoked_on: Day
    ground: RevocationGround
    reason: Remark
    distinct_units: Count  # units that had applied it before `revoked_on`: the spread it keeps


class DecisionCorrected(Payload):
    """A council decision corrected: the new values beside the ones they replace."""

    event_type = "exemplar.decision_corrected"

    exemplar_id: Identifier
    nomination_id: NominationId
    unit_id: Identifier
    year: Year
    title: Text
    recognized: bool
    level: RecognitionLevel | None = None  # None: not recognised
    previous_level: RecognitionLevel | None = None
    decision_ref: Text
    previous_decision_ref: Text
    corrected_on: Day
    reason: Remark
    number: int = Field(ge=1, le=MAX_CORRECTIONS)  # its place in the decision's corrections


class ReviewRecorded(Payload):
    event_type = "exemplar.review_recorded"

    exemplar_id: Identifier
    unit_id: Identifier
    title: Text
    period: Identifier
    influence: int = Field(ge=1, le=5)
    trend: Trend
    adopting_units: Count  # distinct units applying it, all time
    study_visits: Count  # all time
    needs_support: bool


class SupportNeeded(Payload):
    event_type = "exemplar.support_needed"

    exemplar_id: Identifier
    unit_id: Identifier
    title: Text
    period: Identifier
    trend: Trend
    support_requested: LongText | None = None
    difficulties: LongText | None = None


class ExemplarReplicated(Payload):
    event_type = "exemplar.replicated"

    exemplar_id: Identifier
    unit_id: Identifier  # the exemplar's own unit
    title: Text
    adopting_unit_id: Identifier
    distinct_units: Count  # running count of distinct units applying it
    # False when the unit had applied it before: the report is kept, the count does not move.
    new_unit: bool = True


class InputRejected(Payload):
    """A well-formed intake event the evaluations service refuses on business grounds."""

    event_type = "evaluation.input_rejected"

    input_type: EventTypeName
    input_id: EventId  # the refused input's CloudEvents id
    subject: Identifier  # the nomination or exemplar concerned
    sender_id: Identifier | None = None
    reasons: list[Reason] = Field(max_length=MAX_REASONS)
