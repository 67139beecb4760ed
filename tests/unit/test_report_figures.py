"""The review's figures from a small hand-made programme: every count checked by hand."""

import datetime as dt

import pytest

from reporting import figures
from reporting.model import Evaluation, Exemplar, Nomination, ReportData, Review, Unit, Visit

T0 = dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC)


def unit(uid: str, start: str = "2010-01-01", end: str | None = None, kind: str = "agency") -> Unit:
    return Unit(uid, f"Đơn vị {uid}", kind, dt.date.fromisoformat(start), dt.date.fromisoformat(end) if end else None)


UNITS = {u.unit_id: u for u in [
    unit("BO", kind="ministry"), unit("A"), unit("B"), unit("C"), unit("D"),
    unit("OLD", end="2023-06-30"), unit("NEW", start="2024-03-01"),
]}


def nom(nid: str, uid: str, year: int, status: str, field: str = "land", reasons: tuple[str, ...] = ()) -> Nomination:
    return Nomination(nid, uid, year, field, status, title=f"Mô hình {nid}", reasons=reasons)


NOMINATIONS = [
    nom("A1", "A", 2023, "recognized"), nom("A2", "A", 2023, "not_recognized", "environment"),
    nom("A3", "A", 2023, "rejected", reasons=("QUOTA_EXCEEDED",)),
    nom("B1", "B", 2023, "withdrawn"), nom("X1", "ZZ", 2023, "rejected", "forestry", ("UNIT_NOT_REGISTERED", "FIELD_UNKNOWN")),
    nom("A4", "A", 2024, "accepted"), nom("B2", "B", 2024, "recognized", "water_resources"),
    nom("NEW1", "NEW", 2024, "recognized", "environment"),
    nom("OUT", "C", 2022, "recognized"),  # outside the period
]


def ev(nid: str, uid: str, year: int, status: str, outcome=None, *, total=None, spread=5.0, divergent=False,
       recognized=None, panel=("E1", "E2", "E3"), recused=(), hours: float | None = None, field="land") -> Evaluation:
    return Evaluation(nid, uid, year, field, status, title=f"Mô hình {nid}", panel=panel, recused=recused, outcome=outcome,
                      total=total, spread=spread, divergent=divergent, recognized=recognized, opened_at=T0,
                      completed_at=T0 + dt.timedelta(hours=hours) if hours is not None else None)


EVALUATIONS = [
    ev("A1", "A", 2023, "decided", "recognize", total=88, recognized=True, hours=48, recused=("E9",)),
    ev("A2", "A", 2023, "decided", "foster", total=60, recognized=False, spread=30, divergent=True, hours=24,
       field="environment"),
    ev("B1", "B", 2023, "cancelled", panel=("E1", "E4", "E5")),
    ev("A4", "A", 2024, "open", panel=("E2", "E4", "E5")),
    ev("B2", "B", 2024, "decided", "recognize", total=75, recognized=True, hours=72, field="water_resources"),
    ev("NEW1", "NEW", 2024, "decided", "recognize", total=71, recognized=True, hours=12, field="environment"),
]


def review(period: str, trend: str, needs: bool = False, visits: int = 0) -> Review:
    return Review(period, 4, trend, needs, "Hỗ trợ kinh phí" if needs else None, visits)


EXEMPLARS = [
    Exemplar("EX-A1", "A1", "A", 2023, "land", "recognized", title="Mô hình A1", level="ministry", total=88,
             reviews=(review("2024-H2", "growing"), review("2024-H1", "declining", needs=True, visits=1)),
             adopters=("B", "C", "D"), visits=(Visit("B", dt.date(2024, 4, 1), 12),), study_visits=1),
    Exemplar("EX-A2", "A2", "A", 2023, "environment", "fostering", title="Mô hình A2"),
    Exemplar("EX-B2", "B2", "B", 2024, "water_resources", "recognized", title="Mô hình B2", level="unit", total=75,
             reviews=(review("2025-H1", "growing", visits=2),), adopters=("A", "C"), study_visits=2),
    Exemplar("EX-NEW1", "NEW1", "NEW", 2024, "environment", "recognized", title="Mô hình NEW1", level="unit", total=71,
             reviews=(review("2025-H1", "maintained", needs=True),), adopters=("A", "B", "C", "D")),
]


def data(**changes) -> ReportData:
    values = {"first_year": 2023, "last_year": 2024, "generated_at": T0, "programme_name": "Chương trình thử",
              "units": UNITS, "nominations": NOMINATIONS, "evaluations": EVALUATIONS, "exemplars": EXEMPLARS}
    return ReportData(**(values | changes))


@pytest.fixture
def f() -> figures.Figures:
    return figures.compute(data())


def counts(c: figures.NominationCounts) -> tuple[int, int, int, int]:
    return c.submitted, c.accepted, c.refused, c.withdrawn


