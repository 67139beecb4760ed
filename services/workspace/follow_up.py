"""A unit's follow-up forms, without I/O: the periodic review of its own exemplar, and the
replication or study visit of another unit's. Each checks what the evaluations service
checks and the workspace can know (the period's form and year, the ranges, the units, no
date after today, an exemplar recognised and of the right unit), so no form reason makes the
intake refuse it. Each error is a Vietnamese sentence for its field.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from services.workspace.domain import exemplar_id
from shared.events import ReplicationReported, ReviewReported, VisitReported
from shared.events.base import LONG_TEXT_MAX, MAX_NEW_ADOPTERS, MAX_PARTICIPANTS, MAX_STUDY_VISITS
from shared.events.evaluations import REVIEW_PERIOD
from shared.vocabulary import Trend

def check_review(form: Mapping[str, str], adopters: list[str], *, exemplar: Mapping[str, Any],
                 units: Mapping[str, str], reporter: str) -> tuple[ReviewReported | None, dict[str, str]]:
    """`exemplar`: the unit's own evaluation, decided (recognised or fostered)."""
    errors: dict[str, str] = {}
    period = form.get("period", "").strip()
    match = REVIEW_PERIOD.match(period)
    if not match:
        errors["period"] = "Nhập kỳ báo cáo dạng 2026, 2026-H1, 2026-Q3 hoặc 2026-06."
    elif int(match.group(1)) < exemplar["year"]:
        errors["period"] = f"Kỳ báo cáo không được trước năm đề cử {exemplar['year']}."
    influence = _integer(form.get("influence", ""), 1, 5)
    if influence is None:
        errors["influence"] = "Chọn mức ảnh hưởng từ 1 đến 5."
    if form.get("trend") not in Trend._value2member_map_:
        errors["trend"] = "Chọn xu hướng của mô hình."
    visits = _integer(form.get("study_visits", "0") or "0", 0, MAX_STUDY_VISITS)
    if visits is None:
        errors["study_visits"] = f"Số đoàn đến học tập là số từ 0 đến {MAX_STUDY_VISITS}."
    adopting = sorted(set(adopters))
    if any(u not in units or u == exemplar["unit_id"] for u in adopting) or len(adopting) > MAX_NEW_ADOPTERS:
        errors["new_adopting_units"] = "Chọn các đơn vị khác trong danh mục đã bắt đầu áp dụng mô hình."
    for name in ("difficulties", "support_requested"):
        if len(form.get(name, "")) > LONG_TEXT_MAX:
            errors[name] = f"Nội dung dài quá {LONG_TEXT_MAX} ký tự."
    if errors:
        return None, errors
    return ReviewReported(
        exemplar_id=exemplar_id(exemplar["_id"]), period=period, influence=influence, new_adopting_units=adopting,
        study_visits=visits, trend=Trend(form["trend"]), difficulties=form.get("difficulties", "").strip() or None,
        needs_support=form.get("needs_support") == "yes",
        support_requested=form.get("support_requested", "").strip() or None, reported_by=reporter), {}


def check_replication(form: Mapping[str, str], *, exemplars: Mapping[str, Mapping[str, Any]], own_unit: str,
                      reporter: str, today: dt.date) -> tuple[ReplicationReported | None, dict[str, str]]:
    """`exemplars`: recognised exemplars by their id."""
    errors: dict[str, str] = {}
    chosen = _other_units_exemplar(form, exemplars, own_unit, errors)
    applied_on = _past_day(form.get("applied_on", ""), today, "applied_on", "Ngày bắt đầu áp dụng", errors)
    if len(form.get("description", "")) > LONG_TEXT_MAX:
        errors["description"] = f"Mô tả dài quá {LONG_TEXT_MAX} ký tự."
    if errors:
        return None, errors
    return ReplicationReported(exemplar_id=chosen, adopting_unit_id=own_unit, applied_on=applied_on,
                               description=form.get("description", "").strip() or None, reported_by=reporter), {}


def check_visit(form: Mapping[str, str], *, exemplars: Mapping[str, Mapping[str, Any]], own_unit: str,
                today: dt.date) -> tuple[VisitReported | None, dict[str, str]]:
    errors: dict[str, str] = {}
    chosen = _other_units_exemplar(form, exemplars, own_unit, errors)
    visited_on = _past_day(form.get("visited_on", ""), today, "visited_on", "Ngày tham quan", errors)
    participants = _integer(form.get("participants", ""), 1, MAX_PARTICIPANTS)
    if participants is None:
        errors["participants"] = f"Số người trong đoàn là số từ 1 đến {MAX_PARTICIPANTS}."
    if len(form.get("note", "")) > LONG_TEXT_MAX:
        errors["note"] = f"Ghi chú dài quá {LONG_TEXT_MAX} ký tự."
    if errors:
        return None, errors
    return VisitReported(exemplar_id=chosen, visiting_unit_id=own_unit, visited_on=visited_on,
                         participants=participants, note=form.get("note", "").strip() or None), {}


def _other_units_exemplar(form: Mapping[str, str], exemplars: Mapping[str, Mapping[str, Any]], own_unit: str,
                          errors: dict[str, str]) -> str:
    chosen = form.get("exemplar_id", "")
    if chosen not in exemplars:
        errors["exemplar_id"] = "Chọn điển hình đã được công nhận."
    elif exemplars[chosen]["unit_id"] == own_unit:
        errors["exemplar_id"] = "Đây là điển hình của chính đơn vị; hãy báo cáo trong kỳ báo cáo định kỳ."
    return chosen


def _past_day(text: str, today: dt.date, name: str, what: str, errors: dict[str, str]) -> dt.date:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        errors[name] = f"{what}: nhập ngày (ngày/tháng/năm)."
        return today
    if day > today:
        errors[name] = f"{what} không được sau hôm nay."
    return day


def _integer(text: str, low: int, high: int) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and low <= int(text) <= high else None
