"""The review as one self-contained HTML document: Vietnamese, inline SVG charts, printable to A4."""

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from reporting import charts, labels
from reporting.figures import (
    OUTCOMES,
    RECOMMEND_LIMIT,
    RECOMMEND_MIN_ADOPTERS,
    RECOMMEND_TREND,
    Figures,
    top_models,
)
from reporting.tables import Column, Table

# Section anchors: the test and a reader's table of contents rely on them.
SECTIONS = {
    "tom-tat": "Tóm tắt kết quả",
    "de-cu": "I. Phát hiện, đề cử điển hình",
    "chi-tieu": "II. Thực hiện chỉ tiêu đề cử của các đơn vị",
    "danh-gia": "III. Đánh giá, chấm điểm",
    "cong-nhan": "IV. Công nhận, tôn vinh",
    "theo-doi": "V. Theo dõi, bồi dưỡng, hỗ trợ",
    "nhan-rong": "VI. Tuyên truyền, nhân rộng, tham quan học tập",
    "de-xuat": "VII. Mô hình tiêu biểu đề xuất tôn vinh, nhân rộng",
    "phuong-phap": "Phụ lục: Nguồn số liệu và cách tính",
}


def recommendation_rule() -> str:
    """The documented rule, written from the constants `figures.recommend` applies."""
    trend = labels.TRENDS_VI[RECOMMEND_TREND]
    return (f"Một mô hình được đề xuất khi đồng thời: (1) đã được Hội đồng công nhận là điển hình tiên tiến; "
            f"(2) báo cáo theo dõi gần nhất có xu hướng “{trend}”; (3) đã được ít nhất {RECOMMEND_MIN_ADOPTERS} "
            f"đơn vị khác áp dụng. Các mô hình đạt cả ba điều kiện được xếp theo số đơn vị áp dụng (nhiều trước), "
            f"rồi số đoàn tham quan học tập, rồi tổng điểm đánh giá; chọn tối đa {RECOMMEND_LIMIT} mô hình đứng đầu.")


def title(figures: Figures) -> tuple[str, str]:
    data = figures.data
    if data.phase_name:
        return "BÁO CÁO TỔNG KẾT", data.phase_name
    if data.first_year == data.last_year:
        return "BÁO CÁO SƠ KẾT", f"Năm {data.first_year}"
    return "BÁO CÁO SƠ KẾT", f"Giai đoạn {data.first_year}–{data.last_year}"


def cell(value, column: Column) -> str:
    if value is None:
        return ""
    if column.numeric:
        return labels.number(value, column.decimals)
    return str(value)


def render(figures: Figures, tables: dict[str, Table]) -> str:
    env = Environment(loader=PackageLoader("reporting", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = cell
    env.filters["num"] = labels.number
    env.filters["duration"] = labels.duration
    heading, subtitle = title(figures)
    return env.get_template("report.html.j2").render(
        f=figures, data=figures.data, t=tables, sections=SECTIONS, heading=heading, subtitle=subtitle,
        charts=_charts(figures, tables), rule=recommendation_rule(), labels=labels,
        generated=labels.moment(figures.data.generated_at))


def _charts(f: Figures, tables: dict[str, Table]) -> dict[str, Markup]:
    years = f.data.years
    by_field = sorted(((labels.field_vi(code), counts) for code, counts in f.submitted_by_field_year.items()),
                      key=lambda item: (-sum(item[1].values()), item[0]))
    quota = [[len(f.quota_groups(y).get(k, [])) for y in years] for k in range(f.data.yearly_maximum + 1)]
    outcomes = [[f.evaluations_by_year[y].outcomes.get(o, 0) if y in f.evaluations_by_year else 0 for y in years]
                for o in OUTCOMES]
    top = top_models(f)
    return {name: Markup(svg) for name, svg in {
        "field_year": charts.bar_chart("Số đề cử đã gửi theo lĩnh vực và năm", [name for name, _ in by_field],
                                       [(f"Năm {y}", [c[y] for _, c in by_field]) for y in years], stacked=False),
        "quota": charts.bar_chart("Số đơn vị theo số đề cử được chấp nhận trong năm", [f"Năm {y}" for y in years],
                                  [(f"{k} đề cử", quota[k]) for k in range(len(quota))], stacked=True),
        "outcomes": charts.bar_chart("Kết quả đánh giá theo năm", [f"Năm {y}" for y in years],
                                     [(labels.OUTCOMES_SHORT_VI[o], outcomes[i]) for i, o in enumerate(OUTCOMES)],
                                     stacked=True),
        "spread": charts.bar_chart("Số đơn vị áp dụng các mô hình được nhân rộng nhiều nhất",
                                   [f"{n}. {x.title}" for n, x in enumerate(top, start=1)],
                                   [("Đơn vị áp dụng", [len(x.adopters) for x in top])], stacked=False),
    }.items()}
