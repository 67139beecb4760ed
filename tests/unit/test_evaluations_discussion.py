"""The discussion of a divergent panel, decided in the unit of work over memory: when it opens,
who may comment, how it ends (agreement or time box), and what a recusal does to it."""

import datetime as dt

import pytest

from services.evaluations import domain
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import EVALUATIONS
from services.evaluations.domain import Status, Step
from services.evaluations.handlers import Evaluations
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import CommentPosted, ConflictDeclared, DiscussionTimeUp, ScoreSubmitted
from shared.programme import EvaluationPolicy
from shared.unit_of_work import UnitOfWork
from tests.unit.test_evaluations_handlers import POLICY, accepted, at, staff, unit

CRITERIA = load_criteria()


def sheet(nomination: Event, fraction: float) -> dict[str, float]:
    """Every criterion at `fraction` of its maximum: the sheet's total is fraction x 100."""
    data = nomination.data
    return {c.id: round(c.maximum * fraction, 4) for c in CRITERIA.for_(data.field, data.nominee.kind).criteria}


def score(evaluator: str, scores: dict[str, float], day: str = "2024-03-10") -> Event:
    return new_event(ScoreSubmitted(nomination_id="N1", evaluator_id=evaluator, scores=scores), key="N1",
                     source="urn:portal", time=at(day))


def comment(evaluator: str, text: str = "Tiêu chí lan tỏa cần xem lại.", day: str = "2024-03-11") -> Event:
    return new_event(CommentPosted(nomination_id="N1", evaluator_id=evaluator, comment=text), key="N1",
                     source="urn:portal", time=at(day))


def time_up(closes_on: dt.date) -> Event:
    return new_event(DiscussionTimeUp(nomination_id="N1", closes_on=closes_on), key="N1",
                     source="urn:exemplars:evaluations", time=at("2024-03-16"))


async def divergent_panel(policy: EvaluationPolicy = POLICY):
    """N1 scored 90, 80 and 50 by its three members (spread 40, over the threshold of 25)."""
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Evaluations(load_criteria(), policy, replacement_min_days=7))
    units = ["U-NOM", "U-B", "U-C", "U-D", "U-E"]
    await work.run([unit(u) for u in units] + [staff(f"s-{u}", u) for u in units[1:]])
    nomination = accepted("N1")
    [opened] = await work.run([nomination])
    panel = list(opened.publish[0].data.evaluators)
    outcomes = await work.run([score(member, sheet(nomination, fraction))
                               for member, fraction in zip(panel, (0.9, 0.8, 0.5), strict=True)])
    return documents, work, nomination, panel, outcomes


def types(outcome) -> list[str]:
    return [e.type for e in outcome.publish]


async def test_a_divergent_panel_discusses_before_it_completes():
    documents, _, _, panel, outcomes = await divergent_panel()
    assert [types(o) for o in outcomes] == [["evaluation.score_recorded"]] * 2 + [
        ["evaluation.score_recorded", "evaluation.discussion_opened"]]
    opened = outcomes[-1].publish[1].data
    assert opened.evaluators == panel and opened.spread == 40 and opened.threshold == 25
    assert opened.closes_on == dt.date(2024, 3, 15)  # 5 days from the last sheet's day
    assert sorted(opened.evaluator_totals.values()) == [50, 80, 90]
    doc = documents.collections[EVALUATIONS]["N1"]
    assert doc["status"] == "discussion" and doc["result"] is None
    recorded = outcomes[0].publish[0].data
    assert recorded.evaluator_id == panel[0] and recorded.total == 90 and not recorded.amended


async def test_an_amendment_within_the_threshold_completes_by_agreement():
    documents, work, nomination, panel, _ = await divergent_panel()
    [said] = await work.run([comment(panel[2])])
    assert types(said) == ["evaluation.comment_recorded"] and said.publish[0].data.number == 1
    [amended] = await work.run([score(panel[2], sheet(nomination, 0.7), day="2024-03-12")])
    assert types(amended) == ["evaluation.score_recorded", "evaluation.completed"]
    assert amended.publish[0].data.amended
    completed = amended.publish[1].data
    assert completed.spread == 20 and not completed.divergent and completed.total == 80
    assert completed.discussion.model_dump() == {
        "opened_on": dt.date(2024, 3, 10), "closed_on": dt.date(2024, 3, 12), "closed_by": "agreement",
        "spread_at_opening": 40, "comments": 1}
    doc = documents.collections[EVALUATIONS]["N1"]
    assert doc["status"] == "completed" and doc["discussion"]["closed_by"] == "agreement"


async def test_an_amendment_still_beyond_the_threshold_keeps_the_discussion_open():
    documents, work, nomination, panel, _ = await divergent_panel()
    [amended] = await work.run([score(panel[2], sheet(nomination, 0.6))])
    assert types(amended) == ["evaluation.score_recorded"]
    assert documents.collections[EVALUATIONS]["N1"]["status"] == "discussion"


