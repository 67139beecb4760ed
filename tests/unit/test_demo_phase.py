"""The demo phase without a broker: the nominations of each year, and the responder that plays
evaluators, the council and units against what the services publish."""

import datetime as dt

from deploy import demo_data
from deploy.demo import parse_years
from services.evaluations import exemplar_rules as rules
from services.evaluations.criteria import load_criteria
from services.evaluations.demo_feed import FOLLOW_UP_TYPES, Responder, answer_ids
from services.evaluations.domain import ExemplarStatus
from shared.envelope import Event, derived_id, new_event
from shared.events import (
    CriteriaSetRef,
    EvaluationCancelled,
    EvaluationCompleted,
    EvaluatorReplaced,
    ExemplarRecognized,
    InputRejected,
    NominationAccepted,
    PanelAssigned,
    Reason,
)
from shared.vocabulary import Field, NomineeKind, Outcome, RecognitionLevel

REGISTRY = load_criteria()
TODAY = dt.date(2026, 11, 1)
SERVICE = "urn:exemplars:evaluations"


def test_years_parse():
    assert parse_years("2024") == [2024]
    assert parse_years("2023-2025") == [2023, 2024, 2025]
    assert parse_years("2023, 2025") == [2023, 2025]


def test_each_year_replays_identically_and_the_silent_unit_never_nominates():
    quiet = demo_data.silent_unit()
    for year in (2023, 2024, 2025):
        first, second = demo_data.nomination_waves(year)
        again = demo_data.nomination_waves(year)
        assert [e.id for e in first + second] == [e.id for e in again[0] + again[1]]
        assert all(e.data.unit_id != quiet for e in first + second)
        ids = [e.data.nomination_id for e in first if e.type == "nomination.submitted"]
        assert len(ids) == len(set(ids))
        late = {e.type: e.data.nomination_id for e in second}
        assert set(late) == {"nomination.submitted", "nomination.withdrawn"}
        assert sum(1 for e in first if e.data.disciplinary_record) == 1
    assert demo_data.nomination_waves(2024, seed=8)[0][0].id != demo_data.nomination_waves(2024)[0][0].id


def _accepted(sub) -> Event:
    data = NominationAccepted(**sub.model_dump(), accepted_in_year=1, yearly_maximum=2)
    return new_event(data, key=sub.nomination_id, source="urn:exemplars:nominations")


def _panel(sub, evaluators) -> Event:
    data = PanelAssigned(nomination_id=sub.nomination_id, unit_id=sub.unit_id, year=sub.year, field=Field(sub.field),
                         nominee_kind=sub.nominee.kind, title=sub.title,
                         criteria=CriteriaSetRef(set_id=f"{sub.field}.{sub.nominee.kind.value}", version=1),
                         evaluators=evaluators, deadline=dt.date(2026, 12, 1))
    return new_event(data, key=sub.nomination_id, source=SERVICE)


def _responder(everything: bool = True) -> tuple[Responder, list[Event], list[Event]]:
    first, second = demo_data.nomination_waves(2024)
    responder = Responder(REGISTRY, demo_data.adopting_units(), today=TODAY, conflict_rate=0.0, own_unit_rate=1.0)
    responder.expect(first + second if everything else first[:1])
    return responder, first, second


def test_the_panel_scores_seat_by_seat_and_a_replacement_takes_the_seat():
    responder, first, _ = _responder()
    sub = first[0].data
    assert responder.observe(_accepted(sub)) == []
    assert responder.unanswered(first[:1]) == []
    sheets = responder.observe(panel := _panel(sub, ["E1", "E2", "E3"]))
    assert [s.data.evaluator_id for s in sheets] == ["E1", "E2", "E3"]
    assert responder.observe(panel) == []  # republished: answered once
    replaced = EvaluatorReplaced(nomination_id=sub.nomination_id, title=sub.title, recused_id="E2", replacement_id="E7",
                                 reason="Xung đột lợi ích", deadline=dt.date(2026, 12, 1))
    [newcomer] = responder.observe(new_event(replaced, key=sub.nomination_id, source=SERVICE))
    assert newcomer.data.evaluator_id == "E7" and newcomer.data.scores == sheets[1].data.scores
    criteria = {c.id: c.maximum for c in REGISTRY.for_(Field(sub.field), NomineeKind.COLLECTIVE).criteria}
    assert all(set(s.data.scores) == set(criteria) for s in sheets)
    assert f"{sub.nomination_id}: no council decision yet" in responder.pending()
    assert f"{first[1].data.nomination_id}: no answer to the submission" in responder.pending()


def test_a_withdrawn_nomination_is_not_scored():
    responder, first, second = _responder()
    [withdrawal] = [e for e in second if e.type == "nomination.withdrawn"]
    sub = next(e.data for e in first if e.data.nomination_id == withdrawal.data.nomination_id)
    responder.observe(_accepted(sub))
    assert responder.observe(_panel(sub, ["E1", "E2", "E3"])) == []
    waiting = f"{sub.nomination_id}: withdrawal not confirmed and its evaluation not cancelled"
    assert waiting in responder.pending()
    for data in (withdrawal.data.model_copy(update={"year": 2024, "title": sub.title}),
                 EvaluationCancelled(nomination_id=sub.nomination_id, reason="Đơn vị đã rút đề cử.")):
        responder.observe(new_event(data, key=sub.nomination_id, source=SERVICE))
    assert not [line for line in responder.pending() if line.startswith(sub.nomination_id)]


