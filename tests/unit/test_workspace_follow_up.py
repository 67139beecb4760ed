"""A unit's follow-up forms: its own exemplar's review, another unit's replication or visit."""

import datetime as dt

import pytest

from services.workspace import follow_up

TODAY = dt.date(2026, 12, 1)
OWN = {"_id": "NOM-2025-QLDD-1", "unit_id": "QLDD", "year": 2025}
UNITS = {"QLDD": "Cục Quản lý đất đai", "VT": "Cục Viễn thám quốc gia", "KTTV": "Cục Khí tượng Thủy văn"}
EXEMPLARS = {"EX-NOM-2025-VT-1": {"_id": "NOM-2025-VT-1", "unit_id": "VT"}, "EX-NOM-2025-QLDD-1": OWN}


def test_a_review_of_the_units_own_exemplar():
    review, errors = follow_up.check_review({"period": "2026-H1", "influence": "4", "trend": "growing",
                                             "study_visits": "2", "needs_support": "yes",
                                             "support_requested": "Kinh phí tập huấn"}, ["VT", "KTTV"],
                                            exemplar=OWN, units=UNITS, reporter="QLDD-02")
    assert errors == {}
    assert (review.exemplar_id, review.new_adopting_units, review.needs_support) == (
        "EX-NOM-2025-QLDD-1", ["KTTV", "VT"], True)


@pytest.mark.parametrize(("changes", "adopters", "field"), [
    ({"period": "2026-H3"}, [], "period"),
    ({"period": "2024"}, [], "period"),  # before the nomination's year
    ({"influence": "6"}, [], "influence"),
    ({"trend": "up"}, [], "trend"),
    ({"study_visits": "-1"}, [], "study_visits"),
    ({}, ["QLDD"], "new_adopting_units"),  # the unit itself
    ({}, ["NOWHERE"], "new_adopting_units"),
])
def test_each_wrong_review_field_is_answered(changes, adopters, field):
    form = {"period": "2026-H1", "influence": "3", "trend": "maintained", **changes}
    review, errors = follow_up.check_review(form, adopters, exemplar=OWN, units=UNITS, reporter="QLDD-02")
    assert review is None and set(errors) == {field}


def test_a_replication_and_a_visit_of_another_units_exemplar():
    replication, errors = follow_up.check_replication({"exemplar_id": "EX-NOM-2025-VT-1", "applied_on": "2026-03-01"},
                                                      exemplars=EXEMPLARS, own_unit="QLDD", reporter="QLDD-02",
                                                      today=TODAY)
    assert errors == {} and replication.adopting_unit_id == "QLDD"
    visit, errors = follow_up.check_visit({"exemplar_id": "EX-NOM-2025-VT-1", "visited_on": "2026-04-02",
                                           "participants": "12"}, exemplars=EXEMPLARS, own_unit="QLDD", today=TODAY)
    assert errors == {} and (visit.visiting_unit_id, visit.participants) == ("QLDD", 12)


def test_ones_own_exemplar_a_future_date_or_an_empty_party_are_answered():
    _, errors = follow_up.check_replication({"exemplar_id": "EX-NOM-2025-QLDD-1", "applied_on": "2026-12-02"},
                                            exemplars=EXEMPLARS, own_unit="QLDD", reporter="QLDD-02", today=TODAY)
    assert "chính đơn vị" in errors["exemplar_id"] and "sau hôm nay" in errors["applied_on"]
    _, errors = follow_up.check_visit({"exemplar_id": "EX-NOPE", "visited_on": "", "participants": "0"},
                                      exemplars=EXEMPLARS, own_unit="QLDD", today=TODAY)
    assert set(errors) == {"exemplar_id", "visited_on", "participants"}
