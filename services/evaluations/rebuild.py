"""Rebuilding the evaluations projection from the log, in memory (design: shared/replay.py).

The service's own handlers run through the same unit of work as live, over memory
(`shared.documents.MemoryDocuments`); each answer is pinned to the logged event of the same
id. Panel choices depend on evaluators' loads at the moment, which depended on how the live
instances interleaved partitions: `PinnedSelection`, the handlers' injected `select`, takes
them from the answers to the input being decided. Reminders and overdue notices answer the
clock, not an input: they come from the log as is.
"""

from collections.abc import Collection, Iterable

from services.evaluations import domain
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import (
    EVALUATIONS,
    EXEMPLARS,
    LOADS,
    REPLICATIONS,
    REVIEWS,
    SOURCE,
    STAFF,
    UNITS,
    VISITS,
)
from services.evaluations.domain import Candidate
from services.evaluations.handlers import Evaluations
from services.evaluations.settings import EvaluationsSettings
from services.evaluations.store import notice_document
from shared import replay
from shared.envelope import Event, derived_id
from shared.events import (
    EvaluationOverdue,
    EvaluationReminder,
    EvaluatorReplaced,
    NominationAccepted,
    PanelAssigned,
    PanelIncomplete,
)
from shared.programme import load_programme
from shared.replay import Answers, Comparison, Logged
from shared.unit_of_work import ANSWERS
from shared.vocabulary import Field

COMPARISON: dict[str, Comparison] = {
    EVALUATIONS: Comparison(
        # The time of the last input applied, which may come from any of three topics, whose
        # relative order the log keeps only as produce time, not as the order applied.
        ignore=frozenset({"updated_at"}),
        # Changed by inputs of different topics (nominations, intake, directory), in arrival order.
        unordered=frozenset({"recused", "vacancies", "panel"})),
    # Every write after the council's comes from one partition (intake, keyed by exemplar).
    EXEMPLARS: Comparison(),
    REVIEWS: Comparison(),
    REPLICATIONS: Comparison(),
    VISITS: Comparison(),
    UNITS: Comparison(),
    STAFF: Comparison(),
    ANSWERS: Comparison(),
    "notices": Comparison(),
    LOADS: Comparison(),  # `open` is kept sorted
}
NOTICE_TYPES = (EvaluationReminder.event_type, EvaluationOverdue.event_type)


async def rebuild(inputs: list[Logged], answers: Answers, settings: EvaluationsSettings) -> dict[str, list[dict]]:
    """The evaluations projection `inputs` lead to, every decision taken from `answers`."""
    policy = load_programme(settings.programme_file).evaluation
    handlers = Evaluations(load_criteria(settings.criteria_dir), policy, settings.replacement_min_days,
                           select=PinnedSelection(answers))
    documents = await replay.run(inputs, handlers, answers)
    for event in answers.of_type(*NOTICE_TYPES):
        if (key := notice_key(event, policy.reminder_days_before)) is None:
            answers.divergent.append(event)  # an id no step of this programme yields
            continue
        documents.put("notices", notice_document(event.data.nomination_id, event.data.evaluator_id, key, event,
                                                 published=True))
    return documents.documents()


def notice_key(event: Event, reminder_days: Iterable[int]) -> str | None:
    """The schedule's step ("T-7", "T-2", "overdue") a notice was sent for: its id is derived from it."""
    reminder = event.type == EvaluationReminder.event_type
    keys = [domain.reminder_key(d) for d in reminder_days] if reminder else [domain.OVERDUE]
    of = (event.data.nomination_id, event.data.evaluator_id)
    return next((k for k in keys if derived_id(SOURCE, event.type, *of, k) == event.id), None)


class PinnedSelection:
    """`domain.select_panel`'s stand-in: who the service chose, read from its answers to the
    input being decided (`source`). Ids name their input and, for a replacement, the member
    leaving or joining (`decisions.derived`, `handlers.Evaluations`)."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.replaced: dict[str, list[Event]] = {}  # in log order: a fill's newcomers join in it
        for event in answers.of_type(EvaluatorReplaced.event_type):
            self.replaced.setdefault(event.data.nomination_id, []).append(event)

    def __call__(self, source: Event, nomination_id: str, nomination_field: Field, candidates: Iterable[Candidate], *,
                 size: int, excluded_units: Collection[str], excluded_staff: Collection[str] = (),
                 panel_units: Collection[str] = ()) -> list[str]:
        key = source.dedup_key
        if source.type == NominationAccepted.event_type:
            return self._panel(key)
        if announced := self._panel(key, nomination_id):  # a waiting panel filled up
            return [m for m in announced if m not in excluded_staff]  # the current members are excluded
        replaced = self.replaced.get(nomination_id, [])

        def named(event: Event, staff_id: str | None) -> bool:
            return staff_id is not None and event.id == derived_id(key, event.type, nomination_id, staff_id)

        for event in replaced:  # a departure: named after who left, whom the choice excludes
            if event.data.recused_id in excluded_staff and named(event, event.data.recused_id):
                return [event.data.replacement_id] if event.data.replacement_id else []
        return [e.data.replacement_id for e in replaced if named(e, e.data.replacement_id)]  # seats filled

    def _panel(self, key: str, *parts: str) -> list[str]:
        for model in (PanelAssigned, PanelIncomplete):
            if (event := self.answers.by_id.get(derived_id(key, model.event_type, *parts))) is not None:
                return list(event.data.evaluators if model is PanelAssigned else event.data.assigned)
        return []