def test_the_council_decides_then_follow_up_is_sent_and_awaited():
    responder, first, _ = _responder(everything=False)
    sub = first[0].data
    responder.observe(_accepted(sub))
    completed = EvaluationCompleted(nomination_id=sub.nomination_id, unit_id=sub.unit_id, year=sub.year, field=Field(sub.field),
                                    title=sub.title, criteria=CriteriaSetRef(set_id="x", version=1), total=88, breakdown=[],
                                    gates={}, outcome=Outcome.RECOGNIZE, evaluator_totals={}, divergent=False, spread=3)
    [decision] = responder.observe(new_event(completed, key=sub.nomination_id, source=SERVICE))
    assert decision.data.recognized and decision.data.level is RecognitionLevel.MINISTRY
    assert decision.data.decided_on == dt.date(2024, 12, 20)
    recognized = ExemplarRecognized(exemplar_id=f"EX-{sub.nomination_id}", nomination_id=sub.nomination_id, unit_id=sub.unit_id,
                                    year=sub.year, field=Field(sub.field), nominee_name=sub.nominee.name, title=sub.title,
                                    level=RecognitionLevel.MINISTRY, decision_ref="1/QĐ", total=88)
    follow_up = responder.observe(new_event(recognized, key=recognized.exemplar_id, source=SERVICE))
    # Everything valid by the service's own rules, but the one deliberate mistake.
    units = {uid: rules.UnitPeriod(uid, start, end) for uid, start, end in demo_data.adopting_units()}
    exemplar = rules.Exemplar(recognized.exemplar_id, sub.unit_id, sub.year, ExemplarStatus.RECOGNIZED)
    refusals = []
    for event in follow_up:
        d = event.data
        if event.type == "exemplar.review_reported":
            refusals += rules.check_review(exemplar_id=d.exemplar_id, exemplar=exemplar, period=d.period,
                                           new_adopting_units=d.new_adopting_units, units=units)
        elif event.type == "exemplar.replication_reported":
            refusals += rules.check_replication(exemplar_id=d.exemplar_id, exemplar=exemplar, adopting_unit_id=d.adopting_unit_id,
                                                applied_on=d.applied_on, units=units, today=TODAY)
        else:
            refusals += rules.check_visit(exemplar_id=d.exemplar_id, exemplar=exemplar, visiting_unit_id=d.visiting_unit_id,
                                          visited_on=d.visited_on, units=units, today=TODAY)
    assert [r.code for r in refusals] == ["OWN_UNIT"]
    awaited = [e for e in follow_up if e.type != "exemplar.visit_reported"]
    assert len(responder.pending()) == len(awaited)
    for event in awaited:
        answer_type = {"exemplar.review_reported": "exemplar.review_recorded"}.get(event.type, "exemplar.replicated")
        if event.type == "exemplar.replication_reported" and event.data.adopting_unit_id == sub.unit_id:
            reply = InputRejected(input_type=event.type, input_id=event.id, subject=event.key,
                                  reasons=[Reason(code="OWN_UNIT", message="Đơn vị của chính điển hình")])
            answer = new_event(reply, key=event.key, source=SERVICE, derived_from=event)
        else:
            answer = Event(type=answer_type, data=recognized, key=event.key, source=SERVICE,
                           id=derived_id(event.dedup_key, answer_type))
        assert answer.id in answer_ids(event, FOLLOW_UP_TYPES)
        responder.observe(answer)
    assert responder.pending() == [] and responder.refused == 1


def test_events_about_other_nominations_are_ignored():
    responder, _, _ = _responder()
    stranger = demo_data.submission("NOM-OTHER-1", demo_data.staff()[1], 2024, demo_data.MODELS[0])
    assert responder.observe(_panel(stranger, ["E1", "E2", "E3"])) == []


def test_replaying_a_log_answers_read_before_their_question_still_count():
    """Rerun on a stack that has played before: answers keyed by the exemplar may come first."""
    first_run, first, _ = _responder(everything=False)
    sub = first[0].data
    recognized = ExemplarRecognized(exemplar_id=f"EX-{sub.nomination_id}", nomination_id=sub.nomination_id,
                                    unit_id=sub.unit_id, year=sub.year, field=Field(sub.field),
                                    nominee_name=sub.nominee.name, title=sub.title, level=RecognitionLevel.UNIT,
                                    decision_ref="1/QĐ", total=80)
    decided = new_event(recognized, key=sub.nomination_id, source=SERVICE)
    follow_up = [e for e in first_run.observe(decided) if e.type != "exemplar.visit_reported"]
    answers = [Event(type="exemplar.review_recorded", data=recognized, key=e.key, source=SERVICE,
                     id=derived_id(e.dedup_key, "exemplar.review_recorded")) for e in follow_up]
    replay, _, _ = _responder(everything=False)
    replay.observe(_accepted(sub))
    for answer in answers:
        replay.observe(answer)
    assert replay.observe(decided) and replay.pending() == []
