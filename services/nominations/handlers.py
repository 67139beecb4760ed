"""Thin handlers: read the view, let the rules decide, return the changes and the answer.

No I/O here: `shared.unit_of_work` loads what `needs` names, runs `decide` per event and
commits. `ROUTES` is every event type this service consumes, per topic, and who handles it.

Documents (collection: id -> fields):
- nominations: nomination id -> the submission, status, reasons, later the evaluation's outcome;
- quotas: "unit:year" -> `holders`, the nominations holding the unit's places that year;
- nominee_claims: "year:nominee key" -> the nomination that holds the nominee that year;
- units: unit id -> its current version and every different version (`history`);
- staff: staff id -> unit, name, roles, removed.

A person's erasure (`person.erased`, `person_erased`) sets to "đã xóa" what these hold of their
personal fields, as a rebuild from the log (where those fields no longer open) stores them.
"""

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from services.nominations import domain
from services.nominations.domain import (
    Nomination,
    Staff,
    Status,
    SubmissionContext,
    Unit,
)
from shared import erasure, personal, topics
from shared.days import day
from shared.envelope import Event, new_event, signed_by
from shared.events import (
    DecisionCorrected,
    EvaluationCompleted,
    ExemplarNotRecognized,
    ExemplarRecognized,
    ExemplarRevoked,
    NominationAccepted,
    NominationRejected,
    NominationSubmitted,
    NominationWithdrawn,
    PersonErased,
    QuotaShortfall,
    Reason,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
    WithdrawalRejected,
)
from shared.programme import Programme
from shared.unit_of_work import NOTHING, QUERIES, Decision, Delete, Needs, Put, View, Where

SOURCE = "urn:exemplars:nominations"
NOMINATIONS, QUOTAS, CLAIMS, UNITS, STAFF = "nominations", "quotas", "nominee_claims", "units", "staff"


class Settled(Protocol):
    """The answer already settled for an input elsewhere, if any. Live: never. In a rebuild:
    the one the log holds, since who won a unit's last place depended on how instances
    interleaved partitions, which the log does not keep."""

    def __call__(self, event: Event) -> Event | None: ...


def never_settled(event: Event) -> Event | None:
    return None


