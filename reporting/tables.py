"""The report's figures laid out as tables, once, for both the HTML document and the CSV files.

Rows follow a reader's order: fields as the decree lists them, units by name.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from reporting import labels
from reporting.figures import LEVELS, OUTCOMES, TRENDS, Figures, top_models
from reporting.model import Exemplar, ReportData, Revocation
from shared.vocabulary import Field

TOTAL = "Tổng cộng"


@dataclass(frozen=True)
class Column:
    header: str
    numeric: bool = False
    decimals: int = 0
    # Codes for spreadsheets and systems (the document shows the names), and free text too long for an A4 table.
    csv_only: bool = False


@dataclass
class Table:
    key: str  # the CSV file name, without .csv
    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    total: list | None = None  # a last row of totals, shown apart
    note: str | None = None
    empty: str | None = None  # what the document says when there are no rows, if more than "no figures"

    def all_rows(self) -> list[list]:
        return self.rows + ([self.total] if self.total else [])

    def shown(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if not c.csv_only]


FIELD_CODE = Column("Mã lĩnh vực", csv_only=True)
UNIT_CODE = Column("Mã đơn vị", csv_only=True)
REASON_CODE = Column("Mã lý do", csv_only=True)
NOMINATION_CODE = Column("Mã đề cử", csv_only=True)
STAFF_CODE = Column("Mã cán bộ", csv_only=True)
EXEMPLAR_CODE = Column("Mã điển hình", csv_only=True)
YEAR, FIELD, UNIT, MODEL, NOMINEE = (Column(h) for h in ("Năm", "Lĩnh vực", "Đơn vị", "Mô hình", "Tập thể, cá nhân"))
SCORE = Column("Tổng điểm", True, 2)
COUNTS = ("Đề cử đã gửi", "Được chấp nhận", "Bị từ chối", "Đã rút")
FIELD_ORDER = {f.value: n for n, f in enumerate(Field)}


def _ints(*headers: str) -> list[Column]:
    return [Column(h, numeric=True) for h in headers]


def _unit_name(data: ReportData, unit_id: str) -> str:
    unit = data.units.get(unit_id)
    return unit.name if unit else f"Đơn vị không có trong danh mục ({unit_id})"


def _by_field(items: dict[str, object]) -> Iterable[tuple[str, object]]:
    return sorted(items.items(), key=lambda kv: (FIELD_ORDER.get(kv[0], len(FIELD_ORDER)), kv[0]))


def _units(data: ReportData, unit_ids: Iterable[str]) -> list[str]:
    return sorted(unit_ids, key=lambda u: (labels.sort_key(_unit_name(data, u)), u))


def _by_unit(data: ReportData, items: dict[str, object]) -> Iterable[tuple[str, object]]:
    return [(u, items[u]) for u in _units(data, items)]


def _counts(c) -> list[int]:
    return [c.submitted, c.accepted, c.refused, c.withdrawn]


def build(figures: Figures) -> dict[str, Table]:
    tables = [*_nominations(figures), *_quota(figures), *_evaluations(figures), *_recognitions(figures),
              *_follow_up(figures), *_spread(figures)]
    return {t.key: t for t in tables}


def _nominations(f: Figures) -> list[Table]:
    data, years = f.data, f.data.years
    total = _counts(f.nominations)
    by_year = Table("nominations_by_year", "Đề cử theo năm", [YEAR, *_ints(*COUNTS)],
                    [[y, *_counts(c)] for y, c in f.nominations_by_year.items()], [TOTAL, *total])
    by_field = Table("nominations_by_field", "Đề cử theo lĩnh vực", [FIELD_CODE, FIELD, *_ints(*COUNTS)],
                     [[code, labels.field_vi(code), *_counts(c)] for code, c in _by_field(f.nominations_by_field)],
                     ["", TOTAL, *total])
    field_year = Table(
        "nominations_by_field_year", "Đề cử đã gửi theo lĩnh vực và năm",
        [FIELD_CODE, FIELD, *_ints(*(f"Năm {y}" for y in years), "Cả kỳ")],
        [[code, labels.field_vi(code), *(c[y] for y in years), sum(c.values())]
         for code, c in _by_field(f.submitted_by_field_year)],
        ["", TOTAL, *(f.nominations_by_year[y].submitted if y in f.nominations_by_year else 0 for y in years),
         f.nominations.submitted])
    by_unit = Table("nominations_by_unit", "Đề cử theo đơn vị", [UNIT_CODE, UNIT, *_ints(*COUNTS)],
                    [[uid, _unit_name(data, uid), *_counts(c)] for uid, c in _by_unit(data, f.nominations_by_unit)],
                    ["", TOTAL, *total])
    reasons = sorted(f.refusal_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    refusals = Table("refusal_reasons", "Lý do từ chối đề cử", [REASON_CODE, Column("Lý do"), *_ints("Số đề cử")],
                     [[code, labels.refusal_vi(code), n] for code, n in reasons],
                     note="Một đề cử có thể bị từ chối vì nhiều lý do cùng lúc, nên tổng theo lý do có thể lớn hơn "
                          "số đề cử bị từ chối.")
    return [by_year, by_field, field_year, by_unit, refusals]


def _quota(f: Figures) -> list[Table]:
    data, top, years = f.data, f.data.yearly_maximum, f.data.years
    rows = []
    for year in years:
        groups = f.quota_groups(year)
        rows.append([year, len(f.quota[year]), *(len(groups.get(k, [])) for k in range(top + 1)),
                     "; ".join(_unit_name(data, u) for u in _units(data, groups.get(0, [])))])
    by_year = Table("quota_by_year", "Thực hiện chỉ tiêu đề cử theo năm",
                    [YEAR, *_ints("Số đơn vị thuộc diện đề cử", *(f"Có {k} đề cử được chấp nhận" for k in range(top + 1))),
                     Column("Đơn vị chưa có đề cử được chấp nhận")],
                    rows, note=f"Chỉ tiêu: mỗi đơn vị từ {data.yearly_minimum} đến {top} đề cử được chấp nhận mỗi năm. "
                               "Đơn vị thuộc diện đề cử: đơn vị có hiệu lực trong năm, trừ cấp Bộ.")
    units = _units(data, {u for year in years for u in f.quota[year]})
    by_unit = Table("quota_by_unit", "Số đề cử được chấp nhận của từng đơn vị qua các năm",
                    [UNIT_CODE, UNIT, *_ints(*(f"Năm {y}" for y in years), "Cả kỳ")],
                    [[u, _unit_name(data, u), *(f.quota[y].get(u) for y in years),
                      sum(f.quota[y].get(u, 0) for y in years)] for u in units],
                    note="Ô trống: đơn vị không có hiệu lực trong năm đó.")
    never = Table("units_never_nominated", "Đơn vị chưa gửi đề cử nào trong kỳ", [UNIT_CODE, UNIT],
                  [[u, _unit_name(data, u)] for u in _units(data, f.never_nominated)])
    return [by_year, by_unit, never]


def _evaluation_row(c) -> list:
    return [c.opened, c.cancelled, c.in_progress, c.completed, *(c.outcomes.get(o, 0) for o in OUTCOMES),
            c.divergent, None if c.mean_days is None else round(c.mean_days, 2)]


def _evaluations(f: Figures) -> list[Table]:
    data = f.data
    columns = [*_ints("Đợt đánh giá", "Đã hủy", "Đang chấm", "Đã chấm xong",
                      *(labels.OUTCOMES_SHORT_VI[o] for o in OUTCOMES), "Chênh lệch lớn giữa thành viên"),
               Column("Số ngày trung bình từ khi chấp nhận đến khi chấm xong", True, 2)]
    bands = "; ".join(labels.outcome_vi(o, data.recognize_from, data.foster_from) for o in OUTCOMES)
    by_year = Table("evaluations_by_year", "Kết quả đánh giá theo năm", [YEAR, *columns],
                    [[y, *_evaluation_row(c)] for y, c in f.evaluations_by_year.items()],
                    [TOTAL, *_evaluation_row(f.evaluations)],
                    note=f"Ngưỡng: {bands}. Đợt đánh giá: đề cử được chấp nhận và không bị hủy.")
    by_field = Table("evaluations_by_field", "Kết quả đánh giá theo lĩnh vực", [FIELD_CODE, FIELD, *columns],
                     [[code, labels.field_vi(code), *_evaluation_row(c)] for code, c in _by_field(f.evaluations_by_field)])
    divergent = Table("divergent_evaluations", "Đề cử có điểm chênh lệch lớn giữa các thành viên hội đồng",
                      [NOMINATION_CODE, YEAR, MODEL, UNIT, SCORE, Column("Chênh lệch", True, 2)],
                      [[e.nomination_id, e.year, e.title, _unit_name(data, e.unit_id), e.total, e.spread]
                       for e in f.divergent])
    load = Table("evaluator_load", "Khối lượng công việc của thành viên hội đồng đánh giá",
                 [STAFF_CODE, Column("Họ và tên"), UNIT, *_ints("Số hội đồng tham gia", "Số lần rút khỏi hội đồng")],
                 [[x.staff_id, _person(data, x.staff_id)[0], _unit_name(data, _person(data, x.staff_id)[1]),
                   x.panels, x.recusals] for x in f.load],
                 note="Hội đồng của các đợt đánh giá không bị hủy, tính theo thành phần sau khi đã thay người. "
                      "Rút khỏi hội đồng: khai báo xung đột lợi ích, hoặc không còn đủ điều kiện (chuyển công tác, "
                      "thôi vai trò đánh giá).")
    return [by_year, by_field, divergent, load]


def _person(data: ReportData, staff_id: str) -> tuple[str, str]:
    person = data.people.get(staff_id)
    return (person.full_name, person.unit_id) if person else ("", "")


def _recognition_row(r) -> list[int]:
    return [*(r.levels.get(level, 0) for level in LEVELS), r.recognized, r.revoked, r.not_recognized, r.fostering]


def _level(x: Exemplar) -> str:
    return labels.LEVELS_VI.get(x.level or "", x.level or "")


def _recognitions(f: Figures) -> list[Table]:
    data = f.data
    # "Bị thu hồi" sits before "Không công nhận": "Trong đó" qualifies the column just before it.
    columns = _ints(*(f"Công nhận {labels.LEVELS_INLINE_VI[level]}" for level in LEVELS), "Tổng số được công nhận",
                    "Bị thu hồi", "Không công nhận", "Trong đó: tiếp tục bồi dưỡng")
    by_year = Table("recognitions_by_year", "Công nhận điển hình tiên tiến theo năm", [YEAR, *columns],
                    [[y, *_recognition_row(r)] for y, r in f.recognitions_by_year.items()],
                    [TOTAL, *_recognition_row(f.recognitions)], note=REVOKED_NOTE)
    by_field = Table("recognitions_by_field", "Công nhận theo lĩnh vực", [FIELD_CODE, FIELD, *columns],
                     [[code, labels.field_vi(code), *_recognition_row(r)] for code, r in _by_field(f.recognitions_by_field)])
    by_unit = Table("recognitions_by_unit", "Công nhận theo đơn vị", [UNIT_CODE, UNIT, *columns],
                    [[uid, _unit_name(data, uid), *_recognition_row(r)]
                     for uid, r in _by_unit(data, f.recognitions_by_unit)])
    exemplars = Table("exemplars", "Danh sách điển hình tiên tiến được công nhận",
                      [EXEMPLAR_CODE, YEAR, MODEL, NOMINEE, UNIT, FIELD, Column("Cấp công nhận"), SCORE,
                       Column("Quyết định"), Column("Hệ thống ghi nhận quyết định")],
                      [[x.exemplar_id, x.year, x.title, x.nominee_name, _unit_name(data, x.unit_id),
                        labels.field_vi(x.field), _level(x), x.total, x.decision_ref or "", x.recorded_by or ""]
                       for x in f.exemplars])
    return [by_year, by_field, by_unit, exemplars, _revocations(f)]


# A revoked document always carries its revocation; should one not, its row shows blanks, not an error.
NO_REVOCATION = Revocation("", None, "")
REVOKED_NOTE = ("Bị thu hồi: danh hiệu đã được công nhận rồi bị Hội đồng thu hồi (tính đến thời điểm lập báo cáo); "
                "không tính vào số được công nhận.")


def _revocations(f: Figures) -> Table:
    data, rows = f.data, []
    for x in f.revocations:
        rev = x.revocation or NO_REVOCATION
        rows.append([x.exemplar_id, x.year, x.title, x.nominee_name, _unit_name(data, x.unit_id), _level(x),
                     x.decision_ref or "", rev.ref, labels.date(rev.revoked_on), rev.ground, labels.ground_vi(rev.ground),
                     rev.reason, len(x.adopters), len(rev.uncounted)])
    return Table("revocations", "Danh hiệu bị thu hồi",
                 [EXEMPLAR_CODE, YEAR, MODEL, NOMINEE, UNIT, Column("Cấp công nhận"), Column("Quyết định công nhận"),
                  Column("Quyết định thu hồi"), Column("Ngày thu hồi"), Column("Mã căn cứ", csv_only=True),
                  Column("Căn cứ thu hồi"), Column("Lý do", csv_only=True),
                  *_ints("Số đơn vị áp dụng trước ngày thu hồi"),
                  Column("Số đơn vị áp dụng từ ngày thu hồi", numeric=True, csv_only=True)],
                 rows, empty="Không có danh hiệu nào bị thu hồi.",
                 note="Danh hiệu bị thu hồi theo Luật Thi đua, khen thưởng năm 2022 không còn được tính là điển hình "
                      "tiên tiến: không có trong danh sách được công nhận, việc theo dõi, mức độ nhân rộng và đề xuất "
                      "tôn vinh. Đơn vị áp dụng mô hình từ ngày thu hồi không được tính.")


def _follow_up(f: Figures) -> list[Table]:
    data, follow_up = f.data, f.follow_up
    reviewed = sum(1 for fu in follow_up if fu.reviews)
    summary = Table("follow_up_summary", "Tổng hợp theo dõi, hỗ trợ điển hình", [Column("Chỉ tiêu"), *_ints("Số lượng")], [
        ["Điển hình được công nhận", len(f.exemplars)],
        ["Điển hình đã có báo cáo theo dõi", reviewed],
        ["Điển hình chưa có báo cáo theo dõi", len(f.exemplars) - reviewed],
        ["Số báo cáo theo dõi đã nhận", sum(fu.reviews for fu in follow_up)],
        *([f"Báo cáo có xu hướng “{labels.TRENDS_VI[t]}”", f.review_trends.get(t, 0)] for t in TRENDS),
        *([f"Điển hình có xu hướng gần nhất “{labels.TRENDS_VI[t]}”", f.latest_trends.get(t, 0)] for t in TRENDS),
        ["Số lần đề nghị hỗ trợ", sum(fu.support_requests for fu in follow_up)],
        ["Điển hình đã đề nghị hỗ trợ", sum(1 for fu in follow_up if fu.support_requests)],
        ["Đề nghị hỗ trợ đã được đáp ứng", sum(fu.resolved for fu in follow_up)],
        ["Điển hình còn đề nghị hỗ trợ ở kỳ gần nhất", sum(1 for fu in follow_up if fu.open_request)],
    ], note="Hệ thống ghi nhận đề nghị hỗ trợ qua báo cáo theo dõi (đơn vị đề nghị, hoặc xu hướng suy giảm). "
            "Một đề nghị được coi là đã đáp ứng khi một kỳ báo cáo sau đó không còn đề nghị hỗ trợ.")
    rows = []
    for fu in follow_up:
        x, latest = fu.exemplar, fu.exemplar.latest
        rows.append([x.exemplar_id, x.title, _unit_name(data, x.unit_id), fu.reviews, latest.period if latest else "",
                     labels.TRENDS_VI.get(latest.trend, latest.trend) if latest else "",
                     latest.influence if latest else None, fu.support_requests, fu.resolved,
                     "Có" if fu.open_request else "Không"])
    detail = Table("follow_up", "Theo dõi từng điển hình",
                   [EXEMPLAR_CODE, MODEL, UNIT, *_ints("Số báo cáo"), Column("Kỳ gần nhất"), Column("Xu hướng gần nhất"),
                    *_ints("Mức ảnh hưởng gần nhất (1–5)", "Số lần đề nghị hỗ trợ", "Đề nghị đã đáp ứng"),
                    Column("Còn đề nghị hỗ trợ")], rows)
    return [summary, detail]


def _spread(f: Figures) -> list[Table]:
    data = f.data
    spread = Table("spread", "Mức độ lan tỏa, nhân rộng của từng điển hình",
                   [EXEMPLAR_CODE, MODEL, UNIT, FIELD, *_ints("Số đơn vị áp dụng"), Column("Các đơn vị đã áp dụng"),
                    *_ints("Số đoàn tham quan học tập")],
                   [[x.exemplar_id, x.title, _unit_name(data, x.unit_id), labels.field_vi(x.field), len(x.adopters),
                     "; ".join(_unit_name(data, u) for u in x.adopters), x.study_visits] for x in f.spread],
                   note="Đơn vị áp dụng: đơn vị khác đơn vị của điển hình, mỗi đơn vị tính một lần dù báo cáo nhiều "
                        "lần. Số đoàn tham quan: theo báo cáo theo dõi hoặc theo từng chuyến được ghi nhận, lấy số lớn hơn.")
    top = Table("top_models", "Các mô hình được nhân rộng nhiều nhất",
                [Column("Thứ tự"), EXEMPLAR_CODE, MODEL, UNIT, *_ints("Số đơn vị áp dụng", "Số đoàn tham quan học tập")],
                [[n, x.exemplar_id, x.title, _unit_name(data, x.unit_id), len(x.adopters), x.study_visits]
                 for n, x in enumerate(top_models(f), start=1)])
    visits = Table("visits", "Các chuyến tham quan học tập được ghi nhận",
                   [EXEMPLAR_CODE, MODEL, Column("Đơn vị đến học tập"), Column("Ngày"), *_ints("Số người")],
                   [[x.exemplar_id, x.title, _unit_name(data, v.visiting_unit_id), labels.date(v.visited_on),
                     v.participants]
                    for x in f.spread for v in sorted(x.visits, key=lambda v: (v.visited_on is None, v.visited_on))])
    recommended = Table("recommended", "Mô hình tiêu biểu đề xuất tôn vinh, nhân rộng",
                        [Column("Thứ tự"), EXEMPLAR_CODE, MODEL, NOMINEE, UNIT, FIELD, Column("Cấp công nhận"),
                         *_ints("Số đơn vị áp dụng", "Số đoàn tham quan học tập"), SCORE],
                        [[n, x.exemplar_id, x.title, x.nominee_name, _unit_name(data, x.unit_id),
                          labels.field_vi(x.field), _level(x), len(x.adopters), x.study_visits, x.total]
                         for n, x in enumerate(f.recommended, start=1)])
    return [spread, top, visits, recommended]
