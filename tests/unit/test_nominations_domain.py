"""The nominations rules, without servers."""

import datetime as dt

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from services.nominations import domain
from services.nominations.domain import Nomination, Staff, Status, SubmissionContext, Unit
from shared.events import NominationWithdrawn
from shared.programme import load_programme

PROGRAMME = load_programme()
OFFICER = StaffMember("U1-02", "U1", "Nguyễn Văn An", (), ())
PERSON = StaffMember("U1-05", "U1", "Trần Thị Bình", (), ())
UNIT = Unit("U1", "Cục Thử nghiệm", dt.date(2020, 1, 1))


def ctx(**changes) -> SubmissionContext:
    base = dict(unit=UNIT, submitter=Staff("U1-02", "U1"), nominee_staff=Staff("U1-05", "U1"), held_places=0,
                nominee_held_by=None, id_taken=False)
    return SubmissionContext(**{**base, **changes})


def codes(reasons) -> set[str]:
    return {r.code for r in reasons}


def test_a_clean_submission_passes():
    assert domain.check_submission(submission("N1", OFFICER, 2024, MODELS[0]), ctx(), PROGRAMME) == []


@pytest.mark.parametrize(("changes", "expected"), [
    ({"unit": None}, "UNIT_NOT_REGISTERED"),
    ({"unit": Unit("U1", "Cũ", dt.date(2010, 1, 1), dt.date(2023, 12, 31))}, "UNIT_NOT_ACTIVE"),
    ({"submitter": Staff("U1-02", "U2")}, "SUBMITTER_NOT_IN_UNIT"),
    ({"submitter": Staff("U1-02", "U1", removed=True)}, "SUBMITTER_NOT_IN_UNIT"),
    ({"submitter": None}, "SUBMITTER_NOT_IN_UNIT"),
    ({"held_places": 2}, "QUOTA_EXCEEDED"),
    ({"nominee_held_by": "N0"}, "NOMINEE_ALREADY_NOMINATED"),
    ({"id_taken": True}, "NOMINATION_ID_REUSED"),
])
def test_each_refusal(changes, expected):
    assert codes(domain.check_submission(submission("N1", OFFICER, 2024, MODELS[0]), ctx(**changes), PROGRAMME)) == {expected}


def test_individual_must_belong_to_the_unit():
    sub = submission("N1", OFFICER, 2024, MODELS[0], individual=PERSON)
    assert domain.check_submission(sub, ctx(), PROGRAMME) == []
    assert codes(domain.check_submission(sub, ctx(nominee_staff=Staff("U1-05", "U9")), PROGRAMME)) == {"NOMINEE_NOT_IN_UNIT"}


def test_every_reason_is_reported_in_vietnamese():
    sub = submission("N1", OFFICER, 2019, MODELS[0], field="lam_nghiep")
    reasons = domain.check_submission(sub, ctx(unit=None, held_places=5), PROGRAMME)
    assert codes(reasons) == {"UNIT_NOT_REGISTERED", "YEAR_NOT_OPEN", "FIELD_UNKNOWN", "QUOTA_EXCEEDED"}
    assert any("Năm 2019 không phải năm mở đề cử" in r.message for r in reasons)


def test_a_unit_is_active_in_a_year_it_overlaps():
    merged = Unit("S", "Sở Tài nguyên và Môi trường Hà Nội", dt.date(2008, 8, 1), dt.date(2025, 2, 28))
    assert merged.active_in(2025) and not merged.active_in(2026)
    assert not Unit("N", "Mới", dt.date(2025, 3, 1)).active_in(2024)


def test_nominee_identity_ignores_case_and_spacing_of_collective_names():
    a = submission("N1", OFFICER, 2024, MODELS[0])
    b = a.model_copy(update={"nominee": a.nominee.model_copy(update={"name": "  " + a.nominee.name.upper() + " "})})
    assert domain.nominee_key(a) == domain.nominee_key(b)
    assert domain.nominee_key(submission("N2", OFFICER, 2024, MODELS[0], individual=PERSON)) == "staff:U1-05"


def withdrawal(unit="U1", by="U1-02"):
    return NominationWithdrawn(nomination_id="N1", unit_id=unit, requested_by=by)


@pytest.mark.parametrize(("nomination", "request_", "requester", "expected"), [
    (None, withdrawal(), Staff("U1-02", "U1"), {"NOMINATION_UNKNOWN"}),
    (Nomination("N1", "U1", Status.ACCEPTED), withdrawal(unit="U2"), Staff("U1-02", "U1"), {"NOT_OWN_UNIT"}),
    (Nomination("N1", "U1", Status.ACCEPTED), withdrawal(), Staff("U1-02", "U2"), {"REQUESTER_NOT_IN_UNIT"}),
    (Nomination("N1", "U1", Status.RECOGNIZED), withdrawal(), Staff("U1-02", "U1"), {"ALREADY_DECIDED"}),
    (Nomination("N1", "U1", Status.REJECTED), withdrawal(), Staff("U1-02", "U1"), {"NOT_WITHDRAWABLE"}),
    (Nomination("N1", "U1", Status.WITHDRAWN), withdrawal(), Staff("U1-02", "U1"), {"NOT_WITHDRAWABLE"}),
    (Nomination("N1", "U1", Status.ACCEPTED), withdrawal(), Staff("U1-02", "U1"), set()),
])
def test_withdrawal_rules(nomination, request_, requester, expected):
    assert codes(domain.check_withdrawal(request_, nomination, requester)) == expected


def test_shortfall_is_due_after_the_reminder_date_for_active_units_below_minimum():
    assert domain.shortfall_due(dt.date(2024, 10, 30), PROGRAMME) == [2023]
    assert domain.shortfall_due(dt.date(2024, 10, 31), PROGRAMME) == [2023, 2024]
    closed = Unit("C", "Đã giải thể", dt.date(2000, 1, 1), dt.date(2023, 6, 30))
    short = domain.units_short(2024, [UNIT, closed, Unit("U2", "Đủ", dt.date(2020, 1, 1))], {"U2": 1}, PROGRAMME)
    assert [(u.unit_id, n) for u, n in short] == [("U1", 0)]
