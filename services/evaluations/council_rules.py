"""The council's rules: a decision on a completed evaluation, its corrections, and the
revocation of a recognition obtained by fraud, false documents or an unlawful appraisal
(Law on Emulation and Commendation 2022). No I/O.

A decision is never overwritten: a correction and a revocation are added to its history, so
what the council said, and when, stays readable.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.evaluations.domain import Code, Status, reason
from shared.events import Reason
from shared.events.base import MAX_CORRECTIONS
from shared.vocabulary import Outcome, RecognitionLevel


@dataclass(frozen=True)
class Decided:
    """A council decision as it stands after its corrections."""

    nomination_id: str
    recognized: bool
    level: RecognitionLevel | None
    decision_ref: str
    decided_on: dt.date
    revoked: tuple[str, dt.date] | None = None  # the revoking decision's reference and day
    corrections: int = 0


def check_decision(*, nomination_id: str, status: Status | None, recognized: bool,
                   level: RecognitionLevel | None, gates: Mapping[str, bool],
                   gate_names: Mapping[str, str]) -> list[Reason]:
    """The council decides on a completed evaluation only, once (then it corrects or revokes)."""
    if status is None:
        return [reason(Code.UNKNOWN_NOMINATION, f"Không có đợt đánh giá nào cho đề cử {nomination_id}.")]
    if status is Status.CANCELLED:
        return [reason(Code.EVALUATION_CANCELLED, f"Việc đánh giá đề cử {nomination_id} đã bị hủy.")]
    if status is Status.DECIDED:
        return [reason(Code.ALREADY_DECIDED,
                        f"Đề cử {nomination_id} đã có quyết định của Hội đồng; để thay đổi, hãy ghi nhận "
                        "quyết định đính chính hoặc quyết định thu hồi.")]
    if status is not Status.COMPLETED:
        return [reason(Code.EVALUATION_NOT_COMPLETED,
                        f"Hội đồng đánh giá chưa chấm xong đề cử {nomination_id}; chưa thể ghi nhận quyết định.")]
    reasons = []
    if recognized and level is None:
        reasons.append(reason(Code.LEVEL_REQUIRED,
                               "Quyết định công nhận phải ghi rõ cấp công nhận (cấp đơn vị hoặc cấp Bộ)."))
    if recognized and (failed := [gate_names.get(g, g) for g, ok in gates.items() if not ok]):
        reasons.append(reason(Code.GATE_FAILED,
                               f"Không thể công nhận vì đề cử không đạt điều kiện bắt buộc: {', '.join(failed)}."))
    return reasons


def opens_fostering(recognized: bool, outcome: Outcome) -> bool:
    """A candidate the panel scored high enough, not recognised (yet), is fostered and followed."""
    return not recognized and outcome is not Outcome.NOT_RECOGNIZED


def check_revocation(*, nomination_id: str, decided: Decided | None, revoked_on: dt.date,
                     today: dt.date) -> list[Reason]:
    """Only a standing recognition is revoked, once, on a day between its decision and today."""
    if decided is None:
        return [_not_decided(nomination_id, "thu hồi")]
    if not decided.recognized:
        return [reason(Code.NOT_RECOGNIZED,
                        f"Đề cử {nomination_id} không được công nhận (quyết định {decided.decision_ref}); "
                        "không có danh hiệu để thu hồi.")]
    if decided.revoked is not None:
        return [_already_revoked(nomination_id, decided.revoked)]
    return _dated(revoked_on, decided, today, "thu hồi")


def check_correction(*, nomination_id: str, decided: Decided | None, level: RecognitionLevel | None,
                     decision_ref: str | None, corrected_on: dt.date, today: dt.date) -> list[Reason]:
    """A correction changes the level of a recognition or the decision's reference, and something."""
    if decided is None:
        return [_not_decided(nomination_id, "đính chính")]
    if decided.revoked is not None:
        return [_already_revoked(nomination_id, decided.revoked)]
    if decided.corrections >= MAX_CORRECTIONS:
        return [reason(Code.CORRECTIONS_FULL,
                        f"Quyết định về đề cử {nomination_id} đã được đính chính {MAX_CORRECTIONS} lần; "
                        "hãy ban hành quyết định thay thế.")]
    reasons = []
    if level is not None and not decided.recognized:
        reasons.append(reason(Code.NOT_RECOGNIZED,
                               f"Đề cử {nomination_id} không được công nhận; quyết định không có cấp công nhận "
                               "để đính chính."))
    elif (level is None or level == decided.level) and (decision_ref is None or decision_ref == decided.decision_ref):
        reasons.append(reason(Code.NOTHING_TO_CORRECT,
                               "Bản đính chính không thay đổi gì: cấp công nhận và số quyết định vẫn như cũ."))
    return reasons + _dated(corrected_on, decided, today, "đính chính")


def counted_adopters(adopters: Sequence[str], adopted_on: Mapping[str, dt.date], revoked_on: dt.date) -> list[str]:
    """The units that applied the model before its title was revoked: from that day on a
    replication no longer counts toward its spread. A unit whose first day is unknown (recorded
    before days were kept) counts: nothing says it came later."""
    return [unit for unit in adopters if (first := adopted_on.get(unit)) is None or first < revoked_on]


def _dated(when: dt.date, decided: Decided, today: dt.date, act: str) -> list[Reason]:
    if when < decided.decided_on:
        return [reason(Code.DATE_BEFORE_DECISION,
                        f"Ngày {act} {when:%d/%m/%Y} trước ngày quyết định {decided.decision_ref} "
                        f"({decided.decided_on:%d/%m/%Y}).")]
    if when > today:
        return [reason(Code.DATE_IN_FUTURE, f"Ngày {act} {when:%d/%m/%Y} chưa đến.")]
    return []


def _not_decided(nomination_id: str, act: str) -> Reason:
    return reason(Code.NOT_DECIDED,
                  f"Đề cử {nomination_id} chưa có quyết định của Hội đồng; không có quyết định nào để {act}.")


def _already_revoked(nomination_id: str, revoked: tuple[str, dt.date]) -> Reason:
    ref, on = revoked
    return reason(Code.ALREADY_REVOKED,
                  f"Danh hiệu của đề cử {nomination_id} đã bị thu hồi theo quyết định {ref} ngày {on:%d/%m/%Y}.")
