"""The evaluations rules: panels, scores, outcomes, reminders. No I/O.

The council's decisions, revocations and corrections are in `council_rules`; the follow-up
of exemplars after the council in `exemplar_rules`.

Dates come in as arguments (the triggering event's date, or the scheduler's clock), so
replaying the log decides exactly what it decided the first time.
"""

import datetime as dt
import hashlib
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.evaluations.criteria import CriteriaSet, GateCheck
from shared.events import CriterionResult, Reason
from shared.vocabulary import EvidenceKind, Field, Outcome, Role

EXEMPLAR_PREFIX = "EX-"


class Status(StrEnum):
    PANEL_INCOMPLETE = "panel_incomplete"  # waiting for enough eligible evaluators
    OPEN = "open"
    DISCUSSION = "discussion"  # the whole panel scored, its totals diverge: members discuss, may amend
    COMPLETED = "completed"  # recommendation made, waiting for the council
    DECIDED = "decided"
    CANCELLED = "cancelled"


SCORING = (Status.PANEL_INCOMPLETE, Status.OPEN, Status.DISCUSSION)  # scores, recusals and reminders apply
CANCELLABLE = (*SCORING, Status.COMPLETED)


class ExemplarStatus(StrEnum):
    RECOGNIZED = "recognized"
    FOSTERING = "fostering"  # tiếp tục bồi dưỡng
    REVOKED = "revoked"  # the council took the title back: its history stays readable


class Code(StrEnum):
    UNKNOWN_NOMINATION = "UNKNOWN_NOMINATION"
    EVALUATION_CANCELLED = "EVALUATION_CANCELLED"
    EVALUATION_CLOSED = "EVALUATION_CLOSED"
    EVALUATION_NOT_COMPLETED = "EVALUATION_NOT_COMPLETED"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    NOT_ON_PANEL = "NOT_ON_PANEL"
    EVALUATOR_RECUSED = "EVALUATOR_RECUSED"
    MISSING_CRITERIA = "MISSING_CRITERIA"
    UNKNOWN_CRITERIA = "UNKNOWN_CRITERIA"
    SCORE_OUT_OF_RANGE = "SCORE_OUT_OF_RANGE"
    UNKNOWN_GATE = "UNKNOWN_GATE"
    LEVEL_REQUIRED = "LEVEL_REQUIRED"
    GATE_FAILED = "GATE_FAILED"
    UNKNOWN_EXEMPLAR = "UNKNOWN_EXEMPLAR"
    EXEMPLAR_NOT_RECOGNIZED = "EXEMPLAR_NOT_RECOGNIZED"
    INVALID_PERIOD = "INVALID_PERIOD"
    PERIOD_BEFORE_NOMINATION = "PERIOD_BEFORE_NOMINATION"
    OWN_UNIT = "OWN_UNIT"
    UNKNOWN_UNIT = "UNKNOWN_UNIT"
    UNIT_NOT_ACTIVE = "UNIT_NOT_ACTIVE"
    DATE_IN_FUTURE = "DATE_IN_FUTURE"
    NOT_IN_DISCUSSION = "NOT_IN_DISCUSSION"
    DISCUSSION_FULL = "DISCUSSION_FULL"
    NOT_DECIDED = "NOT_DECIDED"
    NOT_RECOGNIZED = "NOT_RECOGNIZED"
    ALREADY_REVOKED = "ALREADY_REVOKED"
    EXEMPLAR_REVOKED = "EXEMPLAR_REVOKED"
    DATE_BEFORE_DECISION = "DATE_BEFORE_DECISION"
    NOTHING_TO_CORRECT = "NOTHING_TO_CORRECT"
    CORRECTIONS_FULL = "CORRECTIONS_FULL"


def reason(code: Code, message: str) -> Reason:
    return Reason(code=code.value, message=message)


def exemplar_id(nomination_id: str) -> str:
    """One id for the exemplar and for a fostering record: both grow from the same nomination."""
    return EXEMPLAR_PREFIX + nomination_id


def nomination_of(exemplar: str) -> str | None:
    return exemplar[len(EXEMPLAR_PREFIX):] if exemplar.startswith(EXEMPLAR_PREFIX) else None


# ---- panels --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A staff member as the directory knows them, with their current evaluation load."""

    staff_id: str
    unit_id: str
    roles: frozenset[Role] = frozenset({Role.EVALUATOR})
    fields: frozenset[Field] = frozenset()
    open_assignments: int = 0
    removed: bool = False


def units_to_exclude(unit_id: str, parents: Mapping[str, str | None]) -> frozenset[str]:
    """The nominee's unit and every unit below it: evaluators there judge their own."""
    excluded = {unit_id}
    changed = True
    while changed:
        below = {child for child, parent in parents.items() if parent in excluded} - excluded
        excluded |= below
        changed = bool(below)
    return frozenset(excluded)


