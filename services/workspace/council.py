"""The council's decision pack, without I/O: the completed evaluations of a year and field,
ranked by raw total and, beside it, by a total corrected for harsh and lenient evaluators;
and what a decision form must hold before anything is published.

Normalisation: each evaluator's totals in the year (every field, every completed evaluation
they scored) are standardised against that evaluator's own mean and standard deviation, so a
sheet says how far it stands above or below what *this* evaluator usually gives. An
evaluation's normalised score is its members' mean standardised score, shown as a T-score
(50 = each evaluator's own average, 10 = one of their standard deviations). An evaluator
with fewer than `MIN_SHEETS` totals in the year, or who gave the same total every time, is
measured against the year's pooled totals instead: too few sheets say nothing about a
habit. It is shown next to the raw total, never instead of it: the council decides.
"""

import csv
import datetime as dt
import io
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.spreadsheet import safe_cell

MIN_SHEETS = 3
DONE = ("completed", "decided")
# The contract's decision is recognised (at a level) or not; a nomination not recognised whose
# panel recommended fostering is fostered by the evaluations service itself.
DECISIONS = {"recognize_unit": (True, "unit"), "recognize_ministry": (True, "ministry"),
             "not_recognize": (False, None)}


@dataclass(frozen=True)
class Scale:
    mean: float
    sd: float

    def z(self, total: float) -> float:
        return (total - self.mean) / self.sd if self.sd > 0 else 0.0


def evaluator_scales(evaluations: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Scale], Scale]:
    """Each evaluator's scale from their totals in `evaluations`, and the pooled scale."""
    by_evaluator: dict[str, list[float]] = {}
    for evaluation in evaluations:
        for evaluator, total in evaluation["result"]["evaluator_totals"].items():
            by_evaluator.setdefault(evaluator, []).append(float(total))
    pooled_totals = [t for totals in by_evaluator.values() for t in totals]
    pooled = _scale(pooled_totals) if len(pooled_totals) >= 2 else Scale(0.0, 0.0)
    own = {e: _scale(totals) for e, totals in by_evaluator.items() if len(totals) >= MIN_SHEETS}
    return {e: s for e, s in own.items() if s.sd > 0}, pooled


def _scale(totals: list[float]) -> Scale:
    return Scale(statistics.fmean(totals), statistics.stdev(totals))


def normalised(evaluation: Mapping[str, Any], scales: Mapping[str, Scale], pooled: Scale) -> float | None:
    """The evaluation's T-score, or None when nothing can be said (no spread in the year)."""
    totals = evaluation["result"]["evaluator_totals"]
    zs = [scales.get(e, pooled).z(float(t)) for e, t in totals.items()]
    if not zs or (pooled.sd == 0 and not any(e in scales for e in totals)):
        return None
    return round(50 + 10 * statistics.fmean(zs), 1)


@dataclass(frozen=True)
class Row:
    nomination_id: str
    title: str
    unit_id: str
    total: float
    normalised: float | None
    raw_rank: int
    normalised_rank: int | None
    outcome: str
    spread: float
    divergent: bool
    discussion: Mapping[str, Any] | None
    breakdown: list[Mapping[str, Any]]
    status: str
    decision: Mapping[str, Any] | None


def pack(year_evaluations: list[Mapping[str, Any]], field: str) -> list[Row]:
    """The year's completed evaluations of `field`, best raw total first, each with both ranks.
    `year_evaluations`: every completed (or decided) evaluation of the year, all fields: the
    evaluators' habits are read from all of them."""
    done = [e for e in year_evaluations if e.get("status") in DONE and e.get("result")]
    scales, pooled = evaluator_scales(done)
    mine = [e for e in done if e.get("field") == field]
    scores = {e["_id"]: normalised(e, scales, pooled) for e in mine}
    raw_order = sorted(mine, key=lambda e: (-e["result"]["total"], e["_id"]))
    ranked = sorted((e for e in mine if scores[e["_id"]] is not None), key=lambda e: (-scores[e["_id"]], e["_id"]))
    normalised_rank = {e["_id"]: n for n, e in enumerate(ranked, start=1)}
    return [Row(nomination_id=e["_id"], title=e.get("title", ""), unit_id=e.get("unit_id", ""),
                total=e["result"]["total"], normalised=scores[e["_id"]], raw_rank=n,
                normalised_rank=normalised_rank.get(e["_id"]), outcome=e["result"]["outcome"],
                spread=e["result"].get("spread", 0.0), divergent=bool(e["result"].get("divergent")),
                discussion=e["result"].get("discussion"), breakdown=e["result"].get("breakdown", []),
                status=e["status"], decision=e.get("decision"))
            for n, e in enumerate(raw_order, start=1)]


