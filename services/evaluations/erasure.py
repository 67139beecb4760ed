"""A person's erasure (`person.erased`): what the evaluations projection holds of their personal
fields set to "đã xóa", as a rebuild from the log (where those fields no longer open) stores it.

The person's key is deleted before the event is published, so every sealed copy of their
fields in the log reads "đã xóa" (shared/personal.py); a rebuild therefore copies "đã xóa"
wherever a handler copied one of their fields. This handler writes the same into the live
documents, placing it as `personal.PERSONAL` places it in the events they were copied from:
- staff: their `full_name` (the only personal field of `staff.registered` kept here);
- evaluations naming them as the nominee (`nominee_staff_id`, whatever the nominee's kind:
  a nominee carrying a staff id has their name sealed under that person's key): `nominee_name`;
- evaluations they scored, discussed or stepped down from: their sheets' `comment` and
  `criterion_comments`, their discussion comments, and the `reason` of their recusals and of
  the vacancies they left, when it is the one they declared (`evaluation.conflict_declared`).
  A departure the directory caused carries the service's own sentence
  (`domain.NO_LONGER_ELIGIBLE`), which a rebuild writes again as it is: it stays;
- exemplars naming them as the nominee: `nominee_name`;
- the stored answers (`shared.erasure`): the sheets, comments, reasons and nominee names the
  service published.
What stays, by design: ids (the log keeps them in clear), the council's notes and reasons and
the follow-up reports' free text (`difficulties`, `description`, `note`: not personal fields;
`reported_by` is an id), and the schedule's `notices` (reminders and overdue notices name
the evaluator by id only). Taking the same erasure again changes nothing.

No I/O here, as for every handler: `needs` names the queries, `person_erased` decides.
"""

import copy

from services.evaluations import domain
from services.evaluations.decisions import EVALUATIONS, EXEMPLARS, STAFF
from shared import erasure, personal
from shared.envelope import Event
from shared.events import CommentPosted, ConflictDeclared, EvaluatorReplaced, ScoreSubmitted, StaffRegistered
from shared.events.base import ERASED
from shared.unit_of_work import QUERIES, Decision, Needs, Put, View, Where


# Where an evaluation names a person whose fields it copied (store.INDEXES has each). A vacancy
# is always left with a recusal, so `recused` finds those too.
EVALUATION_FIELDS = ("nominee_staff_id", "sheets.evaluator_id", "recused.evaluator_id",
                     "discussion.comments.evaluator_id")


def queries(person: str) -> list[Where]:
    """The evaluations, then the exemplars, that may hold the person's fields."""
    return [*(Where(EVALUATIONS, name, (person,)) for name in EVALUATION_FIELDS),
            Where(EXEMPLARS, "nominee_staff_id", (person,))]


def needs(person: str) -> Needs:
    return {STAFF: [person], QUERIES: [*queries(person), erasure.answers_of(person)]}


def person_erased(view: View, event: Event) -> Decision:
    person = event.data.staff_id
    changes: list[Put] = []
    staff = view.get(STAFF, person)
    if staff is not None and (name := _erased(StaffRegistered.event_type, person,
                                              {"staff_id": person, "full_name": staff.get("full_name")})):
        changes.append(Put(STAFF, {**staff, "full_name": name["full_name"]}))
    evaluations = {doc["_id"]: doc for query in queries(person)[:-1] for doc in view.where(query)}
    for _, doc in sorted(evaluations.items()):
        if (cleared := evaluation_cleared(doc, person)) is not None:
            changes.append(Put(EVALUATIONS, cleared))
    for doc in view.where(queries(person)[-1]):
        if (cleared := nominee_cleared(doc, person)) is not None:
            changes.append(Put(EXEMPLARS, cleared))
    changes += erasure.cleared_answers(view, person)
    return Decision.of(*changes)


def evaluation_cleared(doc: dict, person: str) -> dict | None:
    """The evaluation with the person's fields "đã xóa", or None when it holds none of them."""
    new = nominee_cleared(doc, person) or dict(doc)
    new["sheets"] = [_erased(ScoreSubmitted.event_type, person, sheet) or sheet for sheet in doc.get("sheets", [])]
    new["recused"] = [_declared(ConflictDeclared.event_type, person, entry, "evaluator_id")
                      for entry in doc.get("recused", [])]
    new["vacancies"] = [_declared(EvaluatorReplaced.event_type, person, entry, "recused_id")
                        for entry in doc.get("vacancies", [])]
    if (discussion := doc.get("discussion")) is not None:
        comments = [_erased(CommentPosted.event_type, person, c) or c for c in discussion.get("comments", [])]
        new["discussion"] = {**discussion, "comments": comments}
    for name in ("sheets", "recused", "vacancies"):
        if name not in doc:
            new.pop(name)
    return new if new != doc else None


def nominee_cleared(doc: dict, person: str) -> dict | None:
    """An evaluation or exemplar naming the person as its nominee, their name "đã xóa"."""
    if doc.get("nominee_staff_id") != person or doc.get("nominee_name") in (None, ERASED):
        return None
    return {**doc, "nominee_name": ERASED}


def _declared(event_type: str, person: str, entry: dict, owner: str) -> dict:
    """A recusal or vacancy of the person, its reason "đã xóa" when they declared it."""
    if entry.get(owner) != person or entry.get("reason") == domain.NO_LONGER_ELIGIBLE:
        return entry
    return _erased(event_type, person, entry) or entry


def _erased(event_type: str, person: str, data: dict) -> dict | None:
    """A copy of `data` (in the shape of an `event_type` payload) with the person's personal
    fields "đã xóa" where `personal.PERSONAL` places them, or None when none was left."""
    data = copy.deepcopy(data)
    return data if personal.erase(event_type, data, person) else None
