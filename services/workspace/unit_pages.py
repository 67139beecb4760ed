"""A unit's pages, for its emulation officers and leaders: the unit's nominations and their
fate, the quota left per open year, the nomination form, a withdrawal, and once the council
has decided, the feedback: the panel's per-criterion averages and its comments, without
the evaluators' names. The workspace checks the person's role and unit in its directory;
what it publishes is signed as acting for them, and the nominations service checks again
that they are the unit's staff.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.workspace import domain, follow_up, nominating
from services.workspace.domain import SOURCE, Session
from services.workspace.nominating import NominationForm, UnitFacts
from services.workspace.store import WorkspaceStore
from shared.envelope import new_event
from shared.events import NominationWithdrawn
from shared.events.base import TEXT_MAX
from shared.programme import Programme
from shared.vocabulary import EVIDENCE_KIND_NAMES_VI, FIELD_NAMES_VI, Role

if TYPE_CHECKING:
    from services.workspace.web import Pages

UNIT_ROLES = {Role.EMULATION_OFFICER.value, Role.UNIT_LEADER.value}
NOT_UNIT_STAFF = ("Không mở được trang này",
                  "Trang này dành cho cán bộ thi đua, khen thưởng và lãnh đạo đơn vị.")
HOLDS_PLACE = ("accepted",)  # a withdrawal frees the place; a refusal never took one
NOT_WITHDRAWABLE = ("Không rút được đề cử", "Đề cử này không còn rút được (đã rút, bị từ chối hoặc đã có quyết định).")
DONE_NOTICES = {"submitted": "Đã gửi đề cử. Kết quả tiếp nhận hiện ra tại đây sau ít giây.",
                "withdrawing": "Đã gửi đề nghị rút đề cử.", "reported": "Đã gửi báo cáo."}
FOLLOWED = "Chỉ báo cáo định kỳ cho điển hình (hoặc mô hình được bồi dưỡng) của chính đơn vị."


def mount(api: FastAPI, pages: "Pages", store: WorkspaceStore, programme: Programme,
          now: Callable[[], dt.datetime]) -> None:

    async def unit_member(request: Request) -> tuple[Session, dict] | Response:
        session = pages.session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        person = await store.person(session.person)
        if person is None or not UNIT_ROLES & set(person.get("roles", [])):
            return await pages.message(request, *NOT_UNIT_STAFF, 403, session)
        return session, person

    async def facts_of(unit_id: str) -> tuple[UnitFacts, list[dict]]:
        nominations = await store.unit_nominations(unit_id)
        held: dict[int, int] = {}
        nominated: dict[int, set[str]] = {}
        for nom in nominations:
            if nom.get("status") in HOLDS_PLACE:
                held[nom["year"]] = held.get(nom["year"], 0) + 1
                if staff_id := (nom.get("nominee") or {}).get("staff_id"):
                    nominated.setdefault(nom["year"], set()).add(staff_id)
        staff = {s["_id"]: s["name"] for s in await store.unit_staff(unit_id)}
        left = {year: max(programme.yearly_maximum - held.get(year, 0), 0) for year in programme.open_years}
        return UnitFacts(unit_id, programme.open_years, left, staff, nominated), nominations

    async def unit_page(request: Request, session: Session, person: dict) -> Response:
        facts, nominations = await facts_of(person["unit_id"])
        evaluations = await store.assignments_by_id([n["_id"] for n in nominations])
        sent = [s for s in await store.submissions_of(session.person) if s["kind"] in FOLLOW_UP_KINDS]
        return await pages.page(request, "unit.html", session, facts=facts, nominations=nominations,
                                evaluations=evaluations, unit=(await store.unit_names()).get(person["unit_id"]),
                                notice=DONE_NOTICES.get(request.query_params.get("done", "")),
                                maximum=programme.yearly_maximum, followed=followed(evaluations.values()),
                                reports=sent, refusals=await store.refusals([s["_id"] for s in sent]))

    async def form_page(request: Request, session: Session, person: dict, form: NominationForm | None = None,
                        errors: dict[str, str] | None = None, status: int = 200) -> Response:
        facts, _ = await facts_of(person["unit_id"])
        open_now = [y for y in sorted(facts.open_years) if facts.places_left.get(y, 0) > 0]
        form = form or NominationForm(year=str(open_now[-1]) if open_now else "")
        return await pages.page(request, "nominate.html", session, status, form=form, errors=errors or {},
                                facts=facts, fields=FIELD_NAMES_VI, evidence_kinds=EVIDENCE_KIND_NAMES_VI,
                                rows=range(nominating.EVIDENCE_ROWS), form_id=str(uuid.uuid4()),
                                today=now().date().isoformat())

    @api.get("/unit", response_class=HTMLResponse)
    async def unit_home(request: Request) -> Response:
        found = await unit_member(request)
        return found if isinstance(found, Response) else await unit_page(request, *found)

    @api.get("/unit/nominations/new", response_class=HTMLResponse)
    async def new_nomination(request: Request) -> Response:
        found = await unit_member(request)
        return found if isinstance(found, Response) else await form_page(request, *found)

    @api.post("/unit/nominations")
    async def submit_nomination(request: Request) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        session, person = found
        form = await pages.form_of(request, session)
        if form is None:
            return await pages.message(request, *domain.STALE_FORM, 403, session)
        facts, _ = await facts_of(person["unit_id"])
        typed = NominationForm.from_form(form)
        drawn = domain.form_id(form)
        submitted, errors = nominating.check_nomination(typed, facts, submitter=session.person, form_id=drawn,
                                                         today=now().date())
        if errors:
            return await form_page(request, session, person, typed, errors, 422)
        assert submitted is not None
        event = new_event(submitted, key=submitted.nomination_id, source=SOURCE, id_parts=(drawn,))
        return await pages.publish_once(request, session, event, "nomination", submitted.nomination_id,
                                        "/unit?done=submitted")

    @api.get("/unit/nominations/{nomination_id}", response_class=HTMLResponse)
    async def nomination_page(request: Request, nomination_id: str) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        session, person = found
        nomination = await store.nomination(nomination_id)
        if nomination is None or nomination.get("unit_id") != person["unit_id"]:  # the same answer either way
            return await pages.message(request, "Không mở được hồ sơ", "Đề cử này không thuộc đơn vị của đồng chí.",
                                       403, session)
        evaluation = await store.assignment(nomination_id) or {}
        return await pages.page(request, "unit_nomination.html", session, nomination=nomination,
                                evaluation=evaluation, feedback=feedback(evaluation), form_id=str(uuid.uuid4()),
                                withdrawable=withdrawable(nomination, evaluation))

    @api.post("/unit/nominations/{nomination_id}/withdraw")
    async def withdraw(request: Request, nomination_id: str) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        session, person = found
        form = await pages.form_of(request, session)
        nomination = await store.nomination(nomination_id)
        if form is None or nomination is None or nomination.get("unit_id") != person["unit_id"]:
            return await pages.message(request, "Không rút được đề cử", "Biểu mẫu đã cũ hoặc đề cử không thuộc "
                                       "đơn vị của đồng chí.", 403, session)
        if not withdrawable(nomination, await store.assignment(nomination_id) or {}):
            return await pages.message(request, *NOT_WITHDRAWABLE, 409, session)
        reason = form.get("reason", "").strip()[:TEXT_MAX] or None
        data = NominationWithdrawn(nomination_id=nomination_id, unit_id=person["unit_id"], requested_by=session.person,
                                   reason=reason)
        event = new_event(data, key=nomination_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await pages.publish_once(request, session, event, "withdrawal", nomination_id,
                                        "/unit?done=withdrawing")


    # ---- follow-up -----------------------------------------------------------------------------

    async def review_page(request: Request, session: Session, evaluation: dict, form: dict | None = None,
                          errors: dict[str, str] | None = None, status: int = 200) -> Response:
        units = {u: n for u, n in (await store.unit_names()).items() if u != evaluation["unit_id"]}
        return await pages.page(request, "review.html", session, status, evaluation=evaluation, units=units,
                                form=form or {}, errors=errors or {}, form_id=str(uuid.uuid4()))

    async def own_followed(request: Request, session: Session, person: dict, nomination_id: str) -> dict | Response:
        evaluation = await store.assignment(nomination_id)
        if evaluation is None or evaluation.get("unit_id") != person["unit_id"] or not followed([evaluation]):
            return await pages.message(request, "Không mở được báo cáo", FOLLOWED, 403, session)
        return evaluation

    @api.get("/unit/exemplars/{nomination_id}/review", response_class=HTMLResponse)
    async def review_form(request: Request, nomination_id: str) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        evaluation = await own_followed(request, *found, nomination_id)
        return evaluation if isinstance(evaluation, Response) else await review_page(request, found[0], evaluation)

    @api.post("/unit/exemplars/{nomination_id}/review")
    async def send_review(request: Request, nomination_id: str) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        session, person = found
        evaluation = await own_followed(request, session, person, nomination_id)
        if isinstance(evaluation, Response):
            return evaluation
        body = await pages.form_of(request, session, multi=True)
        if body is None:
            return await pages.message(request, *domain.STALE_FORM, 403, session)
        form = {k: v[-1] for k, v in body.items()}
        review, errors = follow_up.check_review(form, body.get("new_adopting_units", []), exemplar=evaluation,
                                                units=await store.unit_names(), reporter=session.person)
        if errors:
            return await review_page(request, session, evaluation, form, errors, 422)
        event = new_event(review, key=review.exemplar_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await pages.publish_once(request, session, event, "review", nomination_id, "/unit?done=reported")

    async def follow_up_page(request: Request, session: Session, person: dict, kind: str = "", form: dict | None = None,
                             errors: dict[str, str] | None = None, status: int = 200) -> Response:
        exemplars = [e for e in await store.recognised() if e["unit_id"] != person["unit_id"]]
        return await pages.page(request, "follow_up.html", session, status, exemplars=exemplars, kind=kind,
                                form=form or {}, errors=errors or {}, units=await store.unit_names(),
                                form_ids={k: str(uuid.uuid4()) for k in ("replication", "visit")},
                                today=now().date().isoformat())

    @api.get("/unit/follow-up", response_class=HTMLResponse)
    async def follow_up_forms(request: Request) -> Response:
        found = await unit_member(request)
        return found if isinstance(found, Response) else await follow_up_page(request, *found)

    @api.post("/unit/follow-up/{kind}")
    async def send_follow_up(request: Request, kind: str) -> Response:
        found = await unit_member(request)
        if isinstance(found, Response):
            return found
        session, person = found
        form = await pages.form_of(request, session)
        if form is None or kind not in ("replication", "visit"):
            return await pages.message(request, *domain.STALE_FORM, 403, session)
        exemplars = {domain.exemplar_id(e["_id"]): e for e in await store.recognised()}
        today = now().date()
        if kind == "replication":
            data, errors = follow_up.check_replication(form, exemplars=exemplars, own_unit=person["unit_id"],
                                                       reporter=session.person, today=today)
        else:
            data, errors = follow_up.check_visit(form, exemplars=exemplars, own_unit=person["unit_id"], today=today)
        if errors:
            return await follow_up_page(request, session, person, kind, form, errors, 422)
        assert data is not None
        event = new_event(data, key=data.exemplar_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await pages.publish_once(request, session, event, kind, data.exemplar_id, "/unit?done=reported")


FOLLOW_UP_KINDS = ("review", "replication", "visit")


def followed(evaluations) -> list[dict]:
    """The unit's exemplars and fostered models: what its periodic reviews are about."""
    return [e for e in evaluations if e.get("status") == "decided"
            and ((e.get("decision") or {}).get("recognized") or (e.get("decision") or {}).get("fostering"))]


def withdrawable(nomination: dict, evaluation: dict) -> bool:
    return nomination.get("status") == "accepted" and evaluation.get("status") not in ("decided", "cancelled")


def feedback(evaluation: dict) -> dict | None:
    """What the unit learns once the council has decided: the averages per criterion and what
    the panel wrote, in no particular member's name (sheets by panel order, then discussion)."""
    if evaluation.get("status") != "decided" or not evaluation.get("result"):
        return None
    sheets = [evaluation["sheets"][m] for m in evaluation.get("panel", []) if m in evaluation.get("sheets", {})]
    comments = [sheet["comment"] for sheet in sheets if sheet.get("comment")]
    remarks: dict[str, list[str]] = {}
    for sheet in sheets:
        for criterion_id, text in (sheet.get("criterion_comments") or {}).items():
            remarks.setdefault(criterion_id, []).append(text)
    discussion = [c["comment"] for c in (evaluation.get("discussion") or {}).get("comments", [])]
    return {"result": evaluation["result"], "decision": evaluation.get("decision") or {}, "comments": comments,
            "remarks": remarks, "discussion": discussion}
