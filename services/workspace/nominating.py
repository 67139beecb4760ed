"""A unit's nomination form, without I/O: what it must hold before anything is published.

It checks what the nominations service checks and the workspace can know (the contract's
fields and limits, an open year, a known field, the quota left, an individual nominee on
the unit's staff, the nominee not nominated twice in the year), so a form reason never makes
the intake refuse it. The service still judges what only it knows at that moment (another
system's nomination sent in between). Each error is a Vietnamese sentence for its field.
"""

import datetime as dt
from collections.abc import Collection, Mapping
import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.events import Evidence, NominationSubmitted, Nominee
from shared.events.base import LONG_TEXT_MAX, MAX_ACHIEVEMENTS, MAX_MEMBERS, TEXT_MAX, Url
from shared.vocabulary import EvidenceKind, Field, NomineeKind

EVIDENCE_ROWS = 3  # evidence rows the form offers; a row left empty is no evidence
URL = TypeAdapter(Url)


@dataclass
class NominationForm:
    """What the form held, as typed, to show again next to its errors."""

    year: str = ""
    kind: str = ""
    name: str = ""
    staff_id: str = ""
    position: str = ""
    members: str = ""
    field: str = ""
    movement: str = ""
    title: str = ""
    summary: str = ""
    achievements: str = ""  # one per line
    evidence: list[dict[str, str]] = dataclasses.field(default_factory=list)  # `field` is a form field here
    started_on: str = ""
    disciplinary_record: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> "NominationForm":
        text = {name: form.get(name, "").strip() for name in (
            "year", "kind", "name", "staff_id", "position", "members", "field", "movement", "title", "summary",
            "achievements", "started_on")}
        evidence = [{part: form.get(f"evidence.{n}.{part}", "").strip() for part in ("kind", "title", "url")}
                    for n in range(EVIDENCE_ROWS)]
        return cls(**text, evidence=evidence, disciplinary_record=form.get("disciplinary_record") == "yes")


@dataclass(frozen=True)
class UnitFacts:
    """What the workspace knows of the unit at the moment the form is checked."""

    unit_id: str
    open_years: Collection[int]
    places_left: Mapping[int, int]  # year -> places still free in the unit's quota
    staff: Mapping[str, str]  # the unit's current staff: id -> name
    nominated: Mapping[int, Collection[str]]  # year -> individual nominees (staff ids) already nominated


def nomination_id(year: int, unit_id: str, form_id: str) -> str:
    """One id per form drawn: a form sent twice is one nomination."""
    return f"NOM-{year}-{unit_id}-{form_id.replace('-', '')[:10].upper()}"