def select_panel(nomination_id: str, nomination_field: Field, candidates: Iterable[Candidate], *, size: int,
                 excluded_units: Collection[str], excluded_staff: Collection[str] = (),
                 panel_units: Collection[str] = ()) -> list[str]:
    """Up to `size` evaluators, best first.

    Only evaluators, never from `excluded_units` (the nominee's unit and below) nor in
    `excluded_staff` (the nominee, recused or current members). Order: evaluators of the
    nomination's field first, then the least loaded, then a per-nomination hash so equal
    candidates do not always lose to the same colleague. Units not yet on the panel
    (`panel_units`) are preferred so one unit's view does not dominate, as long as enough
    candidates remain.
    """
    pool = sorted(
        (c for c in candidates
         if Role.EVALUATOR in c.roles and not c.removed
         and c.unit_id not in excluded_units and c.staff_id not in excluded_staff),
        key=lambda c: (nomination_field not in c.fields, c.open_assignments, _tiebreak(nomination_id, c.staff_id)),
    )
    chosen: list[Candidate] = []
    units = set(panel_units)
    for candidate in pool:  # first pass: one evaluator per unit
        if len(chosen) < size and candidate.unit_id not in units:
            chosen.append(candidate)
            units.add(candidate.unit_id)
    for candidate in pool:  # then fill from units already represented
        if len(chosen) < size and candidate not in chosen:
            chosen.append(candidate)
    chosen.sort(key=pool.index)
    return [c.staff_id for c in chosen]


def _tiebreak(nomination_id: str, staff_id: str) -> str:
    return hashlib.sha256(f"{nomination_id}|{staff_id}".encode()).hexdigest() + staff_id


NO_LONGER_ELIGIBLE = ("Cán bộ không còn đủ điều kiện tham gia hội đồng đánh giá "
                      "(thôi công tác, chuyển đơn vị hoặc không còn vai trò đánh giá).")
WITHDRAWN = "Đơn vị đã rút đề cử."


def still_eligible(member: Candidate | None, excluded_units: Collection[str]) -> bool:
    """A panel member the directory has since removed, moved or stripped of the role must be replaced."""
    return (member is not None and not member.removed and Role.EVALUATOR in member.roles
            and member.unit_id not in excluded_units)


def scoring_deadline(today: dt.date, scoring_days: int) -> dt.date:
    return today + dt.timedelta(days=scoring_days)


def deadline_after_replacement(current: dt.date, today: dt.date, minimum_days: int) -> dt.date:
    """A newcomer gets at least `minimum_days` to score; the deadline never moves earlier."""
    return max(current, today + dt.timedelta(days=minimum_days))


def check_conflict(*, nomination_id: str, status: Status | None, panel: Collection[str],
                   recused: Collection[str], evaluator_id: str) -> list[Reason]:
    if problem := _status_problem(nomination_id, status):
        return [problem]
    return _membership_problems(nomination_id, panel, recused, evaluator_id)


# ---- scores --------------------------------------------------------------------------------


def check_score(*, nomination_id: str, status: Status | None, panel: Collection[str], recused: Collection[str],
                criteria: CriteriaSet | None, evaluator_id: str, scores: Mapping[str, float],
                gates: Mapping[str, bool], remarks: Collection[str] = ()) -> list[Reason]:
    """Every reason to refuse a score sheet; empty when it is accepted (a first sheet or an amendment)."""
    if problem := _status_problem(nomination_id, status):
        return [problem]
    if problems := _membership_problems(nomination_id, panel, recused, evaluator_id):
        return problems
    assert criteria is not None  # an evaluation in a scoring state always has its set
    reasons: list[Reason] = []
    expected = {c.id for c in criteria.criteria}
    if missing := [c.name for c in criteria.criteria if c.id not in scores]:
        reasons.append(reason(Code.MISSING_CRITERIA, f"Thiếu điểm của các tiêu chí: {', '.join(missing)}."))
    if unknown := sorted((set(scores) | set(remarks)) - expected):
        reasons.append(reason(Code.UNKNOWN_CRITERIA,
                               f"Bộ tiêu chí {criteria.set_id} (phiên bản {criteria.version}) không có tiêu chí: "
                               f"{', '.join(unknown)}."))
    for criterion in criteria.criteria:
        score = scores.get(criterion.id)
        if score is not None and not (math.isfinite(score) and 0 <= score <= criterion.maximum):
            reasons.append(reason(Code.SCORE_OUT_OF_RANGE,
                                   f"Điểm tiêu chí “{criterion.name}” phải từ 0 đến {criterion.maximum}; "
                                   f"đã nhận {score:g}."))
    if unknown_gates := sorted(set(gates) - {g.id for g in criteria.gates}):
        reasons.append(reason(Code.UNKNOWN_GATE,
                               f"Bộ tiêu chí không có điều kiện bắt buộc: {', '.join(unknown_gates)}."))
    return reasons


