"""The evaluation's life: panel, recusals, scores, completion, council, cancellation.

Handlers gather what the rules need, let `domain` decide and commit through
`decide_once`. "Today" is the triggering event's receive time (`Event.received_at`: the
broker's, bounded by the service's clock) for what outside systems send, and the time the
nominations service gave its own `nomination.accepted`; never an outside sender's `time`
nor the wall clock, so rebuilding the projection from offset 0 decides the same deadlines.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from services.evaluations import domain
from services.evaluations.criteria import CriteriaRegistry, CriteriaSet
from services.evaluations.decisions import Decision, decide_once, derived, make
from services.evaluations.domain import (
    CANCELLABLE,
    SCORING,
    Candidate,
    NominationFacts,
    Status,
    Thresholds,
)
from services.evaluations.store import EvaluationStore, date, day
from shared import topics
from shared.envelope import Event
from shared.events import (
    ConflictDeclared,
    CouncilDecisionRecorded,
    EvaluationCancelled,
    EvaluationCompleted,
    EvaluatorReplaced,
    ExemplarNotRecognized,
    ExemplarRecognized,
    NominationAccepted,
    NominationWithdrawn,
    PanelAssigned,
    PanelIncomplete,
    ScoreSubmitted,
)
from shared.programme import EvaluationPolicy
from shared.vocabulary import EvidenceKind, Field, NomineeKind, Outcome

if TYPE_CHECKING:
    from services.evaluations.follow_up import FollowUp

# The signature of `domain.select_panel`: who joins a panel, best first.
Select = Callable[..., list[str]]
Handler = Callable[[Event], Awaitable[list[Event]]]


class Lifecycle:
    def __init__(self, store: EvaluationStore, registry: CriteriaRegistry, policy: EvaluationPolicy,
                 replacement_min_days: int, select: Select = domain.select_panel) -> None:
        self.store = store
        self.registry = registry
        self.policy = policy
        self.replacement_min_days = replacement_min_days
        # A rebuild from the log passes the choice the service published: the load it was
        # made on is not in the log (services.evaluations.rebuild).
        self.select = select

    # ---- exemplars.nominations -------------------------------------------------------------

    async def accepted(self, event: Event) -> list[Event]:
        nom: NominationAccepted = event.data
        existing = await self.store.evaluation(nom.nomination_id)
        if existing is not None:  # opened by this event before, or by an earlier copy of it
            return await self.store.answer_to(self.store.evaluations, nom.nomination_id, existing, event) or []
        criteria = self.registry.for_(nom.field, nom.nominee.kind)
        outcomes = criteria.outcomes
        thresholds = Thresholds(
            recognize_from=outcomes.recognize_from if outcomes else self.policy.recognize_from,
            foster_from=outcomes.foster_from if outcomes else self.policy.foster_from,
            divergence_spread=self.policy.divergence_spread)
        # nomination.accepted is the nominations service's own event (a producer of ours, not
        # an outside sender): its time is that service's clock when it accepted.
        today = event.time.date()
        doc = {
            "_id": nom.nomination_id, "unit_id": nom.unit_id, "year": nom.year, "field": Field(nom.field).value,
            "nominee_kind": NomineeKind(nom.nominee.kind).value, "nominee_name": nom.nominee.name,
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
            "result": None, "decision": None,
        }
        candidates = await self.store.candidates()
        excluded_units = await self._excluded_units(doc)
        doc["panel"] = self.select(nom.nomination_id, nom.field, candidates, size=doc["panel_size"],
                                   excluded_units=excluded_units, excluded_staff=doc["excluded_staff"])
        doc["opened"] = len(doc["panel"]) >= doc["panel_size"]
        doc["status"] = (Status.OPEN if doc["opened"] else Status.PANEL_INCOMPLETE).value
        output = [self._panel_event(doc, event)]
        if await self.store.create(self.store.evaluations, doc, event, output):
            return output
        existing = await self.store.evaluation(nom.nomination_id)
        return await self.store.answer_to(self.store.evaluations, nom.nomination_id, existing, event) or []

    async def withdrawn(self, event: Event) -> list[Event]:
        withdrawal: NominationWithdrawn = event.data

        async def decide(doc: dict | None) -> Decision:
            if doc is None or Status(doc["status"]) not in CANCELLABLE:
                return Decision()  # nothing open to cancel
            cancelled = EvaluationCancelled(nomination_id=doc["_id"], reason=withdrawal.reason or domain.WITHDRAWN)
            return Decision([derived(cancelled, event, doc["_id"])],
                            {"status": Status.CANCELLED.value, "cancelled_at": event.time})

        return await decide_once(self.store, self.store.evaluations, withdrawal.nomination_id, event, decide,
                                 subject=withdrawal.nomination_id)

    # ---- exemplars.evaluations.intake ------------------------------------------------------

    async def score_submitted(self, event: Event) -> list[Event]:
        sub: ScoreSubmitted = event.data

        async def decide(doc: dict | None) -> Decision:
            criteria = CriteriaSet.from_snapshot(doc["criteria"]) if doc else None
            reasons = domain.check_score(
                nomination_id=sub.nomination_id, status=_status(doc), panel=doc["panel"] if doc else [],
                recused=_recused(doc), criteria=criteria, evaluator_id=sub.evaluator_id, scores=sub.scores,
                gates=sub.gates)
            if reasons:
                return Decision(reasons=reasons)
            sheet = {"evaluator_id": sub.evaluator_id, "scores": dict(sub.scores), "gates": dict(sub.gates),
                     "comment": sub.comment, "at": event.time, "received_at": event.received_at,
                     "event_id": event.id}
            sheets = [s for s in doc["sheets"] if s["evaluator_id"] != sub.evaluator_id] + [sheet]
            changes: dict[str, Any] = {"sheets": sheets}
            scored = {s["evaluator_id"] for s in sheets}
            if _status(doc) is not Status.OPEN or not domain.panel_complete(doc["panel"], doc["panel_size"], scored):
                return Decision([], changes)
            result = self._complete(doc, criteria, sheets)
            changes.update(status=Status.COMPLETED.value, result=_result_doc(result), completed_at=event.time)
            completed = make(
                EvaluationCompleted, nomination_id=doc["_id"], unit_id=doc["unit_id"], year=doc["year"], field=doc["field"],
                title=doc["title"], criteria=criteria.ref, total=result.total, breakdown=result.breakdown,
                gates=result.gates, outcome=result.outcome, evaluator_totals=result.evaluator_totals,
                divergent=result.divergent, spread=result.spread)
            return Decision([derived(completed, event, doc["_id"])], changes)

        return await decide_once(self.store, self.store.evaluations, sub.nomination_id, event, decide,
                                 subject=sub.nomination_id, sender=sub.evaluator_id)

    def _complete(self, doc: dict, criteria: CriteriaSet, sheets: list[dict]) -> domain.Completion:
        members = set(doc["panel"])
        scores = {s["evaluator_id"]: s["scores"] for s in sheets if s["evaluator_id"] in members}
        findings = {s["evaluator_id"]: s["gates"] for s in sheets if s["evaluator_id"] in members}
        facts_doc = doc["facts"]
        facts = NominationFacts(evidence=frozenset(EvidenceKind(e) for e in facts_doc["evidence"]),
                                disciplinary_record=facts_doc["disciplinary_record"],
                                started_on=date(facts_doc["started_on"]), as_of=date(facts_doc["as_of"]))
        return domain.complete(criteria, Thresholds(**doc["thresholds"]), scores, findings, facts)

    async def conflict_declared(self, event: Event) -> list[Event]:
        declared: ConflictDeclared = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = domain.check_conflict(nomination_id=declared.nomination_id, status=_status(doc),
                                            panel=doc["panel"] if doc else [], recused=_recused(doc),
                                            evaluator_id=declared.evaluator_id)
            if reasons:
                return Decision(reasons=reasons)
            candidates = await self.store.candidates()
            return await self._replace(doc, declared.evaluator_id, declared.reason, candidates, event)

        return await decide_once(self.store, self.store.evaluations, declared.nomination_id, event, decide,
                                 subject=declared.nomination_id, sender=declared.evaluator_id)

    async def council_decision(self, event: Event) -> list[Event]:
        dec: CouncilDecisionRecorded = event.data
        nid = dec.nomination_id

        async def decide(doc: dict | None) -> Decision:
            result = (doc or {}).get("result") or {}
            gate_names = {g["id"]: g["name"] for g in doc["criteria"]["gates"]} if doc else {}
            reasons = domain.check_decision(nomination_id=nid, status=_status(doc), recognized=dec.recognized,
                                            level=dec.level, gates=result.get("gates", {}), gate_names=gate_names)
            if reasons:
                return Decision(reasons=reasons)
            exemplar_id = domain.exemplar_id(nid)
            if dec.recognized:
                data = make(
                    ExemplarRecognized, exemplar_id=exemplar_id, nomination_id=nid, unit_id=doc["unit_id"], year=doc["year"],
                    field=doc["field"], nominee_name=doc["nominee_name"], title=doc["title"], level=dec.level,
                    decision_ref=dec.decision_ref, total=result["total"])
            else:
                data = make(
                    ExemplarNotRecognized, exemplar_id=exemplar_id, nomination_id=nid, unit_id=doc["unit_id"], year=doc["year"],
                    title=doc["title"], decision_ref=dec.decision_ref,
                    fostering=domain.opens_fostering(False, Outcome(result["outcome"])))
            decision = {"recognized": dec.recognized, "level": dec.level.value if dec.level and dec.recognized else None,
                        "decision_ref": dec.decision_ref, "decided_on": day(dec.decided_on), "note": dec.note,
                        "received_at": event.received_at}
            return Decision([derived(data, event, nid)], {"status": Status.DECIDED.value, "decision": decision})

        output = await decide_once(self.store, self.store.evaluations, nid, event, decide, subject=nid)
        # After the commit (and again on every redelivery): a crash in between must not lose the record.
        for out in output:
            if out.type == ExemplarRecognized.event_type or getattr(out.data, "fostering", False):
                await self._open_exemplar(out, event)
        return output

    async def _open_exemplar(self, out: Event, event: Event) -> None:
        doc = await self.store.evaluation(out.data.nomination_id)
        recognized = out.type == ExemplarRecognized.event_type
        await self.store.open_exemplar({
            "_id": out.data.exemplar_id, "nomination_id": doc["_id"], "unit_id": doc["unit_id"], "year": doc["year"],
            "field": doc["field"], "nominee_kind": doc["nominee_kind"], "nominee_name": doc["nominee_name"],
            "title": doc["title"], "movement": doc.get("movement"),
            "status": (domain.ExemplarStatus.RECOGNIZED if recognized else domain.ExemplarStatus.FOSTERING).value,
            "level": doc["decision"]["level"], "decision_ref": doc["decision"]["decision_ref"],
            "decided_on": doc["decision"]["decided_on"], "total": doc["result"]["total"],
            "outcome": doc["result"]["outcome"]}, event)

    # ---- exemplars.directory ---------------------------------------------------------------

    async def staff_changed(self, event: Event) -> list[Event]:
        """A staff member registered, changed or left: replace members who no longer qualify,
        then fill empty seats. Each evaluation it changes remembers this event (its outbox, then
        `answers`); a redelivery republishes those answers and decides only for the others."""
        staff_id = event.data.staff_id
        answered = await self.store.answers_to(self.store.evaluations, event)
        output = [out for _, events in sorted(answered.items()) for out in events]
        candidates = await self.store.candidates()
        by_id = {c.staff_id: c for c in candidates}
        for listed in await self.store.evaluations_in(list(SCORING)):
            if listed["_id"] in answered:
                continue
            is_member = staff_id in listed["panel"]
            if not is_member and (len(listed["panel"]) >= listed["panel_size"] or staff_id not in by_id):
                continue  # neither a member who may have to go nor a seat this evaluator may take

            async def decide(doc: dict | None) -> Decision:
                if doc is None or _status(doc) not in SCORING:
                    return Decision()
                excluded = await self._excluded_units(doc)
                if staff_id in doc["panel"] and not domain.still_eligible(by_id.get(staff_id), excluded):
                    return await self._replace(doc, staff_id, domain.NO_LONGER_ELIGIBLE, candidates, event)
                return await self._fill(doc, candidates, event)

            output += await decide_once(self.store, self.store.evaluations, listed["_id"], event, decide,
                                        subject=listed["_id"])
        return output

    # ---- panel changes ---------------------------------------------------------------------

    async def _replace(self, doc: dict, leaving: str, reason: str, candidates: list[Candidate], event: Event) -> Decision:
        """`leaving` goes (recused or no longer eligible); the best eligible evaluator takes the seat."""
        remaining = [p for p in doc["panel"] if p != leaving]
        replacement = self._select(doc, candidates, 1, await self._excluded_units(doc), remaining, leaving)
        today = event.received_at.date()
        deadline = date(doc["deadline"])
        if replacement:
            deadline = domain.deadline_after_replacement(deadline, today, self.replacement_min_days)
        panel = remaining + replacement
        vacancies = list(doc["vacancies"])
        if not replacement and doc["opened"]:
            vacancies.append({"recused_id": leaving, "reason": reason})
        full = len(panel) >= doc["panel_size"]
        changes = {
            "panel": panel, "deadline": day(deadline), "vacancies": vacancies,
            "recused": doc["recused"] + [{"evaluator_id": leaving, "reason": reason, "at": event.time,
                                          "replacement_id": replacement[0] if replacement else None}],
            "sheets": [s for s in doc["sheets"] if s["evaluator_id"] != leaving],
            "status": (Status.OPEN if full and doc["opened"] else Status.PANEL_INCOMPLETE).value,
        }
        replaced = EvaluatorReplaced(nomination_id=doc["_id"], title=doc["title"], recused_id=leaving,
                                     replacement_id=replacement[0] if replacement else None, reason=reason,
                                     deadline=deadline)
        return Decision([derived(replaced, event, doc["_id"], doc["_id"], leaving)], changes)

    async def _fill(self, doc: dict, candidates: list[Candidate], event: Event) -> Decision:
        needed = doc["panel_size"] - len(doc["panel"])
        new = self._select(doc, candidates, needed, await self._excluded_units(doc), doc["panel"]) if needed > 0 else []
        if not new:
            return Decision()
        panel = doc["panel"] + new
        full = len(panel) >= doc["panel_size"]
        deadline = domain.deadline_after_replacement(date(doc["deadline"]), event.received_at.date(), self.replacement_min_days)
        changes = {"panel": panel, "deadline": day(deadline),
                   "status": (Status.OPEN if full else Status.PANEL_INCOMPLETE).value}
        if not doc["opened"]:
            # Nobody was told of a panel yet: announce it once it is complete.
            changes["opened"] = full
            staged = {**doc, **changes}
            return Decision([self._panel_event(staged, event, doc["_id"])], changes)
        output, vacancies = [], list(doc["vacancies"])
        for member in new:
            vacancy = vacancies.pop(0) if vacancies else {"recused_id": member, "reason": domain.NO_LONGER_ELIGIBLE}
            replaced = EvaluatorReplaced(nomination_id=doc["_id"], title=doc["title"], recused_id=vacancy["recused_id"],
                                         replacement_id=member, reason=vacancy["reason"], deadline=deadline)
            output.append(derived(replaced, event, doc["_id"], doc["_id"], member))
        changes["vacancies"] = vacancies
        return Decision(output, changes)

    def _select(self, doc: dict, candidates: list[Candidate], size: int, excluded_units: frozenset[str],
                current: list[str], *leaving: str) -> list[str]:
        units = {c.staff_id: c.unit_id for c in candidates}
        return self.select(
            doc["_id"], doc["field"], candidates, size=size, excluded_units=excluded_units,
            excluded_staff={*doc["excluded_staff"], *current, *leaving, *_recused(doc)},
            panel_units={units[p] for p in current if p in units})

    async def _excluded_units(self, doc: dict) -> frozenset[str]:
        return domain.units_to_exclude(doc["unit_id"], await self.store.unit_parents())

    def _panel_event(self, doc: dict, event: Event, *parts: str) -> Event:
        if doc["opened"]:
            data = make(PanelAssigned, nomination_id=doc["_id"], unit_id=doc["unit_id"], year=doc["year"], field=doc["field"],
                                 nominee_kind=doc["nominee_kind"], title=doc["title"],
                                 criteria={"set_id": doc["criteria_ref"]["set_id"],
                                           "version": doc["criteria_ref"]["version"]},
                                 evaluators=doc["panel"], deadline=date(doc["deadline"]))
        else:
            data = make(PanelIncomplete, nomination_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                                   required=doc["panel_size"], assigned=doc["panel"])
        return derived(data, event, doc["_id"], *parts)


def _status(doc: dict | None) -> Status | None:
    return Status(doc["status"]) if doc else None


def _recused(doc: dict | None) -> list[str]:
    return [r["evaluator_id"] for r in (doc or {}).get("recused", [])]


def _result_doc(result: domain.Completion) -> dict[str, Any]:
    return {"total": result.total, "breakdown": [c.model_dump() for c in result.breakdown], "gates": result.gates,
            "outcome": result.outcome.value, "evaluator_totals": result.evaluator_totals, "spread": result.spread,
            "divergent": result.divergent, "below_minimum": result.below_minimum}



def by_topic(store: EvaluationStore, lifecycle: Lifecycle, follow_up: "FollowUp") -> dict[str, dict[str, Handler]]:
    """What the service consumes: the live consumers and a rebuild route the same way."""

    async def unit_registered(event: Event) -> list[Event]:
        await store.apply_unit(event)
        return []

    def staff(apply: Callable[[Event], Awaitable[None]]) -> Handler:
        async def handle(event: Event) -> list[Event]:
            await apply(event)  # the directory first: the panel rules read it
            return await lifecycle.staff_changed(event)
        return handle

    return {
        topics.EVALUATIONS_INTAKE: {
            "evaluation.score_submitted": lifecycle.score_submitted,
            "evaluation.conflict_declared": lifecycle.conflict_declared,
            "council.decision_recorded": lifecycle.council_decision,
            "exemplar.review_reported": follow_up.review_reported,
            "exemplar.replication_reported": follow_up.replication_reported,
            "exemplar.visit_reported": follow_up.visit_reported,
        },
        topics.NOMINATIONS: {"nomination.accepted": lifecycle.accepted, "nomination.withdrawn": lifecycle.withdrawn},
        topics.DIRECTORY: {"unit.registered": unit_registered, "staff.registered": staff(store.apply_staff),
                           "staff.removed": staff(store.remove_staff)},
    }
