"""Score sheets, the discussion of a divergent panel, and completion: pure decisions over the
batch's view, called by `handlers.Evaluations`.

A sheet is recorded (`evaluation.score_recorded`), and the panel's members may see it once
their own is in. When the whole panel has scored: within the divergence threshold, the
evaluation completes; beyond it, the members discuss first (`evaluation.discussion_opened`):
they comment and may amend, and the evaluation completes as soon as the totals come within
the threshold, or as it stands when the time box ends (`evaluation.discussion_time_up`, the
service's own clock sent to its intake, so a rebuild replays the same ending).

"Today" is the input's receive time (`Event.received_at`), never the sender's `time`.
"""

from typing import Any, Literal

from services.evaluations import domain
from services.evaluations.criteria import CriteriaSet
from services.evaluations.decisions import EVALUATIONS, derived, make, refuse
from services.evaluations.domain import NominationFacts, Status, Step, Thresholds
from shared.days import date, day
from shared.envelope import Event, signed_by
from shared.events import (
    CommentPosted,
    CommentRecorded,
    DiscussionOpened,
    DiscussionSummary,
    DiscussionTimeUp,
    EvaluationCompleted,
    ScoreRecorded,
    ScoreSubmitted,
)
from shared.events.base import MAX_COMMENTS
from shared.unit_of_work import NOTHING, Decision, Put, View
from shared.vocabulary import EvidenceKind


def score_submitted(view: View, event: Event) -> Decision:
    sub: ScoreSubmitted = event.data
    doc = view.get(EVALUATIONS, sub.nomination_id)
    criteria = CriteriaSet.from_snapshot(doc["criteria"]) if doc else None
    reasons = domain.check_score(
        nomination_id=sub.nomination_id, status=status_of(doc), panel=doc["panel"] if doc else [],
        recused=recused_of(doc), criteria=criteria, evaluator_id=sub.evaluator_id, scores=sub.scores, gates=sub.gates,
        remarks=sub.criterion_comments)
    if reasons:
        return refuse(event, reasons, subject=sub.nomination_id, sender=sub.evaluator_id)
    assert doc is not None and criteria is not None  # or check_score refused it
    amended = any(s["evaluator_id"] == sub.evaluator_id for s in doc["sheets"])
    sheet = {"evaluator_id": sub.evaluator_id, "scores": dict(sub.scores), "gates": dict(sub.gates),
             "comment": sub.comment, "criterion_comments": dict(sub.criterion_comments), "at": event.time,
             "received_at": event.received_at, "event_id": event.id, "sender": signed_by(event)}
    sheets = [s for s in doc["sheets"] if s["evaluator_id"] != sub.evaluator_id] + [sheet]
    doc = {**doc, "sheets": sheets, "updated_at": event.time}
    recorded = derived(make(ScoreRecorded, nomination_id=doc["_id"], evaluator_id=sub.evaluator_id, scores=sub.scores,
                            gates=sub.gates, comment=sub.comment, criterion_comments=sub.criterion_comments,
                            amended=amended,
                            total=round(domain.weighted_total(criteria, sub.scores), 2)),
                       event, doc["_id"])
    status = Status(doc["status"])
    complete = domain.panel_complete(doc["panel"], doc["panel_size"], {s["evaluator_id"] for s in sheets})
    result = panel_result(doc, criteria) if complete and status in domain.SCORING else None
    thresholds = Thresholds(**doc["thresholds"])
    step = domain.after_sheet(status, panel_complete=complete, divergent=bool(result and result.divergent),
                              discussion_days=thresholds.discussion_days)
    if step is Step.WAIT:
        return Decision.of(Put(EVALUATIONS, doc), publish=[recorded])
    assert result is not None  # a complete panel was scored
    if step is Step.DISCUSS:
        doc, opened = _open_discussion(doc, result, thresholds, event)
        return Decision.of(Put(EVALUATIONS, doc), publish=[recorded, opened])
    doc, completed = _completed(doc, criteria, result, event, closed_by="agreement")
    return Decision.of(Put(EVALUATIONS, doc), publish=[recorded, completed])


def comment_posted(view: View, event: Event) -> Decision:
    posted: CommentPosted = event.data
    doc = view.get(EVALUATIONS, posted.nomination_id)
    comments = ((doc or {}).get("discussion") or {}).get("comments", [])
    reasons = domain.check_comment(nomination_id=posted.nomination_id, status=status_of(doc),
                                   panel=doc["panel"] if doc else [], recused=recused_of(doc),
                                   evaluator_id=posted.evaluator_id, comments=len(comments), limit=MAX_COMMENTS)
    if reasons:
        return refuse(event, reasons, subject=posted.nomination_id, sender=posted.evaluator_id)
    assert doc is not None  # or check_comment refused it
    comment = {"evaluator_id": posted.evaluator_id, "comment": posted.comment, "at": event.time,
               "received_at": event.received_at, "event_id": event.id, "sender": signed_by(event)}
    doc = {**doc, "discussion": {**doc["discussion"], "comments": [*comments, comment]}, "updated_at": event.time}
    recorded = CommentRecorded(nomination_id=doc["_id"], evaluator_id=posted.evaluator_id, comment=posted.comment,
                               number=len(comments) + 1)
    return Decision.of(Put(EVALUATIONS, doc), publish=[derived(recorded, event, doc["_id"])])