@dataclass
class Nominations:
    programme: Programme
    settled: Settled = never_settled

    def routes(self) -> dict[str, dict[str, object]]:
        """Every event type consumed, per topic, and its handler."""
        return {
            topics.NOMINATIONS_INTAKE: {"nomination.submitted": self.submitted, "nomination.withdrawn": self.withdrawn},
            topics.DIRECTORY: {"unit.registered": self.unit_registered, "staff.registered": self.staff_registered,
                               "staff.removed": self.staff_removed, "person.erased": self.person_erased},
            topics.EVALUATIONS: {"evaluation.completed": self.evaluation_completed,
                                 "exemplar.recognized": self.recognized, "exemplar.not_recognized": self.not_recognized,
                                 "exemplar.revoked": self.revoked, "exemplar.decision_corrected": self.corrected},
        }

    def __post_init__(self) -> None:
        self._by_type = {t: handler for by_type in self.routes().values() for t, handler in by_type.items()}

    def decide(self, view: View, event: Event) -> Decision:
        return self._by_type[event.type](view, event)

    def refuse(self, event: Event, code: str, message: str) -> Decision:
        """A sender that may not say this (shared/credentials.py): answered, nothing changes,
        not even a rejected nomination under an id someone else may hold."""
        reasons = [Reason(code=code, message=message)]
        if isinstance(event.data, NominationSubmitted):
            return Decision.of(publish=[self._rejected(event, reasons)])
        req: NominationWithdrawn = event.data
        return Decision.of(publish=[new_event(
            WithdrawalRejected(nomination_id=req.nomination_id, unit_id=req.unit_id, requested_by=req.requested_by,
                               reasons=reasons), key=req.nomination_id, source=SOURCE, derived_from=event)])

    def needs(self, event: Event) -> Needs:
        data = event.data
        match data:
            case NominationSubmitted():
                return {NOMINATIONS: [data.nomination_id], UNITS: [data.unit_id],
                        STAFF: [data.submitter_id, data.nominee.staff_id],
                        QUOTAS: [quota_id(data.unit_id, data.year)],
                        CLAIMS: [claim_id(data.year, domain.nominee_key(data))]}
            case NominationWithdrawn():
                return {NOMINATIONS: [data.nomination_id], STAFF: [data.requested_by]}
            case UnitRegistered():
                return {UNITS: [data.unit_id]}
            case StaffRegistered() | StaffRemoved():
                return {STAFF: [data.staff_id]}
            case PersonErased():
                return {STAFF: [data.staff_id], QUERIES: [nominated(data.staff_id), erasure.answers_of(data.staff_id)]}
            case EvaluationCompleted() | ExemplarRecognized() | ExemplarNotRecognized() | ExemplarRevoked() | \
                    DecisionCorrected():
                return {NOMINATIONS: [data.nomination_id]}
        return {}

    # ---- intake ----------------------------------------------------------------------------

    def submitted(self, view: View, event: Event) -> Decision:
        sub: NominationSubmitted = event.data
        existing = view.get(NOMINATIONS, sub.nomination_id)
        key = domain.nominee_key(sub)
        quota = view.get(QUOTAS, quota_id(sub.unit_id, sub.year)) or new_quota(sub.unit_id, sub.year)
        claim = view.get(CLAIMS, claim_id(sub.year, key))
        others = [h for h in quota["holders"] if h != sub.nomination_id]
        holder = claim["nomination_id"] if claim and claim["nomination_id"] != sub.nomination_id else None
        settled = self.settled(event)
        if settled is not None and isinstance(settled.data, NominationAccepted):
            # Live, the place and the nominee were free when it came; so they are in the replay.
            others, holder = others[: self.programme.yearly_maximum - 1], None
        ctx = SubmissionContext(
            unit=unit_of(view.get(UNITS, sub.unit_id)),
            submitter=staff_of(view.get(STAFF, sub.submitter_id)) if sub.submitter_id else None,
            nominee_staff=staff_of(view.get(STAFF, sub.nominee.staff_id)) if sub.nominee.staff_id else None,
            held_places=len(others), nominee_held_by=holder,
            # A refused nomination may be corrected and sent again under the same id.
            id_taken=existing is not None and existing["status"] != Status.REJECTED,
        )
        reasons = domain.check_submission(sub, ctx, self.programme)
        if settled is not None and isinstance(settled.data, NominationRejected):
            reasons = settled.data.reasons  # as published, whatever the replay's counts
        if reasons:
            answer = self._rejected(event, reasons)
            if ctx.id_taken:  # the live nomination under this id is not ours to touch
                return Decision.of(publish=[answer])
            return Decision.of(Put(NOMINATIONS, self._nomination(event, Status.REJECTED, key, reasons)),
                               publish=[answer])
        quota["holders"] = [*others, sub.nomination_id]
        answer = new_event(NominationAccepted(**sub.model_dump(), accepted_in_year=len(quota["holders"]),
                                              yearly_maximum=self.programme.yearly_maximum),
                           key=sub.nomination_id, source=SOURCE, derived_from=event)
        return Decision.of(Put(QUOTAS, quota), Put(CLAIMS, {"_id": claim_id(sub.year, key), "nomination_id": sub.nomination_id}),
                           Put(NOMINATIONS, self._nomination(event, Status.ACCEPTED, key, [])), publish=[answer])

    def _nomination(self, event: Event, status: Status, key: str, reasons: list) -> dict:
        sub: NominationSubmitted = event.data
        return {"_id": sub.nomination_id, "unit_id": sub.unit_id, "year": sub.year, "field": sub.field,
                "status": status.value, "nominee_key": key, "submission": sub.model_dump(mode="json"),
                "reasons": [r.model_dump() for r in reasons], "submitted_at": event.time,
                "received_at": event.received_at, "sender": signed_by(event), "updated_at": event.time}

    def _rejected(self, event: Event, reasons: list) -> Event:
        sub: NominationSubmitted = event.data
        return new_event(NominationRejected(nomination_id=sub.nomination_id, unit_id=sub.unit_id, year=sub.year,
                                            submitter_id=sub.submitter_id, title=sub.title, reasons=reasons),
                         key=sub.nomination_id, source=SOURCE, derived_from=event)

    def withdrawn(self, view: View, event: Event) -> Decision:
        req: NominationWithdrawn = event.data
        doc = view.get(NOMINATIONS, req.nomination_id)
        reasons = domain.check_withdrawal(req, as_nomination(doc), staff_of(view.get(STAFF, req.requested_by)))
        if reasons:
            # The nomination does not change: the refusal is kept as the input's answer only.
            return Decision.of(publish=[new_event(
                WithdrawalRejected(nomination_id=req.nomination_id, unit_id=req.unit_id,
                                   requested_by=req.requested_by, reasons=reasons),
                key=req.nomination_id, source=SOURCE, derived_from=event)])
        answer = new_event(NominationWithdrawn(nomination_id=req.nomination_id, unit_id=req.unit_id,
                                               requested_by=req.requested_by, reason=req.reason, year=doc["year"],
                                               title=doc["submission"]["title"]),
                           key=req.nomination_id, source=SOURCE, derived_from=event)
        withdrawal = {"requested_by": req.requested_by, "reason": req.reason, "at": event.time,
                      "received_at": event.received_at, "sender": signed_by(event)}
        changes = [Put(NOMINATIONS, {**doc, "status": Status.WITHDRAWN.value, "withdrawal": withdrawal,
                                     "updated_at": event.time})]
        quota = view.get(QUOTAS, quota_id(doc["unit_id"], doc["year"]))
        if quota and req.nomination_id in quota["holders"]:
            changes.append(Put(QUOTAS, {**quota, "holders": [h for h in quota["holders"] if h != req.nomination_id]}))
        claim = view.get(CLAIMS, claim_id(doc["year"], doc["nominee_key"]))
        if claim and claim["nomination_id"] == req.nomination_id:
            changes.append(Delete(CLAIMS, claim["_id"]))
        return Decision.of(*changes, publish=[answer])

    # ---- directory -------------------------------------------------------------------------

    def unit_registered(self, view: View, event: Event) -> Decision:
        unit: UnitRegistered = event.data
        doc = view.get(UNITS, unit.unit_id) or {"_id": unit.unit_id, "history": []}
        content = unit_version(unit)
        version = {**content, "event_time": event.time, "received_at": event.received_at}
        # The current version on top, every different version kept: renamed and merged units stay
        # readable, and an HR system re-sending the same unit (a nightly full export) adds nothing.
        if any(doc.get(name, _ABSENT) != value for name, value in content.items()):
            doc["history"] = [*doc["history"], version]
        return Decision.of(Put(UNITS, {**doc, **version}))

    def staff_registered(self, view: View, event: Event) -> Decision:
        staff: StaffRegistered = event.data
        doc = view.get(STAFF, staff.staff_id) or {"_id": staff.staff_id}
        return Decision.of(Put(STAFF, {**doc, "unit_id": staff.unit_id, "full_name": staff.full_name,
                                       "roles": [r.value for r in staff.roles], "removed": False}))

    def staff_removed(self, view: View, event: Event) -> Decision:
        removed: StaffRemoved = event.data
        doc = view.get(STAFF, removed.staff_id) or {"_id": removed.staff_id}
        return Decision.of(Put(STAFF, {**doc, "unit_id": removed.unit_id, "removed": True}))

    def person_erased(self, view: View, event: Event) -> Decision:
        """Their personal fields set to "đã xóa" wherever a document copied them, as a rebuild
        from the log (where they no longer open) stores them; their ids stay, as in the log:
        - staff: their `full_name` (the only personal field of `staff.registered` kept here);
        - nominations naming them as the nominee (`submission.nominee.staff_id`), any status:
          the nominee's name and position, as `personal.PERSONAL` says of `nomination.submitted`;
          their `nominee_key` is their staff id, unchanged (a collective names no person and
          carries no staff id: `Nominee`);
        - the stored answers: their name and position in the `nomination.accepted` answers.
        What stays: refusal reasons name a person by staff id only (`domain.nominee_taken`,
        `check_submission`), a withdrawal's reason and everything else of a nomination are
        not personal fields (nothing in the log erases them either); quotas and claims hold ids.
        Taking the same erasure again changes nothing."""
        person = event.data.staff_id
        changes: list = []
        staff = view.get(STAFF, person)
        if staff is not None and (name := _erased({"staff_id": person, "full_name": staff.get("full_name")},
                                                   StaffRegistered.event_type, person)):
            changes.append(Put(STAFF, {**staff, "full_name": name["full_name"]}))
        for doc in view.where(nominated(person)):
            submission = _erased(doc["submission"], NominationSubmitted.event_type, person)
            if submission is None:
                continue
            changes.append(Put(NOMINATIONS, {**doc, "submission": submission}))
        changes += erasure.cleared_answers(view, person)
        return Decision.of(*changes)

    # ---- evaluation outcomes ---------------------------------------------------------------

    def evaluation_completed(self, view: View, event: Event) -> Decision:
        done: EvaluationCompleted = event.data
        return self._evaluated(view, done.nomination_id, {"evaluation": {
            "outcome": done.outcome.value, "total": done.total, "divergent": done.divergent}})

    def recognized(self, view: View, event: Event) -> Decision:
        rec: ExemplarRecognized = event.data
        return self._evaluated(view, rec.nomination_id, {
            "status": Status.RECOGNIZED.value, "decision": {"level": rec.level.value, "ref": rec.decision_ref}})

    def not_recognized(self, view: View, event: Event) -> Decision:
        dec: ExemplarNotRecognized = event.data
        return self._evaluated(view, dec.nomination_id, {
            "status": Status.NOT_RECOGNIZED.value, "decision": {"ref": dec.decision_ref, "fostering": dec.fostering}})

    def revoked(self, view: View, event: Event) -> Decision:
        """The nomination keeps its place that year (it was used) and shows what took the title back."""
        rev: ExemplarRevoked = event.data
        doc = view.get(NOMINATIONS, rev.nomination_id)
        if doc is None:
            return NOTHING
        return self._evaluated(view, rev.nomination_id, {
            "status": Status.REVOKED.value,
            "decision": {**doc.get("decision", {}), "revocation": {
                "ref": rev.revocation_ref, "revoked_on": day(rev.revoked_on), "ground": rev.ground.value}}})

    def corrected(self, view: View, event: Event) -> Decision:
        cor: DecisionCorrected = event.data
        doc = view.get(NOMINATIONS, cor.nomination_id)
        if doc is None:
            return NOTHING
        decision = {**doc.get("decision", {}), "ref": cor.decision_ref, "corrections": cor.number}
        if cor.level is not None:
            decision["level"] = cor.level.value
        return self._evaluated(view, cor.nomination_id, {"decision": decision})

    @staticmethod
    def _evaluated(view: View, nomination_id: str, changes: dict) -> Decision:
        doc = view.get(NOMINATIONS, nomination_id)
        return Decision.of(Put(NOMINATIONS, {**doc, **changes})) if doc else NOTHING

    # ---- yearly shortfall (decided by the schedule, not by an input) ------------------------

    def shortfalls(self, today: dt.date, units: list[Unit], held_by_year: dict[int, dict[str, int]]) -> list[Event]:
        events = []
        for year in domain.shortfall_due(today, self.programme):
            for unit, count in domain.units_short(year, units, held_by_year.get(year, {}), self.programme):
                events.append(new_event(QuotaShortfall(unit_id=unit.unit_id, year=year, accepted=count,
                                                       yearly_minimum=self.programme.yearly_minimum, checked_on=today),
                                        key=unit.unit_id, source=SOURCE, id_parts=(unit.unit_id, str(year))))
        return events


