"""The workspace's projection: what its pages show, from the topics, with no I/O here
(`shared.unit_of_work` loads what `needs` names, runs `decide`, commits).

Documents (collection: id -> fields):
- staff, units: the directory's names, units and roles (no addresses: the workspace mails nobody);
- nominations: nomination id -> the file as accepted (nominee, summary, achievements, evidence),
  or a refusal with its reasons; withdrawn, or a withdrawal refused;
- assignments: nomination id -> the evaluation: panel, deadline, criteria set, status, result,
  the members' accepted sheets (shown to a member once their own is in), the discussion, the
  council's decision and the spread of a recognised model (distinct units applying it);
- refusals: input id -> the evaluations service's coded refusal of an input (ours included).

The web side keeps its own beside them (store.py): drafts, submissions and used_links; only a
person's erasure (`person_erased`) touches them here.

The workspace publishes nothing in answer: what people do is published by its web side.
"""

import copy
from dataclasses import dataclass

from services.workspace.domain import nomination_of
from shared import erasure, personal, topics
from shared.envelope import Event
from shared.events import (
    CommentRecorded,
    DecisionCorrected,
    DiscussionOpened,
    EvaluationCancelled,
    EvaluationCompleted,
    EvaluatorReplaced,
    ExemplarNotRecognized,
    ExemplarRecognized,
    ExemplarReplicated,
    ExemplarRevoked,
    InputRejected,
    NominationAccepted,
    NominationRejected,
    NominationWithdrawn,
    PanelAssigned,
    PanelIncomplete,
    PersonErased,
    ScoreRecorded,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
    WithdrawalRejected,
)
from shared.unit_of_work import NOTHING, QUERIES, Create, Decision, Delete, Needs, Put, View, Where

STAFF, UNITS, NOMINATIONS, ASSIGNMENTS, REFUSALS = "staff", "units", "nominations", "assignments", "refusals"
# The web side's own (store.py), which an erasure reads too.
DRAFTS, SUBMISSIONS, USED_LINKS = "drafts", "submissions", "used_links"


