"""The review's HTML and CSV from hand-made data: sections, Vietnamese text, escaping, round trips."""

import csv
import dataclasses
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from reporting import charts, csv_files, figures, html, tables
from tests.unit.test_report_figures import EXEMPLARS, data


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.svgs = 0
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        self.svgs += tag == "svg"
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith("#"):
                self.external.append(attrs[name])

    def handle_data(self, data):
        self.text.append(data)


def render(report_data):
    computed = figures.compute(report_data)
    laid_out = tables.build(computed)
    return html.render(computed, laid_out), laid_out


def test_html_has_every_section_charts_and_no_external_asset():
    page_html, laid_out = render(data())
    page = Page()
    page.feed(page_html)
    assert set(html.SECTIONS) <= page.ids
    assert {f"bang-{key}" for key, t in laid_out.items() if t.rows} <= page.ids
    assert page.svgs == 4 and page.external == []
    text = " ".join(page.text)
    for phrase in ("BÁO CÁO SƠ KẾT", "Giai đoạn 2023–2024", "Mô hình tiêu biểu đề xuất tôn vinh, nhân rộng",
                   "Đơn vị A", "Đất đai", "Tiếp tục bồi dưỡng", "Phát triển", html.recommendation_rule()):
        assert phrase in text, phrase


def test_a_whole_phase_is_a_final_review():
    page_html, _ = render(data(phase_name="Giai đoạn 2023-2024"))
    assert "BÁO CÁO TỔNG KẾT" in page_html


def test_text_from_the_events_is_escaped():
    hostile = dataclasses.replace(EXEMPLARS[0], title="<script>alert(1)</script> & “Mô hình”")
    page_html, _ = render(data(exemplars=[hostile, *EXEMPLARS[1:]]))
    assert "<script>" not in page_html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; “Mô hình”" in page_html


def test_charts_are_well_formed_svg():
    svg = charts.bar_chart("Số đề cử <theo> năm", ["Đất đai", "Một tên rất dài " * 5], [("Năm 2023", [3, 0]), ("Năm 2024", [1, 7])],
                           stacked=True)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "Số đề cử <theo> năm" in ET.tostring(root, encoding="unicode").replace("&lt;", "<").replace("&gt;", ">")
    ET.fromstring(charts.bar_chart("Trống", [], [("x", [])], stacked=False))


def test_csv_files_load_back_with_the_same_figures(tmp_path):
    _, laid_out = render(data())
    written = csv_files.write(laid_out, tmp_path)
    assert {p.name for p in written} == {f"{key}.csv" for key in laid_out}
    for key, table in laid_out.items():
        with (tmp_path / f"{key}.csv").open(encoding="utf-8-sig", newline="") as source:
            rows = list(csv.reader(source))
        assert rows[0] == [c.header for c in table.columns]
        assert rows[1:] == [[csv_files.value(v) for v in row] for row in table.all_rows()]
    with (tmp_path / "nominations_by_year.csv").open(encoding="utf-8-sig") as source:
        by_year = {row["Năm"]: row for row in csv.DictReader(source)}
    assert by_year["2023"]["Đề cử đã gửi"] == "5" and by_year["Tổng cộng"]["Được chấp nhận"] == "5"
    assert (tmp_path / "nominations_by_year.csv").read_bytes().startswith(b"\xef\xbb\xbf")
