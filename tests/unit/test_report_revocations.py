"""Revoked recognitions in the review: out of every "recognised" figure, counted and listed apart."""

import csv
import dataclasses
import datetime as dt

import pytest

from reporting import collect, csv_files, figures, html, tables
from reporting.model import Exemplar, ReportData, Revocation
from tests.unit.test_report_figures import T0, ev, nom, review, unit

UNITS = {u.unit_id: u for u in [unit("BO", kind="ministry"), unit("A"), unit("B"), unit("C"), unit("D")]}
NOMINATIONS = [nom("R1", "A", 2024, "recognized"), nom("V1", "B", 2024, "revoked", "environment"),
               nom("F1", "C", 2024, "not_recognized")]
EVALUATIONS = [ev("R1", "A", 2024, "decided", "recognize", total=80, recognized=True, hours=24),
               # The evaluation keeps the council's decision to recognise: the revocation sits beside it.
               ev("V1", "B", 2024, "decided", "recognize", total=92, recognized=True, hours=24, field="environment"),
               ev("F1", "C", 2024, "decided", "foster", total=60, recognized=False, hours=24)]
REVOCATION = Revocation("QĐ-TH-07", dt.date(2024, 11, 5), "false_documents", "Hồ sơ minh chứng bị làm giả",
                        uncounted=("D",))
RECOGNIZED = Exemplar("EX-R1", "R1", "A", 2024, "land", "recognized", title="Mô hình R1", level="unit", total=80,
                      decision_ref="QĐ-01", reviews=(review("2025-H1", "growing"),), adopters=("B", "C"))
# Spread wider and scored higher than R1: were it still counted, it would lead every ranking.
REVOKED = Exemplar("EX-V1", "V1", "B", 2024, "environment", "revoked", title="Mô hình V1", nominee_name="Tổ V1",
                   level="ministry", total=92, decision_ref="QĐ-02-ĐC", reviews=(review("2025-H1", "growing", visits=4),),
                   adopters=("A", "C"), study_visits=4, revocation=REVOCATION, corrections=1)
FOSTERING = Exemplar("EX-F1", "F1", "C", 2024, "land", "fostering", title="Mô hình F1")


def data(exemplars=(RECOGNIZED, REVOKED, FOSTERING), **changes) -> ReportData:
    values = {"first_year": 2024, "last_year": 2024, "generated_at": T0, "programme_name": "Chương trình thử",
              "units": UNITS, "nominations": NOMINATIONS, "evaluations": EVALUATIONS, "exemplars": list(exemplars)}
    return ReportData(**(values | changes))


@pytest.fixture
def f() -> figures.Figures:
    return figures.compute(data())


def ids(exemplars) -> list[str]:
    return [x.exemplar_id for x in exemplars]


def test_a_revoked_title_is_no_longer_a_recognised_exemplar(f):
    assert ids(f.exemplars) == ids(f.spread) == ids(f.recommended) == ids(figures.top_models(f)) == ["EX-R1"]
    assert ids(fu.exemplar for fu in f.follow_up) == ["EX-R1"]
    assert f.review_trends == f.latest_trends == {"growing": 1}  # the revoked model's reviews are not counted
    assert figures.recommend([REVOKED]) == []


def test_a_revoked_title_is_counted_apart_never_as_fostering(f):
    r = f.recognitions
    assert (r.levels, r.recognized, r.revoked, r.not_recognized, r.fostering) == ({"unit": 1}, 1, 1, 1, 1)
    b = f.recognitions_by_unit["B"]
    assert (b.recognized, b.revoked, b.not_recognized, b.fostering) == (0, 1, 0, 0)
    assert f.recognitions_by_field["environment"].revoked == 1
    assert f.recognitions_by_year[2024].revoked == 1
    # The council did recognise it, and the panel scored it: those figures do not change.
    assert f.evaluations.outcomes == {"recognize": 2, "foster": 1}


def test_a_revoked_nomination_still_held_its_place(f):
    assert "revoked" in figures.HOLDS_PLACE
    assert f.quota[2024] == {"A": 1, "B": 1, "C": 1, "D": 0}
    assert f.nominations.accepted == 3


