"""The evaluations rules without any server: panels, scores, outcomes, decisions, follow-up."""

import datetime as dt
import re

import pytest

from services.evaluations import council_rules, domain
from services.evaluations.criteria import load_criteria
from services.evaluations.directory import load_changes
from services.evaluations.domain import Candidate, Code, NominationFacts, Status, Thresholds
from shared.vocabulary import EvidenceKind, Field, NomineeKind, Outcome, RecognitionLevel, Role

CRITERIA = load_criteria().for_(Field.LAND, NomineeKind.COLLECTIVE)
FULL_FILE = NominationFacts(
    evidence=frozenset({EvidenceKind.PROPOSAL_LETTER, EvidenceKind.ACHIEVEMENT_REPORT, EvidenceKind.REVIEW_MINUTES}),
    disciplinary_record=False, started_on=dt.date(2022, 1, 10), as_of=dt.date(2024, 5, 1))
MAXIMA = {c.id: c.maximum for c in CRITERIA.criteria}


def sheet(fraction: float, **overrides: float) -> dict[str, float]:
    """Every criterion at `fraction` of its maximum: the evaluator's total is fraction * 100."""
    return {cid: maximum * fraction for cid, maximum in MAXIMA.items()} | overrides


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


def test_codes_are_stable_upper_snake_case():
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", c.value) and c.value == c.name for c in Code)


def test_exemplar_ids_derive_from_the_nomination():
    assert domain.exemplar_id("NOM-2024-0007") == "EX-NOM-2024-0007"
    assert domain.nomination_of("EX-NOM-2024-0007") == "NOM-2024-0007"
    assert domain.nomination_of("NOM-1") is None


# ---- panels --------------------------------------------------------------------------------


def evaluator(staff_id: str, unit_id: str, *fields: Field, load: int = 0, **kw) -> Candidate:
    return Candidate(staff_id, unit_id, fields=frozenset(fields), open_assignments=load, **kw)


def test_units_to_exclude_are_the_nominee_unit_and_everything_below_it():
    parents = {"BTNMT": None, "TCDD": "BTNMT", "TCDD-P1": "TCDD", "TCDD-P1-T": "TCDD-P1", "KTTV": "BTNMT"}
    assert domain.units_to_exclude("TCDD", parents) == {"TCDD", "TCDD-P1", "TCDD-P1-T"}
    assert domain.units_to_exclude("UNKNOWN", parents) == {"UNKNOWN"}


def test_panel_never_includes_the_nominee_unit_non_evaluators_or_removed_staff():
    candidates = [
        evaluator("own", "U-NOM", Field.LAND),
        evaluator("child", "U-NOM-1", Field.LAND),
        evaluator("officer", "U-B", Field.LAND, roles=frozenset({Role.EMULATION_OFFICER})),
        evaluator("gone", "U-C", Field.LAND, removed=True),
        evaluator("nominee", "U-D", Field.LAND),
        evaluator("ok1", "U-E"),
        evaluator("ok2", "U-F"),
    ]
    panel = domain.select_panel("N1", Field.LAND, candidates, size=3, excluded_units={"U-NOM", "U-NOM-1"},
                                excluded_staff={"nominee"})
    assert sorted(panel) == ["ok1", "ok2"]  # too few: the caller reports an incomplete panel


def test_panel_prefers_the_field_then_the_least_loaded():
    candidates = [
        evaluator("busy-land", "U-A", Field.LAND, load=5),
        evaluator("free-water", "U-B", Field.WATER_RESOURCES, load=0),
        evaluator("free-land", "U-C", Field.LAND, Field.GEOLOGY, load=1),
        evaluator("idle-other", "U-D", load=0),
    ]
    panel = domain.select_panel("N1", Field.LAND, candidates, size=3, excluded_units=set())
    # Field experts first (even a busy one), then the least loaded of the rest.
    assert panel[:2] == ["free-land", "busy-land"] and panel[2] in {"free-water", "idle-other"}


def test_panel_balances_load_among_equals():
    candidates = [evaluator(f"E{i}", f"U-{i}", Field.LAND, load=load) for i, load in enumerate([3, 0, 2, 1, 0])]
    panel = domain.select_panel("N1", Field.LAND, candidates, size=3, excluded_units=set())
    assert sorted(panel[:2]) == ["E1", "E4"] and panel[2] == "E3"


