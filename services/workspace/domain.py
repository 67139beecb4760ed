"""The workspace's rules, without I/O: who may open a task, what a score sheet form must hold
before anything is published, and the signed session a browser keeps.

A form is checked against what the evaluations service checks (every criterion of the set
scored, within 0..maximum; gates among the set's; a comment within its length), so what the
workspace publishes is never refused for a form reason. Each error is a Vietnamese sentence
for the field it belongs to.
"""

import datetime as dt
import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import links
from shared.events.base import LONG_TEXT_MAX, TEXT_MAX
from shared.events.evaluations import CRITERION_COMMENT_MAX
from shared.links import LinkRefused

SOURCE = "urn:exemplars:workspace"  # what the workspace publishes, signed as acting for the person signed in
OPEN = ("open", "panel_incomplete", "discussion")  # the evaluation statuses a sheet may still be sent in
DISCUSSING = "discussion"

GATE_PASSED, GATE_FAILED, GATE_NONE = "passed", "failed", ""


# ---- ids ------------------------------------------------------------------------------------------

EXEMPLAR_PREFIX = "EX-"  # an exemplar's id is its nomination's, prefixed (the evaluations service's rule)


def exemplar_id(nomination_id: str) -> str:
    return EXEMPLAR_PREFIX + nomination_id


def nomination_of(exemplar: str) -> str:
    return exemplar.removeprefix(EXEMPLAR_PREFIX)


# ---- who may open what ------------------------------------------------------------------------


STALE_FORM = ("Phiên làm việc đã thay đổi", "Biểu mẫu đã cũ. Hãy mở lại trang và gửi lại.")


def landing(person: Mapping[str, Any] | None) -> str:
    """Where a person signed in without a task begins: the pages of their role."""
    roles = set((person or {}).get("roles", []))
    if "ministry_office" in roles:
        return "/ministry"
    if roles & {"emulation_officer", "unit_leader"} and "evaluator" not in roles:
        return "/unit"
    return "/assignments"


def on_panel(assignment: Mapping[str, Any], person: str) -> bool:
    return person in assignment.get("panel", [])


def scoring_open(assignment: Mapping[str, Any]) -> bool:
    return assignment.get("status") in OPEN


def discussing(assignment: Mapping[str, Any]) -> bool:
    return assignment.get("status") == DISCUSSING


def others_sheets(assignment: Mapping[str, Any], person: str) -> list[tuple[str, dict[str, Any]]] | None:
    """The other members' accepted sheets, by member, once `person`'s own is in (evaluators
    judge on their own first); None before that."""
    sheets = assignment.get("sheets", {})
    if person not in sheets:
        return None
    return [(member, sheets[member]) for member in assignment.get("panel", []) if member != person and member in sheets]


# ---- the score sheet --------------------------------------------------------------------------


@dataclass
class SheetForm:
    """What the form held: kept as typed, to show again next to its errors."""

    scores: dict[str, str] = field(default_factory=dict)
    gates: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    remarks: dict[str, str] = field(default_factory=dict)  # criterion id -> the comment on it

    @classmethod
    def from_form(cls, form: Mapping[str, str], criteria: Mapping[str, Any]) -> "SheetForm":
        return cls(scores={c["id"]: form.get(f"score.{c['id']}", "").strip() for c in criteria["criteria"]},
                   gates={g["id"]: form.get(f"gate.{g['id']}", GATE_NONE) for g in criteria.get("gates", [])},
                   comment=form.get("comment", "").strip(),
                   remarks={c["id"]: form.get(f"remark.{c['id']}", "").strip() for c in criteria["criteria"]})

    @classmethod
    def from_draft(cls, draft: Mapping[str, Any] | None) -> "SheetForm":
        if not draft:
            return cls()
        return cls(scores=dict(draft.get("scores", {})), gates=dict(draft.get("gates", {})),
                   comment=draft.get("comment", ""), remarks=dict(draft.get("remarks", {})))

    def as_draft(self) -> dict[str, Any]:
        return {"scores": self.scores, "gates": self.gates, "comment": self.comment, "remarks": self.remarks}


@dataclass(frozen=True)
class Sheet:
    scores: dict[str, float]
    gates: dict[str, bool]
    comment: str | None
    remarks: dict[str, str] = field(default_factory=dict)