def test_revocations_are_listed_by_day_then_id(f):
    assert ids(f.revocations) == ["EX-V1"]
    earlier = dataclasses.replace(REVOKED, exemplar_id="EX-V0", revocation=dataclasses.replace(
        REVOCATION, revoked_on=dt.date(2024, 12, 1)))
    same_day = dataclasses.replace(REVOKED, exemplar_id="EX-V2")
    later = figures.compute(data([same_day, earlier, REVOKED, RECOGNIZED]))
    assert ids(later.revocations) == ["EX-V1", "EX-V2", "EX-V0"]
    assert later.recognitions.revoked == 3


def render(report_data: ReportData):
    computed = figures.compute(report_data)
    laid_out = tables.build(computed)
    return html.render(computed, laid_out), laid_out


def test_the_document_lists_each_revocation():
    page, laid_out = render(data())
    assert 'id="thu-hoi"' in page and 'id="bang-revocations"' in page and "Danh hiệu bị thu hồi" in page
    section = page[page.index('id="thu-hoi"'):page.index('id="theo-doi"')]
    for text in ("Mô hình V1", "Đơn vị B", "Cấp Bộ", "QĐ-02-ĐC", "QĐ-TH-07", "05/11/2024", "Làm giả hồ sơ, giấy tờ"):
        assert text in section, text
    assert "Mô hình R1" not in section and "Mô hình F1" not in section
    assert "1 danh hiệu đã công nhận sau đó bị Hội đồng thu hồi" in page
    by_year = laid_out["recognitions_by_year"]
    headers = [c.header for c in by_year.columns]
    assert by_year.total[headers.index("Bị thu hồi")] == 1
    assert by_year.total[headers.index("Tổng số được công nhận")] == 1


def test_a_period_without_revocations_says_so():
    page, laid_out = render(data([RECOGNIZED, FOSTERING]))
    assert laid_out["revocations"].rows == []
    assert "Không có danh hiệu nào bị thu hồi." in page and 'id="bang-revocations"' not in page
    assert "danh hiệu đã công nhận sau đó bị Hội đồng thu hồi" not in page  # the summary only says it when some were


def test_the_csv_has_the_revocation(tmp_path):
    _, laid_out = render(data())
    csv_files.write(laid_out, tmp_path)
    path = tmp_path / "revocations.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as source:
        rows = list(csv.DictReader(source))
    assert rows == [{
        "Mã điển hình": "EX-V1", "Năm": "2024", "Mô hình": "Mô hình V1", "Tập thể, cá nhân": "Tổ V1",
        "Đơn vị": "Đơn vị B", "Cấp công nhận": "Cấp Bộ", "Quyết định công nhận": "QĐ-02-ĐC",
        "Quyết định thu hồi": "QĐ-TH-07", "Ngày thu hồi": "05/11/2024", "Mã căn cứ": "false_documents",
        "Căn cứ thu hồi": "Làm giả hồ sơ, giấy tờ", "Lý do": "Hồ sơ minh chứng bị làm giả",
        "Số đơn vị áp dụng trước ngày thu hồi": "2", "Số đơn vị áp dụng từ ngày thu hồi": "1"}]
    with (tmp_path / "recognitions_by_unit.csv").open(encoding="utf-8-sig", newline="") as source:
        by_unit = {row["Mã đơn vị"]: row for row in csv.DictReader(source)}
    assert (by_unit["B"]["Tổng số được công nhận"], by_unit["B"]["Bị thu hồi"]) == ("0", "1")
    assert by_unit["B"]["Trong đó: tiếp tục bồi dưỡng"] == "0"


def test_collect_reads_the_revocation_and_the_corrections():
    midnight = dt.datetime(2024, 11, 5, tzinfo=dt.UTC)
    doc = {"_id": "EX-V1", "nomination_id": "V1", "unit_id": "B", "year": 2024, "field": "environment",
           "status": "revoked", "level": "ministry", "decision_ref": "QĐ-02-ĐC", "corrections_count": 1,
           "adopters": ["A", "C"],
           "revocation": {"revocation_ref": "QĐ-TH-07", "revoked_on": midnight, "ground": "false_documents",
                          "reason": "Hồ sơ minh chứng bị làm giả", "uncounted": ["D"], "at": midnight,
                          "received_at": midnight, "sender": {"producer": "council"}}}
    x = collect.exemplar_from(doc)
    assert x.revocation == REVOCATION and x.corrections == 1 and x.adopters == ("A", "C")
    plain = collect.exemplar_from({**doc, "status": "recognized", "revocation": None, "corrections_count": None})
    assert plain.revocation is None and plain.corrections == 0