def test_panel_selection_is_deterministic_and_ties_vary_by_nomination():
    candidates = [evaluator(f"E{i}", f"U-{i}", Field.LAND) for i in range(6)]
    first = domain.select_panel("N1", Field.LAND, candidates, size=3, excluded_units=set())
    assert first == domain.select_panel("N1", Field.LAND, list(reversed(candidates)), size=3, excluded_units=set())
    leaders = {domain.select_panel(f"N{i}", Field.LAND, candidates, size=1, excluded_units=set())[0]
               for i in range(30)}
    assert len(leaders) > 1  # equal candidates share the work across nominations


def test_panel_spreads_over_units_before_doubling_up():
    candidates = [evaluator("A1", "U-A", Field.LAND), evaluator("A2", "U-A", Field.LAND), evaluator("B1", "U-B")]
    panel = domain.select_panel("N1", Field.LAND, candidates, size=2, excluded_units=set())
    assert "B1" in panel and len({"A1", "A2"} & set(panel)) == 1
    # Not enough units: a second evaluator of the same unit is better than an empty seat.
    assert len(domain.select_panel("N1", Field.LAND, candidates, size=3, excluded_units=set())) == 3


def test_replacement_skips_current_members_and_recused_ones():
    candidates = [evaluator(s, f"U-{s}", Field.LAND) for s in ("A", "B", "C", "D")]
    replacement = domain.select_panel("N1", Field.LAND, candidates, size=1, excluded_units=set(),
                                      excluded_staff={"A", "B", "C"}, panel_units={"U-B", "U-C"})
    assert replacement == ["D"]
    assert domain.select_panel("N1", Field.LAND, candidates, size=1, excluded_units=set(),
                               excluded_staff={"A", "B", "C", "D"}) == []


def test_deadlines():
    assert domain.scoring_deadline(dt.date(2024, 5, 1), 30) == dt.date(2024, 5, 31)
    assert domain.deadline_after_replacement(dt.date(2024, 5, 31), dt.date(2024, 5, 28), 7) == dt.date(2024, 6, 4)
    assert domain.deadline_after_replacement(dt.date(2024, 5, 31), dt.date(2024, 5, 2), 7) == dt.date(2024, 5, 31)


def test_conflicts_only_from_current_members_of_open_evaluations():
    ok = dict(nomination_id="N1", panel=["A", "B", "C"], recused=["Z"])
    assert domain.check_conflict(status=Status.OPEN, evaluator_id="A", **ok) == []
    assert codes(domain.check_conflict(status=Status.OPEN, evaluator_id="Q", **ok)) == ["NOT_ON_PANEL"]
    assert codes(domain.check_conflict(status=Status.OPEN, evaluator_id="Z", **ok)) == ["EVALUATOR_RECUSED"]
    assert codes(domain.check_conflict(status=Status.COMPLETED, evaluator_id="A", **ok)) == ["EVALUATION_CLOSED"]
    assert codes(domain.check_conflict(status=None, evaluator_id="A", **ok)) == ["UNKNOWN_NOMINATION"]


# ---- scores --------------------------------------------------------------------------------


def check(status=Status.OPEN, evaluator_id="A", scores=None, gates=None):
    return domain.check_score(nomination_id="N1", status=status, panel=["A", "B", "C"], recused=["R"],
                              criteria=CRITERIA, evaluator_id=evaluator_id,
                              scores=sheet(0.8) if scores is None else scores, gates=gates or {})


def test_a_complete_sheet_in_range_from_a_member_is_accepted():
    assert check() == []
    assert check(status=Status.PANEL_INCOMPLETE) == []  # members may score while a seat is empty
    assert check(scores=sheet(0) | sheet(1, effectiveness=30)) == []  # both ends of the range
    assert check(gates={"complete_file": True, "months_in_operation": False}) == []


@pytest.mark.parametrize(("status", "code"), [
    (None, "UNKNOWN_NOMINATION"), (Status.CANCELLED, "EVALUATION_CANCELLED"),
    (Status.COMPLETED, "EVALUATION_CLOSED"), (Status.DECIDED, "EVALUATION_CLOSED"),
])
def test_scores_outside_the_scoring_window_are_refused(status, code):
    assert codes(check(status=status)) == [code]