def test_nominations_partition_into_accepted_refused_withdrawn(f):
    assert counts(f.nominations) == (8, 5, 2, 1)  # the 2022 nomination is outside the period
    assert {y: counts(c) for y, c in f.nominations_by_year.items()} == {2023: (5, 2, 2, 1), 2024: (3, 3, 0, 0)}
    assert counts(f.nominations_by_field["forestry"]) == (1, 0, 1, 0)
    assert counts(f.nominations_by_unit["A"]) == (4, 3, 1, 0)
    assert f.submitted_by_field_year["environment"] == {2023: 1, 2024: 1}
    # A nomination refused for two reasons counts under both.
    assert f.refusal_reasons == {"QUOTA_EXCEEDED": 1, "UNIT_NOT_REGISTERED": 1, "FIELD_UNKNOWN": 1}


def test_quota_counts_places_held_by_units_able_to_nominate(f):
    # 2023: NEW did not exist, OLD did (until June); the ministry never counts.
    assert f.quota[2023] == {"A": 2, "B": 0, "C": 0, "D": 0, "OLD": 0}
    assert f.quota[2024] == {"A": 1, "B": 1, "C": 0, "D": 0, "NEW": 1}
    assert f.quota_groups(2023) == {0: ["B", "C", "D", "OLD"], 1: [], 2: ["A"]}
    assert f.quota_groups(2024) == {0: ["C", "D"], 1: ["A", "B", "NEW"], 2: []}
    assert f.never_nominated == ["C", "D", "OLD"]  # B withdrew, but it did nominate


def test_evaluations_bands_divergence_duration_and_load(f):
    total = f.evaluations
    assert (total.opened, total.cancelled, total.in_progress, total.completed) == (5, 1, 1, 4)
    assert total.outcomes == {"recognize": 3, "foster": 1}
    assert total.divergent == 1 and [e.nomination_id for e in f.divergent] == ["A2"]
    assert total.mean_days == pytest.approx((2 + 1 + 3 + 0.5) / 4)
    assert f.evaluations_by_year[2023].mean_days == pytest.approx(1.5)
    assert f.evaluations_by_field["environment"].outcomes == {"foster": 1, "recognize": 1}
    # Cancelled panels are no load; recusals count apart.
    loads = {load.staff_id: (load.panels, load.recusals) for load in f.load}
    assert loads == {"E1": (4, 0), "E2": (5, 0), "E3": (4, 0), "E4": (1, 0), "E5": (1, 0), "E9": (0, 1)}
    assert f.load[0].staff_id == "E2"


def test_recognitions_by_level_and_fostering(f):
    assert f.recognitions.levels == {"ministry": 1, "unit": 2} and f.recognitions.recognized == 3
    assert (f.recognitions.not_recognized, f.recognitions.fostering) == (1, 1)
    assert f.recognitions_by_year[2023].levels == {"ministry": 1}
    assert f.recognitions_by_unit["A"].not_recognized == 1
    assert [x.exemplar_id for x in f.exemplars] == ["EX-A1", "EX-B2", "EX-NEW1"]


def test_follow_up_trends_and_support(f):
    assert f.review_trends == {"growing": 2, "declining": 1, "maintained": 1}
    assert f.latest_trends == {"growing": 2, "maintained": 1}
    by_id = {fu.exemplar.exemplar_id: fu for fu in f.follow_up}
    assert (by_id["EX-A1"].reviews, by_id["EX-A1"].support_requests, by_id["EX-A1"].resolved) == (2, 1, 1)
    assert not by_id["EX-A1"].open_request
    assert (by_id["EX-NEW1"].support_requests, by_id["EX-NEW1"].resolved, by_id["EX-NEW1"].open_request) == (1, 0, True)


def test_spread_and_the_models_worth_honouring(f):
    assert [x.exemplar_id for x in f.spread] == ["EX-NEW1", "EX-A1", "EX-B2"]
    # NEW1 spreads widest but is only "maintained"; A1 and B2 grow and have at least two adopters.
    assert [x.exemplar_id for x in f.recommended] == ["EX-A1", "EX-B2"]
    assert [x.exemplar_id for x in figures.top_models(f)] == ["EX-NEW1", "EX-A1", "EX-B2"]


def test_recommendation_ranks_by_spread_then_visits_then_score():
    base = {"nomination_id": "N", "unit_id": "A", "year": 2024, "field": "land", "status": "recognized",
            "reviews": (review("2025-H1", "growing"),)}
    exemplars = [Exemplar("X1", adopters=("B", "C"), study_visits=1, total=90, **base),
                 Exemplar("X2", adopters=("B", "C"), study_visits=3, total=70, **base),
                 Exemplar("X3", adopters=("B", "C", "D"), study_visits=0, total=71, **base),
                 Exemplar("X4", adopters=("B",), study_visits=9, total=99, **base),
                 Exemplar("X5", adopters=("B", "C"), study_visits=1, total=95, **base),
                 *(Exemplar(f"Y{n}", adopters=("B", "C"), total=80, **base) for n in range(4))]
    ranked = [x.exemplar_id for x in figures.recommend(exemplars)]
    assert ranked == ["X3", "X2", "X5", "X1", "Y0"]
    assert len(ranked) == figures.RECOMMEND_LIMIT


def test_an_empty_period_has_zeros_not_errors():
    f = figures.compute(data(first_year=2030, last_year=2030))
    assert counts(f.nominations) == (0, 0, 0, 0) and f.evaluations.mean_days is None
    assert f.quota[2030] == {u: 0 for u in ("A", "B", "C", "D", "NEW")}
    assert f.recommended == [] and f.recognitions.recognized == 0
