"""services/workspace/domain.py: the score sheet form and the session, without I/O."""

import datetime as dt

import pytest

from services.workspace import domain
from services.workspace.domain import Session, SheetForm

CRITERIA = {"criteria": [{"id": "effectiveness", "name": "Hiệu quả", "maximum": 30},
                         {"id": "novelty", "name": "Tính mới, sáng tạo", "maximum": 15}],
            "gates": [{"id": "complete_file", "name": "Hồ sơ đầy đủ"}]}
NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


def form(**fields: str) -> SheetForm:
    return SheetForm.from_form(fields, CRITERIA)


def test_a_complete_sheet_with_decimal_commas():
    sheet, errors = domain.check_sheet(form(**{"score.effectiveness": "27,5", "score.novelty": "15",
                                               "gate.complete_file": "passed", "comment": " Tốt "}),
                                       CRITERIA, complete=True)
    assert errors == {}
    assert sheet.scores == {"effectiveness": 27.5, "novelty": 15.0}
    assert sheet.gates == {"complete_file": True} and sheet.comment == "Tốt"


def test_every_wrong_field_is_answered_in_vietnamese_next_to_it():
    _, errors = domain.check_sheet(form(**{"score.effectiveness": "31", "score.novelty": "mười"}), CRITERIA,
                                   complete=True)
    assert errors == {"score.effectiveness": "Điểm tiêu chí “Hiệu quả” phải từ 0 đến 30.",
                      "score.novelty": "Điểm tiêu chí “Tính mới, sáng tạo”: “mười” không phải là số, nhập từ 0 đến 15."}
    _, missing = domain.check_sheet(form(), CRITERIA, complete=True)
    assert set(missing) == {"score.effectiveness", "score.novelty"}
    assert missing["score.novelty"].startswith("Chưa chấm tiêu chí “Tính mới, sáng tạo”")


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "1e9", ""])
def test_no_number_the_service_would_refuse_passes(text):
    _, errors = domain.check_sheet(form(**{"score.effectiveness": text, "score.novelty": "1"}), CRITERIA,
                                   complete=True)
    assert "score.effectiveness" in errors


def test_a_draft_may_be_incomplete_but_not_wrong():
    sheet, errors = domain.check_sheet(form(**{"score.novelty": "3"}), CRITERIA, complete=False)
    assert errors == {} and sheet.scores == {"novelty": 3.0}
    _, errors = domain.check_sheet(form(**{"score.novelty": "30"}), CRITERIA, complete=False)
    assert set(errors) == {"score.novelty"}


def test_a_forged_gate_or_choice_is_refused():
    bad = SheetForm(scores={"effectiveness": "1", "novelty": "1"}, gates={"made_up": "passed"})
    assert set(domain.check_sheet(bad, CRITERIA, complete=True)[1]) == {"gate.made_up"}
    odd = SheetForm(scores={"effectiveness": "1", "novelty": "1"}, gates={"complete_file": "yes"})
    assert set(domain.check_sheet(odd, CRITERIA, complete=True)[1]) == {"gate.complete_file"}


def test_a_conflict_needs_a_reason_of_bounded_length():
    assert domain.check_conflict_reason("   ").startswith("Nêu lý do")
    assert domain.check_conflict_reason("x" * 501) == "Lý do dài quá 500 ký tự."
    assert domain.check_conflict_reason("Tôi là thành viên của tập thể được đề cử.") is None


def test_a_session_cookie_is_signed_and_expires():
    secret = b"s" * 48
    session = Session.new("QLDD-03", NOW, hours=8)
    cookie = domain.seal(secret, session)
    assert domain.unseal(secret, cookie, NOW) == session
    assert domain.unseal(secret, cookie, NOW + dt.timedelta(hours=8)) is None
    assert domain.unseal(b"t" * 48, cookie, NOW) is None
    payload, mac = cookie.split(".")
    other = domain.seal(secret, Session("QLDD-04", session.expires, session.csrf)).split(".")[0]
    assert domain.unseal(secret, f"{other}.{mac}", NOW) is None
    assert domain.unseal(secret, "garbage", NOW) is None and domain.unseal(secret, None, NOW) is None


def test_who_may_open_a_task():
    assignment = {"panel": ["A", "B"], "status": "open"}
    assert domain.on_panel(assignment, "A") and not domain.on_panel(assignment, "C")
    assert domain.scoring_open(assignment) and not domain.scoring_open({**assignment, "status": "completed"})
    assert domain.scoring_open({**assignment, "status": "discussion"})  # amendments while the panel discusses


def test_the_others_sheets_only_once_ones_own_is_in():
    sheets = {"A": {"total": 90}, "C": {"total": 50}}
    assignment = {"panel": ["A", "B", "C"], "sheets": sheets, "status": "open"}
    assert domain.others_sheets(assignment, "B") is None  # judges on their own first
    assert domain.others_sheets(assignment, "A") == [("C", {"total": 50})]  # in panel order, theirs apart
    recused = {**assignment, "panel": ["A", "B"]}  # C left: their sheet is not the panel's
    assert domain.others_sheets(recused, "A") == []


def test_a_discussion_comment_says_something_within_its_length():
    assert domain.check_discussion_comment("  ") == "Nhập ý kiến thảo luận trước khi gửi."
    assert domain.check_discussion_comment("x" * 10_001) == "Ý kiến dài quá 10000 ký tự."
    assert domain.check_discussion_comment("Đề nghị xem lại tiêu chí lan tỏa.") is None
    assert domain.discussing({"status": "discussion"}) and not domain.discussing({"status": "open"})


def test_a_comment_per_criterion_is_kept_and_bounded():
    posted = form(**{"score.novelty": "5", "remark.novelty": "Cần số liệu.", "remark.effectiveness": ""})
    sheet, errors = domain.check_sheet(posted, CRITERIA, complete=False)
    assert errors == {} and sheet.remarks == {"novelty": "Cần số liệu."}  # an empty remark is no remark
    _, errors = domain.check_sheet(SheetForm(remarks={"zz": "?"}), CRITERIA, complete=False)
    assert errors == {"remark.zz": "Bộ tiêu chí không có tiêu chí này."}
    _, errors = domain.check_sheet(SheetForm(remarks={"novelty": "x" * 1001}), CRITERIA, complete=False)
    assert errors == {"remark.novelty": "Nhận xét về tiêu chí “Tính mới, sáng tạo” dài quá 1000 ký tự."}


def test_a_person_signed_in_without_a_task_lands_on_their_roles_pages():
    assert domain.landing({"roles": ["ministry_office"]}) == "/ministry"
    assert domain.landing({"roles": ["emulation_officer"]}) == "/unit"
    assert domain.landing({"roles": ["unit_leader", "evaluator"]}) == "/assignments"  # the assignments wait
    assert domain.landing({"roles": []}) == domain.landing(None) == "/assignments"