def check_nomination(form: NominationForm, facts: UnitFacts, *, submitter: str, form_id: str,
                     today: dt.date) -> tuple[NominationSubmitted | None, dict[str, str]]:
    errors: dict[str, str] = {}
    year = int(form.year) if form.year.isdigit() else None
    if year is None or year not in facts.open_years:
        errors["year"] = "Chọn năm đề cử trong các năm chương trình đang mở."
    elif facts.places_left.get(year, 0) <= 0:
        errors["year"] = f"Đơn vị đã dùng hết chỉ tiêu đề cử năm {year}."
    if form.kind not in NomineeKind._value2member_map_:
        errors["kind"] = "Chọn đối tượng được đề cử: tập thể hoặc cá nhân."
    _text(errors, "name", form.name, "tên tập thể hoặc cá nhân được đề cử")
    members = None
    if form.kind == NomineeKind.INDIVIDUAL:
        if form.staff_id not in facts.staff:
            errors["staff_id"] = "Chọn cá nhân được đề cử trong danh sách cán bộ của đơn vị."
        elif year is not None and form.staff_id in facts.nominated.get(year, ()):
            errors["staff_id"] = f"Cán bộ này đã được đề cử trong năm {year}."
        _text(errors, "position", form.position, "chức vụ của cá nhân được đề cử")
    elif form.kind == NomineeKind.COLLECTIVE:
        if not form.members.isdigit() or not 1 <= int(form.members) <= MAX_MEMBERS:
            errors["members"] = f"Nhập số thành viên của tập thể (từ 1 đến {MAX_MEMBERS:,}).".replace(",", ".")
        else:
            members = int(form.members)
    if form.field not in Field._value2member_map_:
        errors["field"] = "Chọn lĩnh vực của mô hình."
    _text(errors, "movement", form.movement, "phong trào thi đua")
    _text(errors, "title", form.title, "tên mô hình")
    if not form.summary:
        errors["summary"] = "Nhập tóm tắt mô hình và kết quả đạt được."
    elif len(form.summary) > LONG_TEXT_MAX:
        errors["summary"] = f"Tóm tắt dài quá {LONG_TEXT_MAX} ký tự."
    achievements = [line.strip() for line in form.achievements.splitlines() if line.strip()]
    if len(achievements) > MAX_ACHIEVEMENTS:
        errors["achievements"] = f"Nhiều nhất {MAX_ACHIEVEMENTS} thành tích, mỗi dòng một thành tích."
    elif any(len(a) > TEXT_MAX for a in achievements):
        errors["achievements"] = f"Mỗi thành tích dài tối đa {TEXT_MAX} ký tự."
    evidence = _evidence(form.evidence, errors)
    started_on = None
    if form.started_on:
        try:
            started_on = dt.date.fromisoformat(form.started_on)
        except ValueError:
            errors["started_on"] = "Ngày bắt đầu triển khai không hợp lệ."
        else:
            if started_on > today:
                errors["started_on"] = "Ngày bắt đầu triển khai không được sau hôm nay."
    if errors:
        return None, errors
    assert year is not None
    nominee: dict[str, Any] = {"kind": form.kind, "name": form.name}
    if form.kind == NomineeKind.INDIVIDUAL:
        nominee.update(staff_id=form.staff_id, position=form.position)
    else:
        nominee["members"] = members
    try:
        submitted = NominationSubmitted(
            nomination_id=nomination_id(year, facts.unit_id, form_id), unit_id=facts.unit_id, year=year,
            nominee=Nominee.model_validate(nominee, strict=False), field=form.field, movement=form.movement,
            title=form.title, summary=form.summary, achievements=achievements, evidence=evidence,
            started_on=started_on, disciplinary_record=form.disciplinary_record, submitter_id=submitter)
    except ValidationError as error:  # a limit the checks above do not know: said, never sent
        return None, {"title": f"Đề cử chưa hợp lệ: {error.errors()[0]['msg']}."}
    return submitted, {}


def _text(errors: dict[str, str], name: str, value: str, what: str) -> None:
    if not value:
        errors[name] = f"Nhập {what}."
    elif len(value) > TEXT_MAX:
        errors[name] = f"{what[:1].upper()}{what[1:]} dài quá {TEXT_MAX} ký tự."


def _evidence(rows: list[dict[str, str]], errors: dict[str, str]) -> list[Evidence]:
    evidence = []
    for n, row in enumerate(rows):
        if not any(row.values()):
            continue
        name = f"evidence.{n}"
        if row["kind"] not in EvidenceKind._value2member_map_:
            errors[f"{name}.kind"] = f"Minh chứng {n + 1}: chọn loại minh chứng."
        if not row["title"] or len(row["title"]) > TEXT_MAX:
            errors[f"{name}.title"] = f"Minh chứng {n + 1}: nhập tên văn bản (tối đa {TEXT_MAX} ký tự)."
        try:
            url = URL.validate_python(row["url"])
        except ValidationError:
            errors[f"{name}.url"] = f"Minh chứng {n + 1}: nhập đường dẫn đầy đủ, bắt đầu bằng https://."
            continue
        if f"{name}.kind" not in errors and f"{name}.title" not in errors:
            evidence.append(Evidence(kind=EvidenceKind(row["kind"]), title=row["title"], url=url))
    return evidence