def test_scores_from_outside_the_panel_are_refused():
    assert codes(check(evaluator_id="X")) == ["NOT_ON_PANEL"]
    refused = check(evaluator_id="R")
    assert codes(refused) == ["EVALUATOR_RECUSED"]
    assert "xung đột lợi ích" in refused[0].message


def test_every_problem_of_a_sheet_is_reported_in_vietnamese():
    scores = sheet(0.5)
    del scores["novelty"]
    scores.update(effectiveness=31, spread=-1, beauty=3)
    reasons = check(scores=scores, gates={"handsome": True})
    assert codes(reasons) == ["MISSING_CRITERIA", "UNKNOWN_CRITERIA", "SCORE_OUT_OF_RANGE", "SCORE_OUT_OF_RANGE",
                              "UNKNOWN_GATE"]
    assert "Tính mới, sáng tạo" in reasons[0].message
    assert "beauty" in reasons[1].message and "land.collective" in reasons[1].message
    assert reasons[2].message == "Điểm tiêu chí “Hiệu quả” phải từ 0 đến 30; đã nhận 31."
    assert "“Sức lan tỏa”" in reasons[3].message


def test_non_finite_scores_are_out_of_range():
    assert codes(check(scores=sheet(0.5, novelty=float("nan")))) == ["SCORE_OUT_OF_RANGE"]
    assert codes(check(scores=sheet(0.5, novelty=float("inf")))) == ["SCORE_OUT_OF_RANGE"]


# ---- completion ----------------------------------------------------------------------------


def complete(scores, findings=None, facts=FULL_FILE, thresholds=Thresholds()):
    return domain.complete(CRITERIA, thresholds, scores, findings or {}, facts)


def test_panel_complete_needs_a_full_panel_that_has_all_scored():
    assert domain.panel_complete(["A", "B", "C"], 3, {"A", "B", "C", "R"})
    assert not domain.panel_complete(["A", "B", "C"], 3, {"A", "B"})
    assert not domain.panel_complete(["A", "B"], 3, {"A", "B"})  # a seat is still empty


def test_weighted_total_breakdown_and_divergence():
    result = complete({"A": sheet(1.0), "B": sheet(0.7), "C": sheet(0.4)})
    assert result.total == 70.0 and result.outcome is Outcome.RECOGNIZE  # 70 is in the top band
    assert result.evaluator_totals == {"A": 100.0, "B": 70.0, "C": 40.0}
    assert result.spread == 60.0 and result.divergent
    effectiveness = result.breakdown[0]
    assert (effectiveness.criterion_id, effectiveness.name) == ("effectiveness", "Hiệu quả")
    assert (effectiveness.average, effectiveness.weighted, effectiveness.weight, effectiveness.maximum) == (21.0, 21.0, 30, 30)
    assert sum(c.weighted for c in result.breakdown) == pytest.approx(result.total)
    assert result.gates == {"complete_file": True, "no_disciplinary_record": True, "months_in_operation": True}


def test_criteria_with_a_maximum_other_than_the_weight_are_scaled():
    # Two sheets disagree on one criterion only: economic value 10/10 and 0/10 average 5 -> 5 of 10 points.
    result = complete({"A": sheet(0.6, economic_value=10), "B": sheet(0.6, economic_value=0)})
    economic = next(c for c in result.breakdown if c.criterion_id == "economic_value")
    assert (economic.average, economic.weighted) == (5.0, 5.0)
    assert result.total == pytest.approx(54 + 5)


@pytest.mark.parametrize(("fraction", "outcome"), [
    (0.70, Outcome.RECOGNIZE), (0.6999, Outcome.FOSTER), (0.50, Outcome.FOSTER),
    (0.4999, Outcome.NOT_RECOGNIZED), (0.0, Outcome.NOT_RECOGNIZED), (1.0, Outcome.RECOGNIZE),
])
def test_outcome_bands(fraction, outcome):
    assert complete({"A": sheet(fraction)}).outcome is outcome


def test_thresholds_are_settings():
    strict = Thresholds(recognize_from=80, foster_from=60, divergence_spread=10)
    result = complete({"A": sheet(0.75), "B": sheet(0.62)}, thresholds=strict)
    assert result.total == 68.5 and result.outcome is Outcome.FOSTER
    assert result.spread == 13.0 and result.divergent
    assert not complete({"A": sheet(0.75), "B": sheet(0.62)}).divergent


