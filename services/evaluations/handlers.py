"""The evaluation's life: panel, recusals, cancellation (scores, discussion and completion: `scoring`;
the council's decisions, corrections and revocations: `council`; a person's erasure: `erasure`).

No I/O here: `shared.unit_of_work` loads what `needs` names, runs `decide` per event and
commits (the documents are listed in `decisions.py`). `routes()` is every event type this
service consumes, per topic, and who handles it.

"Today" is the triggering event's receive time (`Event.received_at`: the broker's, bounded
by the service's clock) for what outside systems send, and the time the nominations service
gave its own `nomination.accepted`; never an outside sender's `time` nor the wall clock, so
rebuilding the projection from offset 0 decides the same deadlines.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from services.evaluations import council, domain, erasure, follow_up, scoring
from services.evaluations.criteria import CriteriaRegistry
from services.evaluations.decisions import (
    EVALUATIONS,
    EXEMPLARS,
    REPLICATIONS,
    REVIEWS,
    STAFF,
    UNITS,
    VISITS,
    derived,
    make,
    refuse,
    review_id,
)
from services.evaluations.directory import (
    ALL_LOADS,
    DIRECTORY_UNITS,
    PANEL_READS,
    STILL_SCORING,
    Pool,
    counted,
    pool,
)
from services.evaluations.domain import (
    CANCELLABLE,
    Candidate,
    Status,
    Thresholds,
)
from services.evaluations.scoring import recused_of, status_of
from shared import topics
from shared.days import date, day
from shared.envelope import Event, signed_by
from shared.events import (
    CommentPosted,
    ConflictDeclared,
    CorrectionRecorded,
    CouncilDecisionRecorded,
    DiscussionTimeUp,
    EvaluationCancelled,
    EvaluatorReplaced,
    NominationAccepted,
    NominationWithdrawn,
    PanelAssigned,
    PanelIncomplete,
    PersonErased,
    Reason,
    ReplicationReported,
    ReviewReported,
    RevocationRecorded,
    ScoreSubmitted,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
    VisitReported,
)
from shared.programme import EvaluationPolicy
from shared.unit_of_work import NOTHING, QUERIES, Decision, Needs, Put, View
from shared.vocabulary import EvidenceKind, Field, NomineeKind


class Select(Protocol):
    """Who joins a panel, best first (`domain.select_panel`'s arguments), for the input `source`.
    Live, by the evaluators' loads; in a rebuild, as published (`rebuild.PinnedSelection`): the
    loads it was chosen on depended on how partitions interleaved, which the log does not keep."""

    def __call__(self, source: Event, nomination_id: str, nomination_field: Field, candidates: Iterable[Candidate], *,
                 size: int, excluded_units: Collection[str], excluded_staff: Collection[str] = (),
                 panel_units: Collection[str] = ()) -> list[str]: ...


def by_load(source: Event, *args: Any, **kwargs: Any) -> list[str]:
    return domain.select_panel(*args, **kwargs)


@dataclass
class Evaluations:
    registry: CriteriaRegistry
    policy: EvaluationPolicy
    replacement_min_days: int
    select: Select = by_load

    def routes(self) -> dict[str, dict[str, object]]:
        """Every event type consumed, per topic, and its handler."""
        return {
            topics.EVALUATIONS_INTAKE: {
                "evaluation.score_submitted": scoring.score_submitted,
                "evaluation.conflict_declared": self.conflict_declared,
                "evaluation.comment_posted": scoring.comment_posted,
                "evaluation.discussion_time_up": scoring.discussion_time_up,
                "council.decision_recorded": council.decision_recorded,
                "council.revocation_recorded": council.revocation_recorded,
                "council.correction_recorded": council.correction_recorded,
                "exemplar.review_reported": follow_up.review_reported,
                "exemplar.replication_reported": follow_up.replication_reported,
                "exemplar.visit_reported": follow_up.visit_reported,
            },
            topics.NOMINATIONS: {"nomination.accepted": self.accepted, "nomination.withdrawn": self.withdrawn},
            topics.DIRECTORY: {"unit.registered": self.unit_registered, "staff.registered": self.staff_registered,
                               "staff.removed": self.staff_removed, "person.erased": erasure.person_erased},
        }

    def needs(self, event: Event) -> Needs:
        data = event.data
        match data:
            case NominationAccepted():
                return {EVALUATIONS: [data.nomination_id], QUERIES: PANEL_READS}
            case NominationWithdrawn() | ScoreSubmitted():
                return {EVALUATIONS: [data.nomination_id], QUERIES: {ALL_LOADS}}
            case ConflictDeclared():
                return {EVALUATIONS: [data.nomination_id], QUERIES: PANEL_READS}
            case CommentPosted():  # moves no evaluator's load
                return {EVALUATIONS: [data.nomination_id]}
            case DiscussionTimeUp():
                return {EVALUATIONS: [data.nomination_id], QUERIES: {ALL_LOADS}}
            case CouncilDecisionRecorded() | RevocationRecorded() | CorrectionRecorded():
                return council.needs(data.nomination_id)
            case ReviewReported():
                return {EXEMPLARS: [data.exemplar_id], REVIEWS: [review_id(data.exemplar_id, data.period)],
                        QUERIES: {DIRECTORY_UNITS}}
            case ReplicationReported():
                return {EXEMPLARS: [data.exemplar_id], REPLICATIONS: [event.dedup_key], QUERIES: {DIRECTORY_UNITS}}
            case VisitReported():
                return {EXEMPLARS: [data.exemplar_id], VISITS: [event.dedup_key], QUERIES: {DIRECTORY_UNITS}}
            case UnitRegistered():
                return {UNITS: [data.unit_id]}
            case StaffRegistered() | StaffRemoved():
                return {STAFF: [data.staff_id], QUERIES: PANEL_READS | {STILL_SCORING}}
            case PersonErased():  # moves no panel: their fields only (`erasure`)
                return erasure.needs(data.staff_id)
        return {}

    def __post_init__(self) -> None:
        self._by_type = {t: handler for by_type in self.routes().values() for t, handler in by_type.items()}

    def decide(self, view: View, event: Event) -> Decision:
        return counted(view, self._by_type[event.type](view, event))

    def refuse(self, event: Event, code: str, message: str) -> Decision:
        """A sender that may not say this (shared/credentials.py): answered, nothing changes."""
        data = event.data
        sender = getattr(data, "evaluator_id", None) or getattr(data, "reported_by", None)
        return refuse(event, [Reason(code=code, message=message)], subject=event.key, sender=sender)

    # ---- exemplars.nominations -------------------------------------------------------------

    def accepted(self, view: View, event: Event) -> Decision:
        nom: NominationAccepted = event.data
        if view.get(EVALUATIONS, nom.nomination_id) is not None:
            return NOTHING  # opened already, by another input of the same nomination
        criteria = self.registry.for_(nom.field, nom.nominee.kind)
        outcomes = criteria.outcomes
        thresholds = Thresholds(
            recognize_from=outcomes.recognize_from if outcomes else self.policy.recognize_from,
            foster_from=outcomes.foster_from if outcomes else self.policy.foster_from,
            divergence_spread=self.policy.divergence_spread, discussion_days=self.policy.discussion_days)
        # nomination.accepted is the nominations service's own event (a producer of ours, not
        # an outside sender): its time is that service's clock when it accepted.
        today = event.time.date()
        doc = {
            "_id": nom.nomination_id, "unit_id": nom.unit_id, "year": nom.year, "field": Field(nom.field).value,
            "nominee_kind": NomineeKind(nom.nominee.kind).value, "nominee_name": nom.nominee.name,
            "nominee_staff_id": nom.nominee.staff_id,
            "excluded_staff": sorted({nom.submitter_id, *([nom.nominee.staff_id] if nom.nominee.staff_id else [])}),
            "title": nom.title, "movement": nom.movement,
            "facts": {"evidence": sorted({EvidenceKind(e.kind).value for e in nom.evidence}),
                      "disciplinary_record": nom.disciplinary_record, "started_on": day(nom.started_on),
                      "as_of": day(today)},
            # Pinned: a new version of the set or of the programme never changes this evaluation.
            "criteria": criteria.snapshot(), "criteria_ref": {**criteria.ref.model_dump(), "fingerprint": criteria.fingerprint},
            "thresholds": thresholds.__dict__, "panel_size": self.policy.panel_size,
            "panel": [], "recused": [], "vacancies": [], "sheets": [], "opened": False,
            "deadline": day(domain.scoring_deadline(today, self.policy.scoring_days)),
            "result": None, "decision": None, "created_at": event.time, "updated_at": event.time,
        }
        panels = pool(view)
        doc["panel"] = self.select(event, nom.nomination_id, nom.field, panels.candidates, size=doc["panel_size"],
                                   excluded_units=panels.excluded_units(doc), excluded_staff=doc["excluded_staff"])
        doc["opened"] = len(doc["panel"]) >= doc["panel_size"]
        doc["status"] = (Status.OPEN if doc["opened"] else Status.PANEL_INCOMPLETE).value
        return Decision.of(Put(EVALUATIONS, doc), publish=[self._panel_event(doc, event)])

    def withdrawn(self, view: View, event: Event) -> Decision:
        withdrawal: NominationWithdrawn = event.data
        doc = view.get(EVALUATIONS, withdrawal.nomination_id)
        if doc is None or Status(doc["status"]) not in CANCELLABLE:
            return NOTHING  # nothing open to cancel
        cancelled = EvaluationCancelled(nomination_id=doc["_id"], reason=withdrawal.reason or domain.WITHDRAWN)
        return Decision.of(Put(EVALUATIONS, {**doc, "status": Status.CANCELLED.value, "cancelled_at": event.time,
                                             "updated_at": event.time}),
                           publish=[derived(cancelled, event, doc["_id"])])

    # ---- exemplars.evaluations.intake ------------------------------------------------------

    def conflict_declared(self, view: View, event: Event) -> Decision:
        declared: ConflictDeclared = event.data
        doc = view.get(EVALUATIONS, declared.nomination_id)
        reasons = domain.check_conflict(nomination_id=declared.nomination_id, status=status_of(doc),
                                        panel=doc["panel"] if doc else [], recused=recused_of(doc),
                                        evaluator_id=declared.evaluator_id)
        if reasons:
            return refuse(event, reasons, subject=declared.nomination_id, sender=declared.evaluator_id)
        new, output = self._replace(pool(view), doc, declared.evaluator_id, declared.reason, event)
        return Decision.of(Put(EVALUATIONS, new), publish=output)

    # ---- exemplars.directory ---------------------------------------------------------------

    def unit_registered(self, view: View, event: Event) -> Decision:
        unit: UnitRegistered = event.data
        doc = view.get(UNITS, unit.unit_id) or {"_id": unit.unit_id}
        return Decision.of(Put(UNITS, {**doc, "name": unit.name, "parent_id": unit.parent_id,
                                       "valid_from": day(unit.valid_from), "valid_to": day(unit.valid_to)}))

    def staff_registered(self, view: View, event: Event) -> Decision:
        staff: StaffRegistered = event.data
        doc = view.get(STAFF, staff.staff_id) or {"_id": staff.staff_id}
        return self._staff_changed(view, event, {
            **doc, "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "fields": [f.value for f in staff.fields], "removed": False})

    def staff_removed(self, view: View, event: Event) -> Decision:
        removed: StaffRemoved = event.data
        doc = view.get(STAFF, removed.staff_id) or {"_id": removed.staff_id}
        return self._staff_changed(view, event, {**doc, "unit_id": removed.unit_id, "removed": True})

    def _staff_changed(self, view: View, event: Event, staff: dict) -> Decision:
        """A staff member registered, changed or left: the directory first (the panel rules read
        it), then members who no longer qualify are replaced and empty seats filled."""
        staff_id = staff["_id"]
        panels = pool(view, changed=staff)
        by_id = {c.staff_id: c for c in panels.candidates}
        changes, output = [Put(STAFF, staff)], []
        for doc in view.where(STILL_SCORING):
            is_member = staff_id in doc["panel"]
            if not is_member and (len(doc["panel"]) >= doc["panel_size"] or staff_id not in by_id):
                continue  # neither a member who may have to go nor a seat this evaluator may take
            if is_member and not domain.still_eligible(by_id.get(staff_id), panels.excluded_units(doc)):
                new, events = self._replace(panels, doc, staff_id, domain.NO_LONGER_ELIGIBLE, event)
            else:
                new, events = self._fill(panels, doc, event)
            if new is not None:
                changes.append(Put(EVALUATIONS, {**new, "updated_at": event.time}))
                output += events
        return Decision.of(*changes, publish=output)

    # ---- panel changes ---------------------------------------------------------------------

    def _replace(self, panels: Pool, doc: dict, leaving: str, reason: str, event: Event) -> tuple[dict, list[Event]]:
        """`leaving` goes (recused or no longer eligible); the best eligible evaluator takes the seat."""
        remaining = [p for p in doc["panel"] if p != leaving]
        replacement = self._select(panels, doc, 1, remaining, event, leaving)
        today = event.received_at.date()
        deadline = date(doc["deadline"])
        if replacement:
            deadline = domain.deadline_after_replacement(deadline, today, self.replacement_min_days)
        panel = remaining + replacement
        vacancies = list(doc["vacancies"])
        if not replacement and doc["opened"]:
            vacancies.append({"recused_id": leaving, "reason": reason})
        full = len(panel) >= doc["panel_size"]
        new = {
            **doc, "panel": panel, "deadline": day(deadline), "vacancies": vacancies,
            "recused": doc["recused"] + [{"evaluator_id": leaving, "reason": reason, "at": event.time,
                                          "replacement_id": replacement[0] if replacement else None,
                                          "sender": signed_by(event)}],
            "sheets": [s for s in doc["sheets"] if s["evaluator_id"] != leaving],
            "status": (Status.OPEN if full and doc["opened"] else Status.PANEL_INCOMPLETE).value,
            "updated_at": event.time,
        }
        replaced = EvaluatorReplaced(nomination_id=doc["_id"], title=doc["title"], recused_id=leaving,
                                     replacement_id=replacement[0] if replacement else None, reason=reason,
                                     deadline=deadline)
        return new, [derived(replaced, event, doc["_id"], doc["_id"], leaving)]

    def _fill(self, panels: Pool, doc: dict, event: Event) -> tuple[dict | None, list[Event]]:
        needed = doc["panel_size"] - len(doc["panel"])
        new = self._select(panels, doc, needed, doc["panel"], event) if needed > 0 else []
        if not new:
            return None, []
        panel = doc["panel"] + new
        full = len(panel) >= doc["panel_size"]
        deadline = domain.deadline_after_replacement(date(doc["deadline"]), event.received_at.date(),
                                                     self.replacement_min_days)
        changed = {**doc, "panel": panel, "deadline": day(deadline),
                   "status": (Status.OPEN if full else Status.PANEL_INCOMPLETE).value}
        if not doc["opened"]:
            # Nobody was told of a panel yet: announce it once it is complete.
            changed["opened"] = full
            return changed, [self._panel_event(changed, event, doc["_id"])]
        output, vacancies = [], list(doc["vacancies"])
        for member in new:
            vacancy = vacancies.pop(0) if vacancies else {"recused_id": member, "reason": domain.NO_LONGER_ELIGIBLE}
            replaced = EvaluatorReplaced(nomination_id=doc["_id"], title=doc["title"], recused_id=vacancy["recused_id"],
                                         replacement_id=member, reason=vacancy["reason"], deadline=deadline)
            output.append(derived(replaced, event, doc["_id"], doc["_id"], member))
        changed["vacancies"] = vacancies
        return changed, output

    def _select(self, panels: Pool, doc: dict, size: int, current: list[str], event: Event, *leaving: str) -> list[str]:
        units = {c.staff_id: c.unit_id for c in panels.candidates}
        return self.select(
            event, doc["_id"], doc["field"], panels.candidates, size=size, excluded_units=panels.excluded_units(doc),
            excluded_staff={*doc["excluded_staff"], *current, *leaving, *recused_of(doc)},
            panel_units={units[p] for p in current if p in units})

    def _panel_event(self, doc: dict, event: Event, *parts: str) -> Event:
        if doc["opened"]:
            data = make(PanelAssigned, nomination_id=doc["_id"], unit_id=doc["unit_id"], year=doc["year"],
                        field=doc["field"], nominee_kind=doc["nominee_kind"], title=doc["title"],
                        criteria={"set_id": doc["criteria_ref"]["set_id"], "version": doc["criteria_ref"]["version"]},
                        evaluators=doc["panel"], deadline=date(doc["deadline"]))
        else:
            data = make(PanelIncomplete, nomination_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                        required=doc["panel_size"], assigned=doc["panel"])
        return derived(data, event, doc["_id"], *parts)


