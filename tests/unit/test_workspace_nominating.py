"""A unit's nomination form: every field answered in Vietnamese next to it, and what passes
is a submission the intake's contract takes."""

import datetime as dt

import pytest

from services.workspace.nominating import NominationForm, UnitFacts, check_nomination, nomination_id

TODAY = dt.date(2026, 6, 1)
FACTS = UnitFacts("QLDD", open_years=(2025, 2026), places_left={2025: 0, 2026: 2},
                  staff={"QLDD-05": "Trần Văn Bình"}, nominated={2026: {"QLDD-06"}})
FORM_ID = "3f2b8c1e-0d4a-4f7e-9a51-6c0e2b7d9a10"

GOOD = {"year": "2026", "kind": "collective", "name": "Phòng Dữ liệu đất đai", "members": "18", "field": "land",
        "movement": "Phong trào thi đua “Chung sức xây dựng nông thôn mới”", "title": "Số hóa hồ sơ địa chính",
        "summary": "Rút ngắn 35% thời gian xử lý hồ sơ.", "achievements": "Giảm 35% thời gian\n\nBốn đơn vị áp dụng",
        "evidence.0.kind": "achievement_report", "evidence.0.title": "Báo cáo thành tích",
        "evidence.0.url": "https://vanban.example.gov.vn/bc.pdf", "started_on": "2022-03-01"}


def check(**changes):
    return check_nomination(NominationForm.from_form({**GOOD, **changes}), FACTS, submitter="QLDD-02",
                            form_id=FORM_ID, today=TODAY)


def test_a_complete_form_is_a_submission_with_an_id_of_its_own():
    submitted, errors = check()
    assert errors == {}
    assert submitted.nomination_id == nomination_id(2026, "QLDD", FORM_ID) == "NOM-2026-QLDD-3F2B8C1E0D"
    assert submitted.nominee.members == 18 and submitted.achievements == ["Giảm 35% thời gian", "Bốn đơn vị áp dụng"]
    assert [e.kind.value for e in submitted.evidence] == ["achievement_report"] and submitted.submitter_id == "QLDD-02"


def test_an_empty_form_names_every_missing_field():
    submitted, errors = check_nomination(NominationForm.from_form({}), FACTS, submitter="QLDD-02", form_id=FORM_ID,
                                         today=TODAY)
    assert submitted is None
    assert set(errors) == {"year", "kind", "name", "field", "movement", "title", "summary"}
    assert all(any(ch in text for ch in "ăâđêôơưạảấầậắặẹẻếềệịọỏốồộớờợụủứừựỳ") for text in errors.values())


@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"year": "2025"}, "year", "hết chỉ tiêu"),
    ({"year": "2027"}, "year", "năm chương trình đang mở"),
    ({"members": "0"}, "members", "số thành viên"),
    ({"kind": "individual", "staff_id": "QLDD-99", "position": "Trưởng phòng"}, "staff_id", "danh sách cán bộ"),
    ({"kind": "individual", "staff_id": "QLDD-06", "position": "Trưởng phòng"}, "staff_id", "danh sách cán bộ"),
    ({"kind": "individual", "staff_id": "QLDD-05"}, "position", "chức vụ"),
    ({"field": "space"}, "field", "lĩnh vực"),
    ({"title": "x" * 501}, "title", "dài quá 500"),
    ({"achievements": "\n".join(["Thành tích"] * 31)}, "achievements", "Nhiều nhất 30"),
    ({"evidence.0.url": "ftp://x"}, "evidence.0.url", "https://"),
    ({"evidence.1.title": "Biên bản"}, "evidence.1.kind", "loại minh chứng"),
    ({"started_on": "2026-06-02"}, "started_on", "sau hôm nay"),
])
def test_each_wrong_field_is_answered_next_to_it(changes, field, says):
    submitted, errors = check(**changes)
    assert submitted is None and field in errors and says in errors[field], errors


def test_an_individual_already_nominated_that_year_is_refused_before_sending():
    facts = UnitFacts("QLDD", (2026,), {2026: 1}, {"QLDD-06": "Lê Thị Hoa"}, {2026: {"QLDD-06"}})
    form = NominationForm.from_form({**GOOD, "kind": "individual", "staff_id": "QLDD-06", "position": "Chuyên viên"})
    _, errors = check_nomination(form, facts, submitter="QLDD-02", form_id=FORM_ID, today=TODAY)
    assert errors == {"staff_id": "Cán bộ này đã được đề cử trong năm 2026."}
