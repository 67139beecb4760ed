"""Topic names of the design, who writes them, and which event types each carries."""

from dataclasses import dataclass

NOMINATIONS_INTAKE = "exemplars.nominations.intake"
EVALUATIONS_INTAKE = "exemplars.evaluations.intake"
DIRECTORY = "exemplars.directory"
NOMINATIONS = "exemplars.nominations"
EVALUATIONS = "exemplars.evaluations"
NOTIFICATIONS = "exemplars.notifications"

DLQ_SUFFIX = ".dlq"

# Topics outside systems write: their records are bounded in size before anything reads them.
OUTSIDE_WRITERS = frozenset({NOMINATIONS_INTAKE, EVALUATIONS_INTAKE, DIRECTORY})
# Topics whose inputs are answered, refusals included (a coded business refusal on the
# service's topic); on the others a refused input can only be dead-lettered.
INTAKES = frozenset({NOMINATIONS_INTAKE, EVALUATIONS_INTAKE})


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class TopicSpec:
    name: str
    writer: str
    key: str
    event_types: tuple[str, ...]
    partitions: int = 6


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(NOMINATIONS_INTAKE, "unit systems", "nomination id",
              ("nomination.submitted", "nomination.withdrawn")),
    TopicSpec(EVALUATIONS_INTAKE, "evaluator, council and unit systems", "nomination id or exemplar id",
              ("evaluation.score_submitted", "evaluation.conflict_declared", "council.decision_recorded",
               "exemplar.review_reported", "exemplar.replication_reported", "exemplar.visit_reported",
               "evaluation.comment_posted", "evaluation.discussion_time_up", "council.revocation_recorded",
               "council.correction_recorded")),
    TopicSpec(DIRECTORY, "unit HR systems (an erasure: the operators' privacy tool)", "unit id (an erasure: the staff id)",
              ("unit.registered", "staff.registered", "staff.removed", "person.erased")),
    TopicSpec(NOMINATIONS, "nominations service", "nomination id",
              ("nomination.accepted", "nomination.rejected", "nomination.withdrawn",
               "nomination.withdrawal_rejected", "unit.quota_shortfall")),
    TopicSpec(EVALUATIONS, "evaluations service", "nomination id or exemplar id",
              ("evaluation.panel_assigned", "evaluation.panel_incomplete", "evaluation.evaluator_replaced",
               "evaluation.score_recorded", "evaluation.discussion_opened", "evaluation.comment_recorded",
               "evaluation.reminder", "evaluation.overdue", "evaluation.completed", "evaluation.cancelled",
               "exemplar.recognized", "exemplar.not_recognized", "exemplar.review_recorded",
               "exemplar.support_needed", "exemplar.replicated", "exemplar.revoked", "exemplar.decision_corrected",
               "evaluation.input_rejected")),
    TopicSpec(NOTIFICATIONS, "notifications service", "recipient id",
              ("notification.sent", "notification.failed")),
)  # fmt: skip

BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in TOPICS}


def all_topic_names() -> list[str]:
    """Every topic the system needs, dead-letter topics included."""
    names = [spec.name for spec in TOPICS]
    return names + [dlq(name) for name in names]