_ABSENT = object()


def nominated(person: str) -> Where:
    """The nominations naming `person` as their nominee."""
    return Where(NOMINATIONS, "submission.nominee.staff_id", (person,))


def _erased(data: dict, event_type: str, person: str) -> dict | None:
    """A copy of `data` (in the shape of an `event_type` payload) with `person`'s personal
    fields set to "đã xóa" as `personal.PERSONAL` places them, or None when none was left."""
    data = copy.deepcopy(data)
    return data if personal.erase(event_type, data, person) else None


def quota_id(unit_id: str, year: int) -> str:
    return f"{unit_id}:{year}"


def claim_id(year: int, nominee_key: str) -> str:
    return f"{year}:{nominee_key}"


def new_quota(unit_id: str, year: int) -> dict:
    return {"_id": quota_id(unit_id, year), "unit_id": unit_id, "year": year, "holders": []}


def unit_version(unit: UnitRegistered) -> dict:
    """What a version of a unit says (not when it was said). BSON has no date type: days are UTC midnights."""
    return {"name": unit.name, "parent_id": unit.parent_id, "kind": unit.kind.value,
            "valid_from": day(unit.valid_from), "valid_to": day(unit.valid_to)}


def unit_of(doc: dict | None) -> Unit | None:
    if not doc or "name" not in doc:
        return None
    return Unit(doc["_id"], doc["name"], doc["valid_from"].date(), doc["valid_to"].date() if doc.get("valid_to") else None)


def staff_of(doc: dict | None) -> Staff | None:
    return Staff(doc["_id"], doc["unit_id"], doc.get("removed", False)) if doc and "unit_id" in doc else None


def as_nomination(doc: dict | None) -> Nomination | None:
    return Nomination(doc["_id"], doc["unit_id"], Status(doc["status"])) if doc else None