def _status_problem(nomination_id: str, status: Status | None) -> Reason | None:
    if status is None:
        return reason(Code.UNKNOWN_NOMINATION, f"Không có đợt đánh giá nào cho đề cử {nomination_id}.")
    if status is Status.CANCELLED:
        return reason(Code.EVALUATION_CANCELLED, f"Việc đánh giá đề cử {nomination_id} đã bị hủy.")
    if status not in SCORING:
        return reason(Code.EVALUATION_CLOSED,
                       f"Việc chấm điểm đề cử {nomination_id} đã kết thúc; không thể thay đổi.")
    return None


def _membership_problems(nomination_id: str, panel: Collection[str], recused: Collection[str],
                         evaluator_id: str) -> list[Reason]:
    if evaluator_id in recused:
        return [reason(Code.EVALUATOR_RECUSED,
                        f"Cán bộ {evaluator_id} đã khai báo xung đột lợi ích, không còn tham gia đánh giá "
                        f"đề cử {nomination_id}.")]
    if evaluator_id not in panel:
        return [reason(Code.NOT_ON_PANEL,
                        f"Cán bộ {evaluator_id} không phải thành viên hội đồng đánh giá đề cử {nomination_id}.")]
    return []


# ---- completion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Pinned into each evaluation when it starts, like its criteria set."""

    recognize_from: float = 70
    foster_from: float = 50
    divergence_spread: float = 25
    # 0: a divergent panel completes at once, flagged (evaluations opened before discussions existed).
    discussion_days: int = 0


@dataclass(frozen=True)
class NominationFacts:
    """What the nomination file itself says about the gates."""

    evidence: frozenset[EvidenceKind] = frozenset()
    disciplinary_record: bool = False
    started_on: dt.date | None = None
    as_of: dt.date = dt.date(2000, 1, 1)  # the day the nomination was accepted


@dataclass(frozen=True)
class Completion:
    total: float
    breakdown: list[CriterionResult]
    gates: dict[str, bool]
    outcome: Outcome
    evaluator_totals: dict[str, float]
    spread: float
    divergent: bool
    below_minimum: list[str] = field(default_factory=list)  # mandatory criteria under their minimum


def panel_complete(panel: Collection[str], required: int, scored: Collection[str]) -> bool:
    """Everyone on a full panel has scored."""
    return len(panel) >= required and all(member in scored for member in panel)


def complete(criteria: CriteriaSet, thresholds: Thresholds, scores: Mapping[str, Mapping[str, float]],
             findings: Mapping[str, Mapping[str, bool]], facts: NominationFacts) -> Completion:
    """The panel's recommendation from every member's sheet (`scores` by evaluator)."""
    if not scores:
        raise ValueError("no score sheets to complete an evaluation from")
    breakdown, below = [], []
    for criterion in criteria.criteria:
        average = sum(sheet[criterion.id] for sheet in scores.values()) / len(scores)
        breakdown.append(CriterionResult(
            criterion_id=criterion.id, name=criterion.name, weight=criterion.weight, maximum=criterion.maximum,
            average=round(average, 2), weighted=round(average / criterion.maximum * criterion.weight, 2)))
        if criterion.mandatory_minimum is not None and average < criterion.mandatory_minimum:
            below.append(criterion.id)
    exact = {evaluator: weighted_total(criteria, sheet) for evaluator, sheet in sorted(scores.items())}
    # The band is chosen on the rounded total, the one published: 69.996 shows as 70.0 and
    # must not read "keep fostering".
    total = round(sum(exact.values()) / len(exact), 2)
    spread = round(max(exact.values()) - min(exact.values()), 2)
    totals = {evaluator: round(value, 2) for evaluator, value in exact.items()}
    gates = evaluate_gates(criteria, facts, findings)
    return Completion(total=total, breakdown=breakdown, gates=gates,
                      outcome=outcome_for(total, thresholds, gates_passed=all(gates.values()), below_minimum=below),
                      evaluator_totals=totals, spread=spread, divergent=spread > thresholds.divergence_spread,
                      below_minimum=below)


def weighted_total(criteria: CriteriaSet, sheet: Mapping[str, float]) -> float:
    """One sheet's total out of 100 (unrounded: the panel's total averages these)."""
    return sum(sheet[c.id] / c.maximum * c.weight for c in criteria.criteria)


def outcome_for(total: float, thresholds: Thresholds, *, gates_passed: bool, below_minimum: Sequence[str] = ()) -> Outcome:
    """Gates first (no score offsets them), then the bands; a mandatory criterion under its
    minimum keeps a high total from being recommended for recognition."""
    if not gates_passed or total < thresholds.foster_from:
        return Outcome.NOT_RECOGNIZED
    if total >= thresholds.recognize_from and not below_minimum:
        return Outcome.RECOGNIZE
    return Outcome.FOSTER