def test_spread_of_exactly_the_threshold_is_not_divergent():
    assert not complete({"A": sheet(0.80), "B": sheet(0.55)}).divergent
    assert complete({"A": sheet(0.8001), "B": sheet(0.55)}).divergent


def test_rounding_never_contradicts_the_published_total():
    result = complete({"A": sheet(0.69996)})
    assert result.total == 70.0 and result.outcome is Outcome.RECOGNIZE


def test_a_mandatory_criterion_below_its_minimum_blocks_recognition_not_fostering():
    result = complete({"A": sheet(1.0, effectiveness=14), "B": sheet(1.0, effectiveness=14)})
    assert result.total == 84.0
    assert result.below_minimum == ["effectiveness"] and result.outcome is Outcome.FOSTER


def test_a_failed_gate_is_not_offset_by_any_score():
    facts = NominationFacts(evidence=FULL_FILE.evidence, disciplinary_record=True,
                            started_on=FULL_FILE.started_on, as_of=FULL_FILE.as_of)
    result = complete({"A": sheet(1.0)}, facts=facts)
    assert result.total == 100.0 and result.outcome is Outcome.NOT_RECOGNIZED
    assert result.gates["no_disciplinary_record"] is False


def test_gates_from_the_file():
    def gates(**facts):
        return domain.evaluate_gates(CRITERIA, NominationFacts(**{**FULL_FILE.__dict__, **facts}), {})
    assert gates(evidence=frozenset({EvidenceKind.PROPOSAL_LETTER}))["complete_file"] is False
    assert gates(started_on=dt.date(2023, 5, 2))["months_in_operation"] is False  # 11 months and 29 days
    assert gates(started_on=dt.date(2023, 5, 1))["months_in_operation"] is True
    assert gates(started_on=None)["months_in_operation"] is False  # nothing confirms it


def test_panel_findings_can_fail_a_gate_or_confirm_what_the_file_does_not_say():
    facts = NominationFacts(evidence=FULL_FILE.evidence, started_on=None, as_of=FULL_FILE.as_of)
    confirmed = domain.evaluate_gates(CRITERIA, facts, {"A": {"months_in_operation": True}})
    assert confirmed["months_in_operation"] is True
    one_no = domain.evaluate_gates(CRITERIA, FULL_FILE, {"A": {"complete_file": True}, "B": {"complete_file": False}})
    assert one_no["complete_file"] is False
    overruled = domain.evaluate_gates(CRITERIA, NominationFacts(disciplinary_record=True, as_of=FULL_FILE.as_of),
                                      {"A": {"no_disciplinary_record": True}})
    assert overruled["no_disciplinary_record"] is False  # the file's own declaration stands


def test_months_between():
    assert domain.months_between(dt.date(2023, 1, 31), dt.date(2024, 1, 31)) == 12
    assert domain.months_between(dt.date(2023, 1, 31), dt.date(2024, 1, 30)) == 11
    assert domain.months_between(dt.date(2024, 3, 1), dt.date(2024, 2, 1)) == -1


# ---- council -------------------------------------------------------------------------------

GATE_NAMES = {g.id: g.name for g in CRITERIA.gates}
PASSED = {"complete_file": True, "no_disciplinary_record": True, "months_in_operation": True}


def decide(status=Status.COMPLETED, recognized=True, level=RecognitionLevel.MINISTRY, gates=PASSED):
    return council_rules.check_decision(nomination_id="N1", status=status, recognized=recognized, level=level,
                                 gates=gates, gate_names=GATE_NAMES)


def test_council_decides_a_completed_evaluation():
    assert decide() == []
    assert decide(recognized=False, level=None) == []


@pytest.mark.parametrize(("status", "code"), [
    (None, "UNKNOWN_NOMINATION"), (Status.OPEN, "EVALUATION_NOT_COMPLETED"),
    (Status.PANEL_INCOMPLETE, "EVALUATION_NOT_COMPLETED"), (Status.DECIDED, "ALREADY_DECIDED"),
    (Status.CANCELLED, "EVALUATION_CANCELLED"),
])
def test_council_decisions_on_anything_else_are_refused(status, code):
    assert codes(decide(status=status)) == [code]