def parse_score(text: str) -> float | None:
    """"7,5" or "7.5" -> 7.5 (Vietnamese write a decimal comma); None when it is no number."""
    try:
        value = float(text.replace(",", ".", 1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_sheet(form: SheetForm, criteria: Mapping[str, Any], *, complete: bool) -> tuple[Sheet | None, dict[str, str]]:
    """The sheet to send, or the errors by form field. A draft (`complete` False) may leave
    scores empty; a sheet to send scores every criterion."""
    errors: dict[str, str] = {}
    scores: dict[str, float] = {}
    for criterion in criteria["criteria"]:
        name, maximum, text = f"score.{criterion['id']}", criterion["maximum"], form.scores.get(criterion["id"], "")
        if not text:
            if complete:
                errors[name] = (f"Chưa chấm tiêu chí “{criterion['name']}”: "
                                f"nhập điểm từ 0 đến {number(maximum)}.")
            continue
        value = parse_score(text)
        if value is None:
            errors[name] = (f"Điểm tiêu chí “{criterion['name']}”: “{text}” không phải là số, "
                            f"nhập từ 0 đến {number(maximum)}.")
        elif not 0 <= value <= maximum:
            errors[name] = f"Điểm tiêu chí “{criterion['name']}” phải từ 0 đến {number(maximum)}."
        else:
            scores[criterion["id"]] = value
    gates: dict[str, bool] = {}
    known = {g["id"] for g in criteria.get("gates", [])}
    for gate_id, choice in form.gates.items():
        if gate_id not in known or choice not in (GATE_PASSED, GATE_FAILED, GATE_NONE):
            errors[f"gate.{gate_id}"] = "Lựa chọn không hợp lệ."
        elif choice:
            gates[gate_id] = choice == GATE_PASSED
    if len(form.comment) > LONG_TEXT_MAX:
        errors["comment"] = f"Nhận xét dài quá {LONG_TEXT_MAX} ký tự."
    names = {c["id"]: c["name"] for c in criteria["criteria"]}
    for criterion_id, remark in form.remarks.items():
        if criterion_id not in names:
            errors[f"remark.{criterion_id}"] = "Bộ tiêu chí không có tiêu chí này."
        elif len(remark) > CRITERION_COMMENT_MAX:
            errors[f"remark.{criterion_id}"] = (f"Nhận xét về tiêu chí “{names[criterion_id]}” dài quá "
                                                f"{CRITERION_COMMENT_MAX} ký tự.")
    if errors:
        return None, errors
    return Sheet(scores, gates, form.comment or None, {k: v for k, v in form.remarks.items() if v}), {}


def check_conflict_reason(reason: str) -> str | None:
    """The error for a conflict-of-interest reason, or None."""
    if not reason.strip():
        return ("Nêu lý do xung đột lợi ích (ví dụ: có quan hệ công tác hoặc gia đình với tập thể, "
                "cá nhân được đề cử).")
    if len(reason) > TEXT_MAX:
        return f"Lý do dài quá {TEXT_MAX} ký tự."
    return None


def check_discussion_comment(text: str) -> str | None:
    """The error for a contribution to a discussion, or None."""
    if not text.strip():
        return "Nhập ý kiến thảo luận trước khi gửi."
    if len(text) > LONG_TEXT_MAX:
        return f"Ý kiến dài quá {LONG_TEXT_MAX} ký tự."
    return None


def form_id(form: Mapping[str, str]) -> str:
    """The id the form was drawn with (a UUID; the event's id derives from it), or a new one
    for a form that lost it."""
    try:
        return str(uuid.UUID(form.get("form_id", "")))
    except ValueError:
        return str(uuid.uuid4())


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", ",")


# ---- the session ------------------------------------------------------------------------------

SESSION_PURPOSE = b"exemplars workspace session v1\n"
SESSION_COOKIE = "exemplars_session"


@dataclass(frozen=True)
class Session:
    person: str
    expires: dt.datetime
    csrf: str  # the token every form of this session carries

    @classmethod
    def new(cls, person: str, now: dt.datetime, hours: float) -> "Session":
        return cls(person, now + dt.timedelta(hours=hours), secrets.token_urlsafe(24))


def seal(secret: bytes, session: Session) -> str:
    return links.seal(secret, SESSION_PURPOSE, {"p": session.person, "e": int(session.expires.timestamp()),
                                                "c": session.csrf})


def unseal(secret: bytes, cookie: str | None, now: dt.datetime) -> Session | None:
    """The session a cookie holds, or None (absent, altered or expired)."""
    if not cookie:
        return None
    try:
        fields = links.unseal(secret, SESSION_PURPOSE, cookie)
        session = Session(str(fields["p"]), dt.datetime.fromtimestamp(int(fields["e"]), dt.UTC), str(fields["c"]))
    except (LinkRefused, ValueError, KeyError, TypeError, OverflowError):
        return None
    return session if session.expires > now else None