@dataclass
class Workspace:
    def routes(self) -> dict[str, dict[str, object]]:
        return {
            topics.DIRECTORY: {"unit.registered": self.unit_registered, "staff.registered": self.staff_registered,
                               "staff.removed": self.staff_removed, "person.erased": self.person_erased},
            topics.NOMINATIONS: {"nomination.accepted": self.nomination_accepted,
                                 "nomination.rejected": self.nomination_rejected,
                                 "nomination.withdrawn": self.nomination_withdrawn,
                                 "nomination.withdrawal_rejected": self.withdrawal_rejected},
            topics.EVALUATIONS: {"evaluation.panel_assigned": self.panel, "evaluation.panel_incomplete": self.panel,
                                 "evaluation.evaluator_replaced": self.evaluator_replaced,
                                 "evaluation.score_recorded": self.score_recorded,
                                 "evaluation.discussion_opened": self.discussion_opened,
                                 "evaluation.comment_recorded": self.comment_recorded,
                                 "evaluation.completed": self.completed, "evaluation.cancelled": self.cancelled,
                                 "exemplar.recognized": self.decided, "exemplar.not_recognized": self.decided,
                                 "exemplar.replicated": self.replicated, "exemplar.revoked": self.revoked,
                                 "exemplar.decision_corrected": self.corrected,
                                 "evaluation.input_rejected": self.input_rejected},
        }

    def __post_init__(self) -> None:
        self._by_type = {t: handler for by_type in self.routes().values() for t, handler in by_type.items()}

    def needs(self, event: Event) -> Needs:
        data = event.data
        match data:
            case UnitRegistered():
                return {UNITS: [data.unit_id]}
            case StaffRegistered() | StaffRemoved():
                return {STAFF: [data.staff_id]}
            case PersonErased():
                return {STAFF: [data.staff_id], QUERIES: erasure_queries(data.staff_id)}
            case NominationAccepted() | NominationRejected() | NominationWithdrawn() | WithdrawalRejected():
                return {NOMINATIONS: [data.nomination_id]}
            case InputRejected():
                return {}
            case ExemplarReplicated():
                return {ASSIGNMENTS: [nomination_of(data.exemplar_id)]}
        return {ASSIGNMENTS: [data.nomination_id]}

    def decide(self, view: View, event: Event) -> Decision:
        return self._by_type[event.type](view, event)

    # ---- directory -------------------------------------------------------------------------

    def unit_registered(self, view: View, event: Event) -> Decision:
        unit: UnitRegistered = event.data
        return Decision.of(Put(UNITS, {"_id": unit.unit_id, "name": unit.name, "parent_id": unit.parent_id,
                                       "valid_from": unit.valid_from.isoformat(),
                                       "valid_to": unit.valid_to.isoformat() if unit.valid_to else None}))

    def staff_registered(self, view: View, event: Event) -> Decision:
        staff: StaffRegistered = event.data
        return Decision.of(Put(STAFF, {"_id": staff.staff_id, "name": staff.full_name, "unit_id": staff.unit_id,
                                       "position": staff.position, "roles": [r.value for r in staff.roles],
                                       "removed": False}))

    def staff_removed(self, view: View, event: Event) -> Decision:
        stored = view.get(STAFF, event.data.staff_id)
        if stored is None or stored["unit_id"] != event.data.unit_id:
            return NOTHING
        return Decision.of(Put(STAFF, {**stored, "removed": True}))

    def person_erased(self, view: View, event: Event) -> Decision:
        """What the workspace holds of the person, as a rebuild from the log (where their sealed
        fields read "đã xóa") would hold it; their staff id stays wherever it is, as in the log.

        Set to "đã xóa" (each where `personal.PERSONAL` puts a field of theirs in the event copied):
        - staff: their `name` and `position` (`staff.registered`'s full name and position);
        - nominations naming them as the nominee: the nominee's `name` and `position`;
        - assignments: their sheet's `comment` and `criterion_comments` (`sheets[their id]`), and
          their comments in the discussion (by `evaluator_id`). The evaluations found are those
          with them on the panel, recused or commenting: a sheet is recorded only for a member
          of the panel, and a member leaves it only by recusal, which takes the sheet with it;
          a recused member's discussion comments stay, so they are looked for too. A recusal's
          reason is not kept here; scores, totals and decisions are not personal fields;
        - the stored answers (the workspace publishes nothing: they hold none, but the same rule
          as every service's keeps it so).
        Deleted, being theirs alone and in no log: their `drafts` (sheets they saved and never
        sent, their own comments in clear) and their `submissions` (the record of each form they
        sent: kind, nomination, time; it only stops a double click publishing twice, and a form
        sent again under the same event id is still answered once by the service it goes to).
        The web side writes them without a revision: the unit of work must commit the delete of
        a document read without `_rev` (shared/unit_of_work.py `View.writes`).
        Kept:
        - `refusals`: the evaluations service's coded refusals of their inputs, a projection of
          the log's `evaluation.input_rejected`, which holds their staff id and coded reasons and
          no personal field; a rebuild has them again;
        - `used_links`: a link id, their staff id and a time, nothing they wrote. It is what makes
          a mailed sign-in link work once: deleting it would let a link still unexpired (a mail
          they or anyone else keeps) sign in again.
        Taking the same erasure again changes nothing."""
        person = event.data.staff_id
        changes: list = []
        staff = view.get(STAFF, person)
        if staff is not None:
            kept = {"staff_id": person, **{field: staff[name] for name, field in _STAFF_FIELDS if name in staff}}
            if erased := _erased(kept, "staff.registered", person):
                changes.append(Put(STAFF, {**staff, **{name: erased[field] for name, field in _STAFF_FIELDS
                                                       if name in staff}}))
        for doc in view.where(Where(NOMINATIONS, "nominee.staff_id", (person,))):
            if nominee := _erased({"nominee": doc["nominee"]}, "nomination.accepted", person):
                changes.append(Put(NOMINATIONS, {**doc, "nominee": nominee["nominee"]}))
        found = {doc["_id"]: doc for query in _assignment_queries(person) for doc in view.where(query)}
        for doc in found.values():
            if cleared := _cleared_assignment(doc, person):
                changes.append(Put(ASSIGNMENTS, cleared))
        for collection in (DRAFTS, SUBMISSIONS):
            changes += [Delete(collection, doc["_id"]) for doc in view.where(Where(collection, "person", (person,)))]
        changes += erasure.cleared_answers(view, person)
        return Decision.of(*changes)

    # ---- nominations -----------------------------------------------------------------------

    def nomination_accepted(self, view: View, event: Event) -> Decision:
        nom: NominationAccepted = event.data
        file = nom.model_dump(mode="json", include={"unit_id", "year", "field", "movement", "title", "summary",
                                                    "achievements", "evidence", "started_on", "nominee"})
        return Decision.of(Put(NOMINATIONS, {"_id": nom.nomination_id, **file, "status": "accepted",
                                             "submitter_id": nom.submitter_id, "accepted_at": event.time}))

    def nomination_rejected(self, view: View, event: Event) -> Decision:
        data: NominationRejected = event.data
        stored = view.get(NOMINATIONS, data.nomination_id)
        if stored is not None and stored.get("status") != "rejected":
            return NOTHING  # a second submission under an accepted id: the accepted one stands
        return Decision.of(Put(NOMINATIONS, {"_id": data.nomination_id, "unit_id": data.unit_id, "year": data.year,
                                             "title": data.title, "submitter_id": data.submitter_id,
                                             "status": "rejected",
                                             "reasons": [r.model_dump() for r in data.reasons]}))

    def withdrawal_rejected(self, view: View, event: Event) -> Decision:
        data: WithdrawalRejected = event.data
        stored = view.get(NOMINATIONS, data.nomination_id)
        if stored is None:
            return NOTHING
        return Decision.of(Put(NOMINATIONS, {**stored, "withdrawal_refused": [r.model_dump() for r in data.reasons]}))

    def nomination_withdrawn(self, view: View, event: Event) -> Decision:
        stored = view.get(NOMINATIONS, event.data.nomination_id)
        return Decision.of(Put(NOMINATIONS, {**stored, "status": "withdrawn"})) if stored else NOTHING

    # ---- evaluations -----------------------------------------------------------------------

    def panel(self, view: View, event: Event) -> Decision:
        data: PanelAssigned | PanelIncomplete = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id) or {"_id": data.nomination_id, "recused": []}
        if isinstance(data, PanelAssigned):
            fields = {"unit_id": data.unit_id, "year": data.year, "field": data.field.value,
                      "nominee_kind": data.nominee_kind.value, "title": data.title,
                      "criteria": data.criteria.model_dump(), "panel": list(data.evaluators),
                      "deadline": data.deadline.isoformat(), "status": "open"}
        else:
            fields = {"unit_id": data.unit_id, "title": data.title, "panel": list(data.assigned),
                      "status": "panel_incomplete"}
        return Decision.of(Put(ASSIGNMENTS, {**stored, **fields}))

    def evaluator_replaced(self, view: View, event: Event) -> Decision:
        data: EvaluatorReplaced = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None:
            return NOTHING
        panel = [m for m in stored["panel"] if m != data.recused_id]
        if data.replacement_id and data.replacement_id not in panel:
            panel.append(data.replacement_id)
        sheets = {k: v for k, v in stored.get("sheets", {}).items() if k != data.recused_id}  # theirs went with them
        status = "open" if stored.get("status") == "discussion" else stored.get("status")  # the newcomer scores first
        return Decision.of(Put(ASSIGNMENTS, {**stored, "panel": panel, "deadline": data.deadline.isoformat(),
                                             "recused": sorted({*stored.get("recused", []), data.recused_id}),
                                             "sheets": sheets, "status": status}))

    def score_recorded(self, view: View, event: Event) -> Decision:
        data: ScoreRecorded = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None:
            return NOTHING
        sheet = {**data.model_dump(mode="json", include={"scores", "gates", "comment", "criterion_comments", "total",
                                                         "amended"}),
                 "at": event.time}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "sheets": {**stored.get("sheets", {}), data.evaluator_id: sheet}}))

    def discussion_opened(self, view: View, event: Event) -> Decision:
        data: DiscussionOpened = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None:
            return NOTHING
        earlier = stored.get("discussion") or {"comments": []}  # reopened after a recusal: what was said stays
        discussion = {**earlier, "closes_on": data.closes_on.isoformat(), "spread": data.spread,
                      "threshold": data.threshold}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "status": "discussion", "discussion": discussion}))

    def comment_recorded(self, view: View, event: Event) -> Decision:
        data: CommentRecorded = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None or not stored.get("discussion"):
            return NOTHING
        discussion = stored["discussion"]
        if any(c["number"] == data.number for c in discussion["comments"]):
            return NOTHING  # the same comment, republished
        comment = {"number": data.number, "evaluator_id": data.evaluator_id, "comment": data.comment, "at": event.time}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "discussion": {**discussion,
                                                                      "comments": [*discussion["comments"], comment]}}))

    def completed(self, view: View, event: Event) -> Decision:
        data: EvaluationCompleted = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None:
            return NOTHING
        result = data.model_dump(mode="json", include={"total", "breakdown", "gates", "outcome", "evaluator_totals",
                                                       "divergent", "spread", "discussion"})
        return Decision.of(Put(ASSIGNMENTS, {**stored, "status": "completed", "result": result}))

    def cancelled(self, view: View, event: Event) -> Decision:
        data: EvaluationCancelled = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        return Decision.of(Put(ASSIGNMENTS, {**stored, "status": "cancelled"})) if stored else NOTHING

    def decided(self, view: View, event: Event) -> Decision:
        data: ExemplarRecognized | ExemplarNotRecognized = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None:
            return NOTHING
        recognized = isinstance(data, ExemplarRecognized)
        decision = {"recognized": recognized, "level": data.level.value if recognized else None,
                    "decision_ref": data.decision_ref, "fostering": bool(getattr(data, "fostering", False))}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "status": "decided", "decision": decision}))

    def revoked(self, view: View, event: Event) -> Decision:
        """The title taken back: the decision stays, with what revoked it; the spread it keeps."""
        data: ExemplarRevoked = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None or not stored.get("decision"):
            return NOTHING
        revocation = {"revocation_ref": data.revocation_ref, "revoked_on": data.revoked_on.isoformat(),
                      "ground": data.ground.value, "reason": data.reason}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "decision": {**stored["decision"], "revocation": revocation},
                                             "adopting_units": data.distinct_units}))

    def corrected(self, view: View, event: Event) -> Decision:
        data: DecisionCorrected = event.data
        stored = view.get(ASSIGNMENTS, data.nomination_id)
        if stored is None or not stored.get("decision"):
            return NOTHING
        decision = {**stored["decision"], "level": data.level.value if data.level else None,
                    "decision_ref": data.decision_ref, "corrections": data.number}
        return Decision.of(Put(ASSIGNMENTS, {**stored, "decision": decision}))

    def replicated(self, view: View, event: Event) -> Decision:
        """The spread of the model: how many distinct units apply it (the service's running count).
        Once revoked, the revocation's count stands: a replication may arrive late from another partition."""
        data: ExemplarReplicated = event.data
        stored = view.get(ASSIGNMENTS, nomination_of(data.exemplar_id))
        if stored is None or stored.get("adopting_units", 0) >= data.distinct_units or _revoked(stored):
            return NOTHING
        return Decision.of(Put(ASSIGNMENTS, {**stored, "adopting_units": data.distinct_units}))

    def input_rejected(self, view: View, event: Event) -> Decision:
        data: InputRejected = event.data
        return Decision.of(Create(REFUSALS, {"_id": data.input_id, "input_type": data.input_type,
                                          "subject": data.subject, "sender_id": data.sender_id,
                                          "reasons": [r.model_dump() for r in data.reasons], "at": event.time}))


