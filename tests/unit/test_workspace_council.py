"""The council's pack: the normalised ranking beside the raw one, the CSV, the decision form."""

import csv
import io

import pytest

from services.workspace import council


def evaluation(nid: str, totals: dict[str, float], field: str = "land", status: str = "completed", **result) -> dict:
    total = round(sum(totals.values()) / len(totals), 2)
    return {"_id": nid, "title": f"Mô hình {nid}", "unit_id": "QLDD", "field": field, "status": status,
            "result": {"total": total, "evaluator_totals": totals, "outcome": "recognize", "spread": 0,
                       "divergent": False, "breakdown": [], **result}}


# A harsh evaluator (H) and a lenient one (L) each score four nominations; X and Y sit on the
# panels of B and D only. B's raw total is lifted by the lenient member, D's held down by the harsh one.
YEAR = [
    evaluation("A", {"H": 60, "L": 90}), evaluation("C", {"H": 50, "L": 85}),
    evaluation("B", {"L": 95, "X": 70}), evaluation("D", {"H": 75, "Y": 70}),
    evaluation("E", {"H": 55, "L": 80}, field="water_resources"),
]


def test_each_evaluator_is_measured_against_their_own_year():
    scales, pooled = council.evaluator_scales(YEAR)
    assert set(scales) == {"H", "L"}  # X and Y gave one total each: measured against the pool
    assert scales["H"].mean == 60 and scales["L"].mean == 87.5
    assert pooled.mean == pytest.approx(sum([60, 90, 50, 85, 95, 70, 75, 70, 55, 80]) / 10)


def test_the_normalised_ranking_corrects_harsh_and_lenient_judges_and_keeps_the_raw_one():
    rows = council.pack(YEAR, "land")
    assert [r.nomination_id for r in rows] == ["B", "A", "D", "C"]  # raw: 82.5, 75, 72.5, 67.5
    assert [r.raw_rank for r in rows] == [1, 2, 3, 4]
    by_id = {r.nomination_id: r for r in rows}
    assert by_id["D"].normalised_rank == 1  # the harsh member's best sheet
    assert by_id["D"].normalised > by_id["B"].normalised and by_id["C"].normalised_rank == 4
    assert "E" not in by_id  # another field: in the scales, not in this pack


def test_a_year_without_spread_says_nothing_normalised():
    flat = [evaluation("A", {"H": 70, "L": 70}), evaluation("B", {"H": 70, "L": 70}),
            evaluation("C", {"H": 70, "L": 70})]
    rows = council.pack(flat, "land")
    assert [r.normalised for r in rows] == [None, None, None] and {r.normalised_rank for r in rows} == {None}


def test_open_evaluations_are_not_in_the_pack():
    rows = council.pack([*YEAR, evaluation("F", {"H": 99, "L": 99}, status="discussion")], "land")
    assert "F" not in {r.nomination_id for r in rows}


def test_the_csv_opens_in_a_spreadsheet_in_vietnamese_and_runs_no_formula():
    rows = council.pack([*YEAR, {**evaluation("G", {"H": 65, "L": 88}), "title": "=HYPERLINK(\"x\")"}], "land")
    text = council.csv_text(rows, {"QLDD": "Cục Quản lý đất đai"}, {"recognize": "Đề nghị công nhận"})
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][:4] == ["Mã hồ sơ", "Mô hình", "Đơn vị", "Tổng điểm"] and len(table) == 6
    first = table[1]
    assert first[0] == "B" and first[2] == "Cục Quản lý đất đai" and first[3] == "82,5" and first[7] == "Đề nghị công nhận"
    assert any(row[1] == "'=HYPERLINK(\"x\")" for row in table)


@pytest.mark.parametrize(("form", "errors"), [
    ({}, {"decision", "decision_ref", "decided_on"}),
    ({"decision": "recognize_ministry", "decision_ref": "12/QĐ-BNNMT", "decided_on": "2026-13-01"}, {"decided_on"}),
    ({"decision": "recognize_ministry", "decision_ref": "12/QĐ-BNNMT", "decided_on": "2026-12-02"}, {"decided_on"}),
    ({"decision": "promote", "decision_ref": " ", "decided_on": "2026-11-30"}, {"decision", "decision_ref"}),
])
def test_a_decision_form_is_answered_field_by_field(form, errors):
    decision, found = council.check_decision(form, "2026-12-01")
    assert decision is None and set(found) == errors
    assert all(any(ch in text for ch in "ăâđêôơư") for text in found.values())


def test_a_valid_decision():
    decision, errors = council.check_decision({"decision": "not_recognize", "decision_ref": "13/QĐ-BNNMT",
                                               "decided_on": "2026-11-30", "note": ""}, "2026-12-01")
    assert errors == {} and decision == {"recognized": False, "level": None, "decision_ref": "13/QĐ-BNNMT",
                                         "decided_on": "2026-11-30", "note": None}