CSV_HEADER = ["Mã hồ sơ", "Mô hình", "Đơn vị", "Tổng điểm", "Xếp hạng theo tổng điểm", "Điểm chuẩn hóa (T)",
              "Xếp hạng theo điểm chuẩn hóa", "Kết quả đề xuất", "Chênh lệch giữa thành viên", "Thảo luận",
              "Quyết định"]


def csv_text(rows: Iterable[Row], unit_names: Mapping[str, str], outcome_names: Mapping[str, str]) -> str:
    """The pack as CSV for a spreadsheet: UTF-8 with a byte-order mark (Excel reads Vietnamese
    right only with it), one line per evaluation, criteria as `name: average` in one cell."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER + ["Điểm theo tiêu chí"])
    for row in rows:
        writer.writerow([
            row.nomination_id, safe_cell(row.title), safe_cell(unit_names.get(row.unit_id, row.unit_id)),
            _num(row.total),
            row.raw_rank, _num(row.normalised), row.normalised_rank or "", outcome_names.get(row.outcome, row.outcome),
            _num(row.spread), _discussion(row.discussion), _decision(row.decision),
            "; ".join(f"{safe_cell(c['name'])}: {_num(c['average'])}/{_num(c['maximum'])}" for c in row.breakdown)])
    return out.getvalue()


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:g}".replace(".", ",")


def _discussion(discussion: Mapping[str, Any] | None) -> str:
    if not discussion:
        return ""
    how = "thống nhất" if discussion.get("closed_by") == "agreement" else "hết thời hạn"
    return f"{how}, {discussion.get('comments', 0)} ý kiến"


def _decision(decision: Mapping[str, Any] | None) -> str:
    if not decision:
        return ""
    if decision.get("recognized"):
        level = "cấp Bộ" if decision.get("level") == "ministry" else "cấp đơn vị"
        return f"Công nhận {level} ({safe_cell(decision.get('decision_ref', ''))})"
    return f"Không công nhận ({safe_cell(decision.get('decision_ref', ''))})"


def check_decision(form: Mapping[str, str], today_iso: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The decision to publish from a form, or the errors by field, in Vietnamese."""
    errors: dict[str, str] = {}
    choice = form.get("decision", "")
    if choice not in DECISIONS:
        errors["decision"] = "Chọn quyết định của Hội đồng."
    reference = form.get("decision_ref", "").strip()
    if not reference:
        errors["decision_ref"] = "Nhập số, ký hiệu quyết định (ví dụ 123/QĐ-BNNMT)."
    elif len(reference) > 500:
        errors["decision_ref"] = "Số, ký hiệu quyết định dài quá 500 ký tự."
    decided_on = form.get("decided_on", "").strip()
    if not _iso_day(decided_on):
        errors["decided_on"] = "Nhập ngày quyết định (ngày/tháng/năm)."
    elif decided_on > today_iso:
        errors["decided_on"] = "Ngày quyết định không được sau hôm nay."
    note = form.get("note", "").strip()
    if len(note) > 10_000:
        errors["note"] = "Ghi chú dài quá 10000 ký tự."
    if errors:
        return None, errors
    recognized, level = DECISIONS[choice]
    return {"recognized": recognized, "level": level, "decision_ref": reference, "decided_on": decided_on,
            "note": note or None}, {}


def _iso_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
