"""The rules that follow exemplars after the council: reviews, replications, study visits."""

import datetime as dt

import pytest

from services.evaluations import exemplar_rules as rules
from services.evaluations.domain import ExemplarStatus
from services.evaluations.exemplar_rules import Exemplar, UnitPeriod
from shared.vocabulary import Trend


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


RECOGNIZED = Exemplar("EX-N1", "U-OWN", 2024, ExemplarStatus.RECOGNIZED)
FOSTERED = Exemplar("EX-N2", "U-OWN", 2024, ExemplarStatus.FOSTERING)
UNITS = {"U-OWN": UnitPeriod("U-OWN", dt.date(2020, 1, 1)),
         "U-B": UnitPeriod("U-B", dt.date(2020, 1, 1)),
         "U-OLD": UnitPeriod("U-OLD", dt.date(2010, 1, 1), dt.date(2025, 2, 28))}
TODAY = dt.date(2025, 6, 1)


def review(exemplar=RECOGNIZED, period="2025-H1", units=()):
    return rules.check_review(exemplar_id="EX-N1", exemplar=exemplar, period=period,
                               new_adopting_units=list(units), units=UNITS)


def test_reviews_of_exemplars_and_fostered_candidates_are_accepted():
    assert review() == [] and review(exemplar=FOSTERED) == []
    for period in ("2024", "2025-Q3", "2025-06", "2026-H2"):
        assert review(period=period) == []


def test_review_refusals():
    assert codes(review(exemplar=None)) == ["UNKNOWN_EXEMPLAR"]
    assert codes(review(period="2025-H3")) == ["INVALID_PERIOD"]
    assert codes(review(period="first half")) == ["INVALID_PERIOD"]
    assert codes(review(period="2023-H2")) == ["PERIOD_BEFORE_NOMINATION"]
    assert codes(review(units=["U-OWN", "U-NOPE", "U-B"])) == ["OWN_UNIT", "UNKNOWN_UNIT"]


@pytest.mark.parametrize(("asked", "text", "trend", "expected"), [
    (False, None, Trend.MAINTAINED, False), (False, None, Trend.GROWING, False), (True, None, Trend.GROWING, True),
    (False, "Cần kinh phí đào tạo", Trend.MAINTAINED, True), (False, "  ", Trend.MAINTAINED, False),
    (False, None, Trend.DECLINING, True),
])
def test_support_is_needed_when_asked_or_declining(asked, text, trend, expected):
    assert rules.support_needed(needs_support=asked, support_requested=text, trend=trend) is expected


def replication(exemplar=RECOGNIZED, unit="U-B", day=dt.date(2025, 3, 1)):
    return rules.check_replication(exemplar_id="EX-N1", exemplar=exemplar, adopting_unit_id=unit,
                                    applied_on=day, units=UNITS, today=TODAY)


def test_replication_refusals():
    assert replication() == []
    assert codes(replication(exemplar=None)) == ["UNKNOWN_EXEMPLAR"]
    assert codes(replication(exemplar=FOSTERED)) == ["EXEMPLAR_NOT_RECOGNIZED"]
    own = replication(unit="U-OWN")
    assert codes(own) == ["OWN_UNIT"] and "không tính là nhân rộng" in own[0].message
    assert codes(replication(unit="U-NOPE")) == ["UNKNOWN_UNIT"]
    assert codes(replication(unit="U-OLD")) == ["UNIT_NOT_ACTIVE"]  # merged away on 28/02/2025
    assert replication(unit="U-OLD", day=dt.date(2025, 2, 28)) == []
    assert codes(replication(day=dt.date(2025, 6, 2))) == ["DATE_IN_FUTURE"]


def test_visit_refusals():
    def visit(**kw):
        args = dict(exemplar_id="EX-N1", exemplar=RECOGNIZED, visiting_unit_id="U-B", visited_on=TODAY,
                    units=UNITS, today=TODAY) | kw
        return rules.check_visit(**args)
    assert visit() == []
    assert "tham quan học tập" in visit(visiting_unit_id="U-OWN")[0].message
    assert codes(visit(exemplar=FOSTERED, visiting_unit_id="U-NOPE")) == ["EXEMPLAR_NOT_RECOGNIZED", "UNKNOWN_UNIT"]


def test_a_unit_applying_twice_counts_once():
    units = rules.adopters_after([], ["U-B"])
    units = rules.adopters_after(units, ["U-C", "U-B"])
    assert units == ["U-B", "U-C"]
    assert rules.adopters_after(units, ["U-B"]) == ["U-B", "U-C"]


def test_study_visits_are_never_counted_twice():
    assert rules.study_visits_total(2 + 1, recorded_visits=2) == 3
    assert rules.study_visits_total(1, recorded_visits=4) == 4
    assert rules.study_visits_total(0, recorded_visits=0) == 0