def discussion_time_up(view: View, event: Event) -> Decision:
    """The evaluation completes as it stands. A stale clock event (the discussion already
    ended, or was reopened after a recusal with a later last day) changes nothing."""
    time_up: DiscussionTimeUp = event.data
    doc = view.get(EVALUATIONS, time_up.nomination_id)
    if status_of(doc) is not Status.DISCUSSION or date(doc["discussion"]["closes_on"]) != time_up.closes_on:
        return NOTHING
    criteria = CriteriaSet.from_snapshot(doc["criteria"])
    doc, completed = _completed(doc, criteria, panel_result(doc, criteria), event, closed_by="time_box")
    return Decision.of(Put(EVALUATIONS, doc), publish=[completed])


def panel_result(doc: dict, criteria: CriteriaSet) -> domain.Completion:
    """The recommendation from the current members' sheets (a recused member's are gone)."""
    members = set(doc["panel"])
    scores = {s["evaluator_id"]: s["scores"] for s in doc["sheets"] if s["evaluator_id"] in members}
    findings = {s["evaluator_id"]: s["gates"] for s in doc["sheets"] if s["evaluator_id"] in members}
    facts_doc = doc["facts"]
    facts = NominationFacts(evidence=frozenset(EvidenceKind(e) for e in facts_doc["evidence"]),
                            disciplinary_record=facts_doc["disciplinary_record"],
                            started_on=date(facts_doc["started_on"]), as_of=date(facts_doc["as_of"]))
    return domain.complete(criteria, Thresholds(**doc["thresholds"]), scores, findings, facts)


def _open_discussion(doc: dict, result: domain.Completion, thresholds: Thresholds, event: Event) -> tuple[dict, Event]:
    """The members are told and have `discussion_days` to comment and amend. A discussion
    reopened after a recusal keeps what was said."""
    today = event.received_at.date()
    closes_on = domain.discussion_closes(today, thresholds.discussion_days)
    earlier = doc.get("discussion") or {"comments": []}
    discussion = {**earlier, "opened_on": day(today), "closes_on": day(closes_on), "spread": result.spread}
    doc = {**doc, "status": Status.DISCUSSION.value, "discussion": discussion}
    opened = make(DiscussionOpened, nomination_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                  evaluators=doc["panel"], evaluator_totals=result.evaluator_totals, spread=result.spread,
                  threshold=thresholds.divergence_spread, closes_on=closes_on)
    return doc, derived(opened, event, doc["_id"])


def _completed(doc: dict, criteria: CriteriaSet, result: domain.Completion, event: Event,
               closed_by: Literal["agreement", "time_box"]) -> tuple[dict, Event]:
    summary = None
    if Status(doc["status"]) is Status.DISCUSSION:
        discussion = doc["discussion"]
        summary = DiscussionSummary(opened_on=date(discussion["opened_on"]), closed_on=event.received_at.date(),
                                    closed_by=closed_by, spread_at_opening=discussion["spread"],
                                    comments=len(discussion["comments"]))
        doc = {**doc, "discussion": {**discussion, "closed_on": day(summary.closed_on), "closed_by": closed_by}}
    doc = {**doc, "status": Status.COMPLETED.value, "result": result_document(result), "completed_at": event.time,
           "updated_at": event.time}
    completed = make(
        EvaluationCompleted, nomination_id=doc["_id"], unit_id=doc["unit_id"], year=doc["year"], field=doc["field"],
        title=doc["title"], criteria=criteria.ref, total=result.total, breakdown=result.breakdown,
        gates=result.gates, outcome=result.outcome, evaluator_totals=result.evaluator_totals,
        divergent=result.divergent, spread=result.spread, discussion=summary)
    return doc, derived(completed, event, doc["_id"])


def status_of(doc: dict | None) -> Status | None:
    return Status(doc["status"]) if doc else None


def recused_of(doc: dict | None) -> list[str]:
    return [r["evaluator_id"] for r in (doc or {}).get("recused", [])]


def result_document(result: domain.Completion) -> dict[str, Any]:
    return {"total": result.total, "breakdown": [c.model_dump() for c in result.breakdown], "gates": result.gates,
            "outcome": result.outcome.value, "evaluator_totals": result.evaluator_totals, "spread": result.spread,
            "divergent": result.divergent, "below_minimum": result.below_minimum}
