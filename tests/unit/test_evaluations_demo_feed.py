"""The evaluations demo feed: valid intake, deterministic, covering every follow-up input."""

import datetime as dt

from services.evaluations import demo_feed
from services.evaluations.criteria import load_criteria
from services.evaluations.domain import weighted_total
from shared.events import CriteriaSetRef, DiscussionOpened, EvaluationCompleted, ExemplarRecognized, PanelAssigned
from shared.vocabulary import Field, NomineeKind, Outcome, RecognitionLevel

REGISTRY = load_criteria()


def panel(nomination_id: str) -> PanelAssigned:
    return PanelAssigned(nomination_id=nomination_id, unit_id="QLDD", year=2024, field=Field.LAND,
                         nominee_kind=NomineeKind.COLLECTIVE, title="Số hóa hồ sơ địa chính",
                         criteria=CriteriaSetRef(set_id="land.collective", version=1),
                         evaluators=["A", "B", "C"], deadline=dt.date(2024, 6, 30))


def test_score_sheets_cover_every_criterion_within_range_and_replay_identically():
    criteria = REGISTRY.for_(Field.LAND, NomineeKind.COLLECTIVE).criteria
    for i in range(30):
        events = demo_feed.scores_for(panel(f"N{i}"), REGISTRY)
        assert [e.key for e in events] == [f"N{i}"] * 3
        assert [e.id for e in events] == [e.id for e in demo_feed.scores_for(panel(f"N{i}"), REGISTRY)]
        for event in events:
            if event.type == "evaluation.score_submitted":
                assert set(event.data.scores) == {c.id for c in criteria}
                assert all(0 <= event.data.scores[c.id] <= c.maximum for c in criteria)
    kinds = {e.type for i in range(30) for e in demo_feed.scores_for(panel(f"N{i}"), REGISTRY, conflict_rate=0.5)}
    assert kinds == {"evaluation.score_submitted", "evaluation.conflict_declared"}


def test_a_divergent_panel_discusses_and_the_harsh_seat_comes_within_the_threshold():
    criteria = REGISTRY.for_(Field.LAND, NomineeKind.COLLECTIVE)
    discussed = 0
    for i in range(60):
        assigned = panel(f"N{i}")
        sheets = demo_feed.scores_for(assigned, REGISTRY, conflict_rate=0)
        totals = {e.data.evaluator_id: weighted_total(criteria, e.data.scores) for e in sheets}
        if max(totals.values()) - min(totals.values()) <= 25:
            continue
        discussed += 1
        opened = DiscussionOpened(nomination_id=assigned.nomination_id, unit_id="QLDD", title="Mô hình",
                                  evaluators=assigned.evaluators, evaluator_totals=totals,
                                  spread=max(totals.values()) - min(totals.values()), threshold=25,
                                  closes_on=dt.date(2024, 7, 5))
        said, amended = demo_feed.discussion_for(opened, assigned, assigned.evaluators, REGISTRY)
        assert said.type == "evaluation.comment_posted" and amended.type == "evaluation.score_submitted"
        assert amended.id not in {e.id for e in sheets}  # an amendment, not a copy the intake would drop
        totals[amended.data.evaluator_id] = weighted_total(criteria, amended.data.scores)
        assert max(totals.values()) - min(totals.values()) <= 25
    assert discussed >= 3


def completed(outcome: Outcome, total: float) -> EvaluationCompleted:
    return EvaluationCompleted(nomination_id="N1", unit_id="QLDD", year=2024, field=Field.LAND, title="Mô hình",
                               criteria=CriteriaSetRef(set_id="land.collective", version=1), total=total, breakdown=[],
                               gates={}, outcome=outcome, evaluator_totals={}, divergent=False, spread=0)


def test_the_council_follows_the_panel():
    strong = demo_feed.decision_for(completed(Outcome.RECOGNIZE, 90), dt.date(2024, 12, 1)).data
    assert strong.recognized and strong.level is RecognitionLevel.MINISTRY
    assert demo_feed.decision_for(completed(Outcome.RECOGNIZE, 75), dt.date(2024, 12, 1)).data.level is RecognitionLevel.UNIT
    fostered = demo_feed.decision_for(completed(Outcome.FOSTER, 60), dt.date(2024, 12, 1)).data
    assert not fostered.recognized and fostered.level is None


def test_follow_up_has_reviews_replications_and_visits_from_other_units():
    others = ["QLDD", "VT", "KTTV", "BHD", "TTDL", "DDBD", "VP"]
    shapes = set()
    for n in range(40):
        recognized = ExemplarRecognized(exemplar_id=f"EX-N{n}", nomination_id=f"N{n}", unit_id="QLDD", year=2024,
                                        field=Field.LAND, nominee_name="Phòng Dữ liệu", title="Mô hình",
                                        level=RecognitionLevel.UNIT, decision_ref="1/QĐ", total=80)
        events = demo_feed.follow_up_for(recognized, others, dt.date(2025, 1, 15), today=dt.date(2025, 3, 1))
        types = [e.type for e in events]
        reviews = [e for e in events if e.type == "exemplar.review_reported"]
        assert len(reviews) == 2
        replications = [e.data.adopting_unit_id for e in events if e.type == "exemplar.replication_reported"]
        reviewed = {u for e in events if e.type == "exemplar.review_reported" for u in e.data.new_adopting_units}
        assert "QLDD" not in replications and reviewed <= set(replications)
        assert len(replications) == (len(set(replications)) + 1 if replications else 0)  # the first twice
        # Visits first, replications last: the answer to the last input means all was applied.
        assert types == sorted(types, key=["exemplar.visit_reported", "exemplar.review_reported",
                                           "exemplar.replication_reported"].index)
        dates = [getattr(e.data, "applied_on", None) or getattr(e.data, "visited_on", None) for e in events]
        assert all(d <= dt.date(2025, 3, 1) for d in dates if d)
        assert all(e.key == f"EX-N{n}" for e in events) and len({e.id for e in events}) == len(events)
        assert [e.id for e in events] == [e.id for e in demo_feed.follow_up_for(recognized, others, dt.date(2025, 1, 15),
                                                                               today=dt.date(2025, 3, 1))]
        shapes.add((len(set(replications)), types.count("exemplar.visit_reported"),
                    reviews[0].data.trend.value, reviews[0].data.needs_support))
    spreads = {s[0] for s in shapes}
    assert min(spreads) == 0 and max(spreads) >= 4 and {s[1] for s in shapes} >= {0, 1, 2}
    assert {s[2] for s in shapes} == {"growing", "maintained", "declining"} and {s[3] for s in shapes} == {True, False}