def evaluate_gates(criteria: CriteriaSet, facts: NominationFacts, findings: Mapping[str, Mapping[str, bool]]) -> dict[str, bool]:
    """A gate passes when the file does not contradict it, nobody on the panel found it unmet,
    and something confirms it (the file, or at least one member's finding)."""
    result = {}
    for gate in criteria.gates:
        from_file = _check_file(gate.check, facts)
        found = [sheet[gate.id] for sheet in findings.values() if gate.id in sheet]
        if from_file is False or False in found:
            result[gate.id] = False
        else:
            result[gate.id] = from_file is True or bool(found)
    return result


def _check_file(check: GateCheck, facts: NominationFacts) -> bool | None:
    """True / False when the nomination file decides the gate, None when only the panel can."""
    if check.kind == "evidence":
        return set(check.required) <= facts.evidence
    if check.kind == "no_discipline":
        return not facts.disciplinary_record
    if check.kind == "months_in_operation":
        if facts.started_on is None:
            return None
        return months_between(facts.started_on, facts.as_of) >= (check.minimum or 0)
    return None


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from `start` to `end` (negative when end is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


# ---- discussion ----------------------------------------------------------------------------


class Step(StrEnum):
    """What a sheet leads to once it is recorded."""

    WAIT = "wait"  # for the rest of the panel, or for the discussion to agree or run out
    DISCUSS = "discuss"
    COMPLETE = "complete"


def after_sheet(status: Status, *, panel_complete: bool, divergent: bool, discussion_days: int) -> Step:
    """A complete panel that diverges discusses first (when the programme gives it days to); a
    discussion ends as soon as amended sheets bring the totals within the threshold."""
    if not panel_complete or status not in (Status.OPEN, Status.DISCUSSION):
        return Step.WAIT
    if not divergent:
        return Step.COMPLETE
    if status is Status.OPEN:
        return Step.DISCUSS if discussion_days > 0 else Step.COMPLETE
    return Step.WAIT


def discussion_closes(today: dt.date, discussion_days: int) -> dt.date:
    """The discussion's last day: amendments and comments are taken until it ends."""
    return today + dt.timedelta(days=discussion_days)


def check_comment(*, nomination_id: str, status: Status | None, panel: Collection[str], recused: Collection[str],
                  evaluator_id: str, comments: int, limit: int) -> list[Reason]:
    """Only a current panel member, only while their panel discusses."""
    if problem := _status_problem(nomination_id, status):
        return [problem]
    if problems := _membership_problems(nomination_id, panel, recused, evaluator_id):
        return problems
    if status is not Status.DISCUSSION:
        return [reason(Code.NOT_IN_DISCUSSION,
                        f"Hội đồng đánh giá đề cử {nomination_id} không có cuộc thảo luận nào đang mở: chỉ thảo luận "
                        "khi tất cả thành viên đã chấm và tổng điểm chênh lệch quá ngưỡng.")]
    if comments >= limit:
        return [reason(Code.DISCUSSION_FULL,
                        f"Cuộc thảo luận về đề cử {nomination_id} đã đủ {limit} ý kiến; hãy sửa phiếu chấm "
                        "hoặc chờ hết thời hạn thảo luận.")]
    return []


# ---- reminders -----------------------------------------------------------------------------

OVERDUE = "overdue"


@dataclass(frozen=True)
class Notice:
    evaluator_id: str
    key: str  # "T-7", "T-2" or "overdue": sent once per evaluator and evaluation
    overdue: bool
    days: int  # days left, or days overdue


def reminder_key(days_before: int) -> str:
    return f"T-{days_before}"


def due_notices(*, deadline: dt.date, today: dt.date, pending: Iterable[str],
                sent: Mapping[str, Collection[str]], reminder_days: Sequence[int]) -> list[Notice]:
    """What each evaluator who has not scored should be told today.

    Only the most recent step is considered: after a pause of the scheduler an evaluator
    gets one T-2 reminder, not a T-7 and a T-2 on the same morning, and a step skipped
    that way is never sent later.
    """
    notices = []
    for evaluator in sorted(pending):
        done = sent.get(evaluator, ())
        if today > deadline:
            if OVERDUE not in done:
                notices.append(Notice(evaluator, OVERDUE, True, (today - deadline).days))
            continue
        passed = sorted(d for d in reminder_days if today >= deadline - dt.timedelta(days=d))
        if passed and reminder_key(passed[0]) not in done:
            notices.append(Notice(evaluator, reminder_key(passed[0]), False, (deadline - today).days))
    return notices