# The staff document's fields that copy `staff.registered`'s: (document field, event field).
_STAFF_FIELDS = (("name", "full_name"), ("position", "position"))


def _assignment_queries(person: str) -> list[Where]:
    return [Where(ASSIGNMENTS, "panel", (person,)), Where(ASSIGNMENTS, "recused", (person,)),
            Where(ASSIGNMENTS, "discussion.comments.evaluator_id", (person,))]


def erasure_queries(person: str) -> list[Where]:
    """Every query an erasure of `person` asks (`Workspace.person_erased`)."""
    return [Where(NOMINATIONS, "nominee.staff_id", (person,)), *_assignment_queries(person),
            Where(DRAFTS, "person", (person,)), Where(SUBMISSIONS, "person", (person,)), erasure.answers_of(person)]


def _cleared_assignment(doc: dict, person: str) -> dict | None:
    """The evaluation with the person's sheet and discussion comments erased, or None if none was left."""
    changed = {}
    sheet = (doc.get("sheets") or {}).get(person)
    erased = _erased({"evaluator_id": person, **sheet}, "evaluation.score_recorded", person) if sheet else None
    if erased is not None:
        erased.pop("evaluator_id")
        changed["sheets"] = {**doc["sheets"], person: erased}
    discussion = doc.get("discussion")
    if discussion:
        comments = [_erased(c, "evaluation.comment_recorded", person) or c for c in discussion["comments"]]
        if comments != discussion["comments"]:
            changed["discussion"] = {**discussion, "comments": comments}
    return {**doc, **changed} if changed else None


def _erased(data: dict, event_type: str, person: str) -> dict | None:
    """A copy of `data` (in the shape of an `event_type` payload) with `person`'s personal
    fields set to "đã xóa" as `personal.PERSONAL` places them, or None when none was left."""
    data = copy.deepcopy(data)
    return data if personal.erase(event_type, data, person) else None


def _revoked(stored: dict) -> bool:
    return bool((stored.get("decision") or {}).get("revocation"))
