"""Rules for following exemplars after the council: reviews, replications, study visits. No I/O."""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from services.evaluations.domain import Code, ExemplarStatus, reason
from shared.events import Reason
from shared.events.evaluations import REVIEW_PERIOD
from shared.vocabulary import Trend

T = TypeVar("T", dt.date, dt.datetime)


@dataclass(frozen=True)
class Exemplar:
    exemplar_id: str
    unit_id: str
    year: int
    status: ExemplarStatus


@dataclass(frozen=True)
class UnitPeriod:
    """When a unit of the directory is valid (units merge, close and get renamed)."""

    unit_id: str
    valid_from: dt.date
    valid_to: dt.date | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def check_review(*, exemplar_id: str, exemplar: Exemplar | None, period: str,
                 new_adopting_units: Sequence[str], units: Mapping[str, UnitPeriod]) -> list[Reason]:
    """Reviews follow both recognised exemplars and fostered candidates."""
    if exemplar is None:
        return [_unknown_exemplar(exemplar_id)]
    if exemplar.status is ExemplarStatus.REVOKED:
        return [_revoked(exemplar_id, "báo cáo kiểm tra")]
    reasons = []
    match = REVIEW_PERIOD.match(period)
    if match is None:
        reasons.append(reason(Code.INVALID_PERIOD,
                               f"Kỳ báo cáo “{period}” không hợp lệ; dùng dạng 2025, 2025-H1, 2025-Q3 hoặc 2025-06."))
    elif int(match.group(1)) < exemplar.year:
        reasons.append(reason(Code.PERIOD_BEFORE_NOMINATION,
                               f"Kỳ báo cáo {period} trước năm đề cử {exemplar.year} của {exemplar_id}."))
    for unit_id in dict.fromkeys(new_adopting_units):
        if unit_id == exemplar.unit_id:
            reasons.append(_own_unit(unit_id, "nhân rộng"))
        elif unit_id not in units:
            reasons.append(_unknown_unit(unit_id))
    return reasons


def support_needed(*, needs_support: bool, support_requested: str | None, trend: Trend) -> bool:
    """Support is due when the unit asks for it or the model is losing ground."""
    return needs_support or bool(support_requested and support_requested.strip()) or trend is Trend.DECLINING


def check_replication(*, exemplar_id: str, exemplar: Exemplar | None, adopting_unit_id: str, applied_on: dt.date,
                      units: Mapping[str, UnitPeriod], today: dt.date) -> list[Reason]:
    return _check_other_unit(exemplar_id, exemplar, adopting_unit_id, applied_on, units, today, "nhân rộng")


def check_visit(*, exemplar_id: str, exemplar: Exemplar | None, visiting_unit_id: str, visited_on: dt.date,
                units: Mapping[str, UnitPeriod], today: dt.date) -> list[Reason]:
    return _check_other_unit(exemplar_id, exemplar, visiting_unit_id, visited_on, units, today, "tham quan học tập")


def _check_other_unit(exemplar_id: str, exemplar: Exemplar | None, unit_id: str, day: dt.date,
                      units: Mapping[str, UnitPeriod], today: dt.date, activity: str) -> list[Reason]:
    """Replications and study visits: by another registered unit, active that day, of a recognised exemplar."""
    if exemplar is None:
        return [_unknown_exemplar(exemplar_id)]
    if exemplar.status is ExemplarStatus.REVOKED:
        return [_revoked(exemplar_id, activity)]
    reasons = []
    if exemplar.status is not ExemplarStatus.RECOGNIZED:
        reasons.append(reason(Code.EXEMPLAR_NOT_RECOGNIZED,
                               f"{exemplar_id} chưa được công nhận là điển hình tiên tiến (đang tiếp tục bồi dưỡng)."))
    if unit_id == exemplar.unit_id:
        reasons.append(_own_unit(unit_id, activity))
    elif (unit := units.get(unit_id)) is None:
        reasons.append(_unknown_unit(unit_id))
    elif not unit.active_on(day):
        reasons.append(reason(Code.UNIT_NOT_ACTIVE,
                               f"Đơn vị {unit_id} không có hiệu lực vào ngày {day:%d/%m/%Y}."))
    if day > today:
        reasons.append(reason(Code.DATE_IN_FUTURE, f"Ngày {day:%d/%m/%Y} chưa đến."))
    return reasons


def adopters_after(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    """Distinct units applying the exemplar, in the order they first did: a unit counts once."""
    return list(dict.fromkeys([*existing, *new]))


def first_days(known: Mapping[str, T], units: Iterable[str], on: T) -> dict[str, T]:
    """The first day each unit applied the model: a revocation counts only the units before it."""
    days = dict(known)
    for unit_id in units:
        if unit_id not in days or on < days[unit_id]:
            days[unit_id] = on
    return days


def study_visits_total(reported: int, recorded_visits: int) -> int:
    """Reviews count a period's visits (`reported`: their sum over periods, each period's latest
    report), visit reports record them one by one: the two describe the same visits, so the
    larger figure is the total, never their sum."""
    return max(reported, recorded_visits)


def _unknown_exemplar(exemplar_id: str) -> Reason:
    return reason(Code.UNKNOWN_EXEMPLAR,
                   f"Không tìm thấy điển hình hoặc hồ sơ bồi dưỡng {exemplar_id}.")


def _own_unit(unit_id: str, activity: str) -> Reason:
    return reason(Code.OWN_UNIT,
                   f"Đơn vị {unit_id} là đơn vị của chính điển hình; không tính là {activity}.")


def _revoked(exemplar_id: str, activity: str) -> Reason:
    return reason(Code.EXEMPLAR_REVOKED,
                   f"Danh hiệu của {exemplar_id} đã bị thu hồi; không ghi nhận thêm {activity} cho mô hình này.")


def _unknown_unit(unit_id: str) -> Reason:
    return reason(Code.UNKNOWN_UNIT, f"Đơn vị {unit_id} chưa được đăng ký trong danh mục đơn vị của ngành.")