async def test_the_time_box_completes_the_evaluation_as_it_stands_once():
    documents, work, _, panel, _ = await divergent_panel()
    await work.run([comment(panel[0]), comment(panel[1], "Đồng ý với đồng chí.")])
    stale, current = time_up(dt.date(2024, 3, 14)), time_up(dt.date(2024, 3, 15))
    [ignored] = await work.run([stale])  # not this discussion's last day
    assert ignored.publish == []
    [ended] = await work.run([current])
    [completed] = ended.publish
    assert completed.type == "evaluation.completed" and completed.data.divergent and completed.data.spread == 40
    assert completed.data.discussion.closed_by == "time_box" and completed.data.discussion.comments == 2
    [again] = await work.run([time_up(dt.date(2024, 3, 15))])  # another tick's copy, if its id differs
    assert again.publish == []
    assert documents.collections[EVALUATIONS]["N1"]["status"] == "completed"


@pytest.mark.parametrize("when", ["scoring", "completed"])
async def test_comments_only_while_the_panel_discusses(when):
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Evaluations(load_criteria(), POLICY, replacement_min_days=7))
    units = ["U-NOM", "U-B", "U-C", "U-D"]
    await work.run([unit(u) for u in units] + [staff(f"s-{u}", u) for u in units[1:]])
    nomination = accepted("N1")
    [opened] = await work.run([nomination])
    panel = opened.publish[0].data.evaluators
    if when == "completed":
        await work.run([score(member, sheet(nomination, 0.8)) for member in panel])
    [refused] = await work.run([comment(panel[0])])
    [reason] = refused.publish[0].data.reasons
    assert reason.code == ("NOT_IN_DISCUSSION" if when == "scoring" else "EVALUATION_CLOSED")


async def test_only_current_members_comment():
    _, work, _, panel, _ = await divergent_panel()
    [stranger] = await work.run([comment("s-U-NOM")])
    assert stranger.publish[0].data.reasons[0].code == "NOT_ON_PANEL"
    [unknown] = await work.run([new_event(CommentPosted(nomination_id="N9", evaluator_id=panel[0], comment="?"),
                                          key="N9", source="urn:portal")])
    assert unknown.publish[0].data.reasons[0].code == "UNKNOWN_NOMINATION"


async def test_a_recusal_during_the_discussion_reopens_scoring_and_keeps_what_was_said():
    documents, work, nomination, panel, _ = await divergent_panel()
    await work.run([comment(panel[1])])
    [replaced] = await work.run([new_event(ConflictDeclared(nomination_id="N1", evaluator_id=panel[2],
                                                            reason="Người thân công tác tại đơn vị"),
                                           key="N1", source="urn:portal", time=at("2024-03-12"))])
    newcomer = replaced.publish[0].data.replacement_id
    doc = documents.collections[EVALUATIONS]["N1"]
    assert doc["status"] == "open" and newcomer not in panel
    [late] = await work.run([time_up(dt.date(2024, 3, 15))])
    assert late.publish == []  # the discussion it would have ended is no longer running
    [scored] = await work.run([score(newcomer, sheet(nomination, 0.4), day="2024-03-13")])
    assert types(scored) == ["evaluation.score_recorded", "evaluation.discussion_opened"]
    assert scored.publish[1].data.closes_on == dt.date(2024, 3, 18)
    assert len(documents.collections[EVALUATIONS]["N1"]["discussion"]["comments"]) == 1


async def test_without_discussion_days_a_divergent_panel_completes_at_once():
    policy = EvaluationPolicy(panel_size=3, scoring_days=30, reminder_days_before=(7, 2), discussion_days=0)
    _, _, _, _, outcomes = await divergent_panel(policy)
    assert types(outcomes[-1]) == ["evaluation.score_recorded", "evaluation.completed"]
    assert outcomes[-1].publish[1].data.divergent and outcomes[-1].publish[1].data.discussion is None


@pytest.mark.parametrize(("status", "complete", "divergent", "days", "step"), [
    (Status.OPEN, False, False, 5, Step.WAIT),
    (Status.OPEN, True, False, 5, Step.COMPLETE),
    (Status.OPEN, True, True, 5, Step.DISCUSS),
    (Status.OPEN, True, True, 0, Step.COMPLETE),
    (Status.DISCUSSION, True, True, 5, Step.WAIT),
    (Status.DISCUSSION, True, False, 5, Step.COMPLETE),
    (Status.COMPLETED, True, False, 5, Step.WAIT),
])
def test_after_a_sheet(status, complete, divergent, days, step):
    assert domain.after_sheet(status, panel_complete=complete, divergent=divergent, discussion_days=days) is step



async def test_a_comment_on_an_unknown_criterion_is_refused_and_known_ones_are_recorded():
    _, work, nomination, panel, _ = await divergent_panel()
    criterion = next(iter(sheet(nomination, 0.5)))
    wrong = new_event(ScoreSubmitted(nomination_id="N1", evaluator_id=panel[2], scores=sheet(nomination, 0.6),
                                     criterion_comments={"beauty": "Đẹp."}), key="N1", source="urn:portal")
    [refused] = await work.run([wrong])
    assert [r.code for r in refused.publish[0].data.reasons] == ["UNKNOWN_CRITERIA"]
    right = new_event(ScoreSubmitted(nomination_id="N1", evaluator_id=panel[2], scores=sheet(nomination, 0.6),
                                     criterion_comments={criterion: "Thiếu số liệu."}), key="N1", source="urn:portal")
    [taken] = await work.run([right])
    assert taken.publish[0].data.criterion_comments == {criterion: "Thiếu số liệu."}
