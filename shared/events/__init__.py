"""Every event of the design, and the registry from CloudEvents type to payload model."""

from shared.events.base import Payload, Reason
from shared.events.directory import PersonErased, StaffRegistered, StaffRemoved, UnitRegistered
from shared.events.evaluations import (
    CommentPosted,
    CommentRecorded,
    ConflictDeclared,
    CorrectionRecorded,
    CouncilDecisionRecorded,
    CriteriaSetRef,
    CriterionResult,
    DecisionCorrected,
    DiscussionOpened,
    DiscussionSummary,
    DiscussionTimeUp,
    EvaluationCancelled,
    EvaluationCompleted,
    EvaluationOverdue,
    EvaluationReminder,
    EvaluatorReplaced,
    ExemplarNotRecognized,
    ExemplarRecognized,
    ExemplarReplicated,
    ExemplarRevoked,
    InputRejected,
    PanelAssigned,
    PanelIncomplete,
    ReplicationReported,
    ReviewRecorded,
    ReviewReported,
    RevocationRecorded,
    ScoreRecorded,
    ScoreSubmitted,
    SupportNeeded,
    VisitReported,
)
from shared.events.nominations import (
    Evidence,
    NominationAccepted,
    NominationRejected,
    NominationSubmitted,
    NominationWithdrawn,
    Nominee,
    QuotaShortfall,
    WithdrawalRejected,
)
from shared.events.notifications import NotificationFailed, NotificationSent

CE_TYPE_PREFIX = "vn.gov.monre.exemplars."
VERSION = "v1"

ALL: tuple[type[Payload], ...] = (
    UnitRegistered, StaffRegistered, StaffRemoved, PersonErased,
    NominationSubmitted, NominationWithdrawn, NominationAccepted, NominationRejected,
    WithdrawalRejected, QuotaShortfall,
    ScoreSubmitted, ConflictDeclared, CouncilDecisionRecorded, ReviewReported,
    ReplicationReported, VisitReported, CommentPosted, DiscussionTimeUp, RevocationRecorded, CorrectionRecorded,
    PanelAssigned, PanelIncomplete, EvaluatorReplaced, ScoreRecorded, DiscussionOpened, CommentRecorded,
    EvaluationReminder, EvaluationOverdue, EvaluationCompleted, EvaluationCancelled, ExemplarRecognized, ExemplarNotRecognized,
    ReviewRecorded, SupportNeeded, ExemplarReplicated, ExemplarRevoked, DecisionCorrected, InputRejected,
    NotificationSent, NotificationFailed,
)  # fmt: skip

BY_TYPE: dict[str, type[Payload]] = {model.event_type: model for model in ALL}


def ce_type(event_type: str) -> str:
    """`nomination.submitted` -> `vn.gov.monre.exemplars.nomination.submitted.v1`."""
    return f"{CE_TYPE_PREFIX}{event_type}.{VERSION}"


def short_type(ce_type_: str) -> str | None:
    """The inverse of `ce_type`, or None for a type (or version) this code does not know."""
    suffix = f".{VERSION}"
    if not (ce_type_.startswith(CE_TYPE_PREFIX) and ce_type_.endswith(suffix)):
        return None
    name = ce_type_[len(CE_TYPE_PREFIX) : -len(suffix)]
    return name if name in BY_TYPE else None


__all__ = [name for name in dir() if not name.startswith("_")]