def test_recognition_needs_a_level_and_passed_gates():
    assert codes(decide(level=None)) == ["LEVEL_REQUIRED"]
    failed = decide(level=None, gates={**PASSED, "complete_file": False})
    assert codes(failed) == ["LEVEL_REQUIRED", "GATE_FAILED"]
    assert "Hồ sơ đầy đủ" in failed[1].message
    assert decide(recognized=False, gates={**PASSED, "complete_file": False}) == []


def test_fostering_opens_for_candidates_scored_high_enough_but_not_recognised():
    assert council_rules.opens_fostering(False, Outcome.FOSTER)
    assert council_rules.opens_fostering(False, Outcome.RECOGNIZE)
    assert not council_rules.opens_fostering(False, Outcome.NOT_RECOGNIZED)
    assert not council_rules.opens_fostering(True, Outcome.FOSTER)


# ---- reminders -----------------------------------------------------------------------------

DEADLINE = dt.date(2024, 6, 30)


def notices(today, pending=("A", "B"), sent=None):
    return domain.due_notices(deadline=DEADLINE, today=today, pending=pending, sent=sent or {}, reminder_days=(7, 2))


def test_no_reminder_before_t_minus_7():
    assert notices(dt.date(2024, 6, 22)) == []


def test_t_minus_7_then_t_minus_2_then_overdue_each_once():
    first = notices(dt.date(2024, 6, 23))
    assert [(n.evaluator_id, n.key, n.days, n.overdue) for n in first] == [("A", "T-7", 7, False), ("B", "T-7", 7, False)]
    sent = {"A": {"T-7"}, "B": {"T-7"}}
    assert notices(dt.date(2024, 6, 25), sent=sent) == []
    second = notices(dt.date(2024, 6, 28), sent=sent)
    assert [(n.key, n.days) for n in second] == [("T-2", 2), ("T-2", 2)]
    sent = {"A": {"T-7", "T-2"}, "B": {"T-7", "T-2"}}
    assert notices(dt.date(2024, 6, 30), sent=sent) == []  # the deadline day itself: not yet overdue
    late = notices(dt.date(2024, 7, 3), sent=sent)
    assert [(n.key, n.days, n.overdue) for n in late] == [("overdue", 3, True), ("overdue", 3, True)]
    assert notices(dt.date(2024, 7, 4), sent={"A": {"overdue"}, "B": {"overdue"}}) == []


def test_only_evaluators_who_have_not_scored_are_reminded():
    assert [n.evaluator_id for n in notices(dt.date(2024, 6, 23), pending=["B"])] == ["B"]


def test_after_a_pause_only_the_latest_step_is_sent():
    [late] = notices(dt.date(2024, 6, 29), pending=["A"])
    assert (late.key, late.days) == ("T-2", 1)
    assert notices(dt.date(2024, 6, 30), pending=["A"], sent={"A": {"T-2"}}) == []  # T-7 is never sent late
    [overdue] = notices(dt.date(2024, 7, 1), pending=["A"])
    assert overdue.overdue and overdue.key == "overdue"


# ---- open load -----------------------------------------------------------------------------


def test_a_seat_counts_while_its_evaluation_is_scored():
    def ev(status: Status, *panel: str) -> dict:
        return {"status": status.value, "panel": list(panel)}

    assert load_changes(None, ev(Status.PANEL_INCOMPLETE, "a", "b")) == {"join": ["a", "b"]}
    assert load_changes(ev(Status.PANEL_INCOMPLETE, "a", "b"), ev(Status.OPEN, "a", "b", "c")) == {
        "join": ["c"]}
    assert load_changes(ev(Status.OPEN, "a", "b", "c"), ev(Status.PANEL_INCOMPLETE, "a", "c")) == {
        "leave": ["b"]}
    assert load_changes(ev(Status.OPEN, "a", "b", "c"), ev(Status.OPEN, "a", "c", "d")) == {
        "join": ["d"], "leave": ["b"]}
    assert load_changes(ev(Status.OPEN, "a", "b"), ev(Status.COMPLETED, "a", "b")) == {
        "leave": ["a", "b"]}
    assert load_changes(ev(Status.COMPLETED, "a", "b"), ev(Status.CANCELLED, "a", "b")) == {}
    assert load_changes(ev(Status.OPEN, "a"), ev(Status.OPEN, "a")) == {}  # a sheet, say
