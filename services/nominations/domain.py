"""The nominations rules: who may nominate whom, when, and how many. No I/O."""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from services.nominations.identity import collective_identity
from shared.events import NominationSubmitted, NominationWithdrawn, Reason
from shared.programme import Programme
from shared.vocabulary import Field, NomineeKind


class Status(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    RECOGNIZED = "recognized"
    NOT_RECOGNIZED = "not_recognized"
    REVOKED = "revoked"  # recognised, then the council took the title back


# Statuses in which a nomination holds one of its unit's yearly places: a revoked title used its place.
HOLDS_QUOTA = (Status.ACCEPTED, Status.RECOGNIZED, Status.NOT_RECOGNIZED, Status.REVOKED)
DECIDED = (Status.RECOGNIZED, Status.NOT_RECOGNIZED, Status.REVOKED)


class Code(StrEnum):
    UNIT_NOT_REGISTERED = "UNIT_NOT_REGISTERED"
    UNIT_NOT_ACTIVE = "UNIT_NOT_ACTIVE"
    YEAR_NOT_OPEN = "YEAR_NOT_OPEN"
    FIELD_UNKNOWN = "FIELD_UNKNOWN"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    NOMINEE_ALREADY_NOMINATED = "NOMINEE_ALREADY_NOMINATED"
    NOMINEE_NOT_IN_UNIT = "NOMINEE_NOT_IN_UNIT"
    SUBMITTER_NOT_IN_UNIT = "SUBMITTER_NOT_IN_UNIT"
    NOMINATION_ID_REUSED = "NOMINATION_ID_REUSED"
    NOMINATION_UNKNOWN = "NOMINATION_UNKNOWN"
    NOT_OWN_UNIT = "NOT_OWN_UNIT"
    REQUESTER_NOT_IN_UNIT = "REQUESTER_NOT_IN_UNIT"
    NOT_WITHDRAWABLE = "NOT_WITHDRAWABLE"
    ALREADY_DECIDED = "ALREADY_DECIDED"


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    valid_from: dt.date
    valid_to: dt.date | None = None

    def active_in(self, year: int) -> bool:
        """Valid on at least one day of `year`."""
        return self.valid_from <= dt.date(year, 12, 31) and (self.valid_to is None or self.valid_to >= dt.date(year, 1, 1))


@dataclass(frozen=True)
class Staff:
    staff_id: str
    unit_id: str
    removed: bool = False

    def belongs_to(self, unit_id: str) -> bool:
        return not self.removed and self.unit_id == unit_id


@dataclass(frozen=True)
class SubmissionContext:
    """What the projection knows that the rules need; gathered by the handler."""

    unit: Unit | None
    submitter: Staff | None
    nominee_staff: Staff | None
    held_places: int  # places of the unit's year held by *other* nominations
    nominee_held_by: str | None  # another nomination of the same nominee that year
    id_taken: bool  # the nomination id is in use by a live nomination from another event


@dataclass(frozen=True)
class Nomination:
    nomination_id: str
    unit_id: str
    status: Status


def nominee_key(submission: NominationSubmitted) -> str:
    """One identity per nominee and year: the staff id, or the collective's name as `identity` judges it."""
    nominee = submission.nominee
    if nominee.kind is NomineeKind.INDIVIDUAL:
        return f"staff:{nominee.staff_id}"
    return f"collective:{submission.unit_id}:{collective_identity(nominee.name)}"


def check_submission(sub: NominationSubmitted, ctx: SubmissionContext, programme: Programme) -> list[Reason]:
    """Every reason to refuse the submission; empty when it is acceptable."""
    reasons: list[Reason] = []
    if ctx.id_taken:
        reasons.append(_reason(Code.NOMINATION_ID_REUSED,
                               f"Mã đề cử {sub.nomination_id} đã được dùng cho một đề cử khác đang có hiệu lực."))
    if ctx.unit is None:
        reasons.append(_reason(Code.UNIT_NOT_REGISTERED,
                               f"Đơn vị {sub.unit_id} chưa được đăng ký trong danh mục đơn vị của ngành."))
    elif not ctx.unit.active_in(sub.year):
        reasons.append(_reason(Code.UNIT_NOT_ACTIVE,
                               f"Đơn vị {ctx.unit.name} không còn hiệu lực trong năm {sub.year}."))
    if sub.year not in programme.open_years:
        years = ", ".join(map(str, programme.open_years))
        reasons.append(_reason(Code.YEAR_NOT_OPEN,
                               f"Năm {sub.year} không phải năm mở đề cử của chương trình (các năm mở: {years})."))
    if sub.field not in set(Field):
        reasons.append(_reason(Code.FIELD_UNKNOWN,
                               f"Lĩnh vực “{sub.field}” không thuộc các lĩnh vực của ngành."))
    if ctx.submitter is None or not ctx.submitter.belongs_to(sub.unit_id):
        reasons.append(_reason(Code.SUBMITTER_NOT_IN_UNIT,
                               f"Người gửi đề cử ({sub.submitter_id}) không thuộc đơn vị {sub.unit_id}."))
    if sub.nominee.kind is NomineeKind.INDIVIDUAL and (
        ctx.nominee_staff is None or not ctx.nominee_staff.belongs_to(sub.unit_id)
    ):
        reasons.append(_reason(Code.NOMINEE_NOT_IN_UNIT,
                               f"Cá nhân được đề cử (mã cán bộ {sub.nominee.staff_id}) không thuộc đơn vị "
                               f"{sub.unit_id}."))
    if ctx.nominee_held_by is not None:
        reasons.append(nominee_taken(sub, ctx.nominee_held_by))
    if ctx.held_places >= programme.yearly_maximum:
        reasons.append(quota_exceeded(sub, ctx.held_places, programme.yearly_maximum))
    return reasons


def nominee_taken(sub: NominationSubmitted, other_id: str) -> Reason:
    # A person is named by their staff id: a refusal is kept in the log, where only sealed
    # fields can be erased (shared/personal.py); a collective's name is nobody's personal data.
    who = f"Cán bộ mã {sub.nominee.staff_id}" if sub.nominee.staff_id else f"“{sub.nominee.name}”"
    return _reason(Code.NOMINEE_ALREADY_NOMINATED, f"{who} đã được đề cử trong năm {sub.year} (đề cử {other_id}).")


def quota_exceeded(sub: NominationSubmitted, held: int, maximum: int) -> Reason:
    return _reason(Code.QUOTA_EXCEEDED,
                   f"Đơn vị đã có {held}/{maximum} đề cử được chấp nhận trong năm {sub.year}; "
                   f"không thể đề cử thêm.")


def check_withdrawal(req: NominationWithdrawn, nomination: Nomination | None, requester: Staff | None) -> list[Reason]:
    if nomination is None:
        return [_reason(Code.NOMINATION_UNKNOWN, f"Không tìm thấy đề cử {req.nomination_id}.")]
    reasons: list[Reason] = []
    if req.unit_id != nomination.unit_id:
        reasons.append(_reason(Code.NOT_OWN_UNIT,
                               f"Đơn vị {req.unit_id} chỉ được rút đề cử của chính mình; "
                               f"đề cử {req.nomination_id} thuộc đơn vị {nomination.unit_id}."))
    if requester is None or not requester.belongs_to(nomination.unit_id):
        reasons.append(_reason(Code.REQUESTER_NOT_IN_UNIT,
                               f"Người yêu cầu rút ({req.requested_by}) không thuộc đơn vị {nomination.unit_id}."))
    if nomination.status in DECIDED:
        reasons.append(_reason(Code.ALREADY_DECIDED,
                               f"Đề cử {req.nomination_id} đã có quyết định của Hội đồng, không thể rút."))
    elif nomination.status is not Status.ACCEPTED:
        reasons.append(_reason(Code.NOT_WITHDRAWABLE,
                               f"Đề cử {req.nomination_id} đang ở trạng thái “{STATUS_NAMES_VI[nomination.status]}”, "
                               f"không thể rút."))
    return reasons


def shortfall_due(today: dt.date, programme: Programme) -> list[int]:
    """Open years whose shortfall reminder date has come."""
    return [year for year in programme.open_years if today >= programme.shortfall_reminder.in_year(year)]


def units_short(year: int, units: list[Unit], held: dict[str, int], programme: Programme) -> list[tuple[Unit, int]]:
    """Units active in `year` holding fewer places than the yearly minimum, with their count."""
    return [(unit, held.get(unit.unit_id, 0)) for unit in units
            if unit.active_in(year) and held.get(unit.unit_id, 0) < programme.yearly_minimum]


STATUS_NAMES_VI: dict[Status, str] = {
    Status.ACCEPTED: "đã chấp nhận",
    Status.REJECTED: "bị từ chối",
    Status.WITHDRAWN: "đã rút",
    Status.RECOGNIZED: "được công nhận",
    Status.NOT_RECOGNIZED: "không được công nhận",
    Status.REVOKED: "bị thu hồi danh hiệu",
}


def _reason(code: Code, message: str) -> Reason:
    return Reason(code=code.value, message=message)
