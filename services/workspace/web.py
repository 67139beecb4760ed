"""The workspace's pages: signing in from a mail's link, an evaluator's assignments and score
sheet. Server-rendered, every task a plain HTML form (no script needed), in Vietnamese.

Every form carries the session's CSRF token; a form that publishes carries the id of the
event it will publish, made when the form was drawn, so a double click or a resubmitted
page publishes that one event, not two.
"""

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.workspace import domain, office_pages, signin_pages, unit_pages
from services.workspace.criteria import CriteriaSource, CriteriaUnavailable
from services.workspace.domain import SOURCE, Session, SheetForm
from services.workspace.oidc import OidcSignIn
from services.workspace.settings import WorkspaceSettings
from services.workspace.store import WorkspaceStore
from shared.envelope import Event, new_event
from shared.events import CommentPosted, ConflictDeclared, ScoreSubmitted
from shared.programme import Programme
from shared.vocabulary import (
    FIELD_NAMES_VI,
    GROUND_NAMES_VI,
    NOMINEE_KIND_NAMES_VI,
    OUTCOME_NAMES_VI,
    Field,
    NomineeKind,
    Outcome,
)

log = logging.getLogger("exemplars.workspace")

HERE = Path(__file__).parent
PUBLISH_TIMEOUT = 10.0  # seconds a form waits for the broker before saying "try again"

Publish = Callable[[Event, str], Awaitable[None]]  # (event, the person it is done for)

NOT_ON_PANEL = ("Không mở được hồ sơ", "Đồng chí không có trong Hội đồng đánh giá hồ sơ này.")
NO_CRITERIA = ("Chưa mở được phiếu chấm",
               "Chưa tải được bộ tiêu chí từ dịch vụ đánh giá. Vui lòng thử lại sau ít phút.")
NOT_SENT = ("Chưa gửi được", "Hệ thống chưa gửi được. Hãy bấm gửi lại: việc này không tạo bản gửi thứ hai.")
NO_DISCUSSION = ("Không có thảo luận", "Hồ sơ này không có cuộc thảo luận nào đang mở.")
DONE_NOTICES = {"saved": "Đã lưu nháp phiếu chấm.", "sent": "Đã gửi phiếu chấm điểm.",
                "declared": "Đã gửi khai báo xung đột lợi ích.", "commented": "Đã gửi ý kiến thảo luận."}
STATUS_NAMES = {"open": "Đang chấm", "panel_incomplete": "Chờ đủ thành viên", "discussion": "Đang thảo luận",
                "completed": "Đã chấm xong", "decided": "Đã có quyết định", "cancelled": "Đã hủy"}


def mount(api: FastAPI, settings: WorkspaceSettings, store: WorkspaceStore, criteria: CriteriaSource,
          programme: Programme, publish: Publish, oidc: OidcSignIn | None = None,
          now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(field_name=_field_name, kind_name=_kind_name, status_name=_status_name,
                                 vi_date=_vi_date, number=domain.number, outcome_name=outcome_name,
                                 field_names=FIELD_NAMES_VI, ground_names=GROUND_NAMES_VI)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    session_secret = settings.session_secret.get_secret_value().encode()  # type: ignore[union-attr]

    def session_of(request: Request) -> Session | None:
        return domain.unseal(session_secret, request.cookies.get(domain.SESSION_COOKIE), now())

    async def page(request: Request, name: str, session: Session | None, status: int = 200, **context: Any) -> Response:
        person = await store.person(session.person) if session else None
        return templates.TemplateResponse(request, name, {"session": session, "me": person, **context},
                                          status_code=status)

    async def message(request: Request, title: str, text: str, status: int, session: Session | None = None) -> Response:
        return await page(request, "message.html", session, status, title=title, text=text)

    def signed_in(response: Response, person: str) -> Response:
        session = Session.new(person, now(), settings.session_hours)
        response.set_cookie(domain.SESSION_COOKIE, domain.seal(session_secret, session),
                            max_age=int(settings.session_hours * 3600), httponly=True, secure=settings.cookie_secure, samesite="lax", path="/")
        return response

    async def form_of(request: Request, session: Session, multi: bool = False) -> dict | None:
        """The posted form (with `multi`, every value of each name, for multiple choices), or
        None when its CSRF token is not this session's."""
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            values.setdefault(name, []).append(value)
        if values.get("csrf", [""])[-1] != session.csrf:
            return None
        return values if multi else {name: found[-1] for name, found in values.items()}

    # ---- an evaluator's assignments ------------------------------------------------------------

    @api.get("/assignments", response_class=HTMLResponse)
    async def assignments(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        mine = await store.assignments_of(session.person)
        sent = await store.submitted_by(session.person)
        return await page(request, "assignments.html", session, assignments=mine,
                          sent={a["_id"]: a["_id"] in sent for a in mine})

    async def scoring_page(request: Request, session: Session, nomination_id: str, *, form: SheetForm | None = None,
                           errors: dict[str, str] | None = None, notice: str | None = None,
                           conflict_error: str | None = None, conflict_reason: str = "",
                           comment_error: str | None = None, comment_text: str = "", status: int = 200) -> Response:
        assignment = await store.assignment(nomination_id)
        if assignment is None or not domain.on_panel(assignment, session.person):
            return await message(request, *NOT_ON_PANEL, 403, session)
        try:
            criteria = await criteria_source(assignment)
        except CriteriaUnavailable:
            return await message(request, *NO_CRITERIA, 503, session)
        submissions = await store.submissions(nomination_id, session.person)
        refusals = await store.refusals([s["_id"] for s in submissions])
        # One id per form drawn: the event each would publish derives from it.
        form_ids = {name: str(uuid.uuid4()) for name in ("sheet", "conflict", "comment")}
        return await page(request, "sheet.html", session, status, assignment=assignment,
                          nomination=await store.nomination(nomination_id), criteria=criteria,
                          form=form or SheetForm.from_draft(await store.draft(nomination_id, session.person)),
                          errors=errors or {}, notice=notice, submissions=submissions, refusals=refusals,
                          form_ids=form_ids, conflict_error=conflict_error, conflict_reason=conflict_reason,
                          comment_error=comment_error, comment_text=comment_text,
                          open=domain.scoring_open(assignment), discussing=domain.discussing(assignment),
                          mine=assignment.get("sheets", {}).get(session.person),
                          others=domain.others_sheets(assignment, session.person),
                          names=await store.names(assignment.get("panel", [])),
                          units=await store.unit_names())

    async def criteria_source(assignment: dict) -> dict:
        if "criteria" not in assignment:
            raise CriteriaUnavailable("the panel is not complete yet")
        return await criteria.for_assignment(assignment)

    @api.get("/assignments/{nomination_id}", response_class=HTMLResponse)
    async def assignment_page(request: Request, nomination_id: str) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        notice = DONE_NOTICES.get(request.query_params.get("done", ""))
        return await scoring_page(request, session, nomination_id, notice=notice)

    async def panel_member_posting(request: Request, nomination_id: str) -> tuple[Session, dict, dict] | Response:
        """The session, form and assignment of a form a panel member posts, or the answer why not."""
        session = session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        form = await form_of(request, session)
        if form is None:
            return await message(request, *domain.STALE_FORM, 403, session)
        assignment = await store.assignment(nomination_id)
        if assignment is None or not domain.on_panel(assignment, session.person):
            return await message(request, *NOT_ON_PANEL, 403, session)
        if not domain.scoring_open(assignment):  # the service would refuse it: say so, send nothing
            return await message(request, "Đã hết thời gian chấm", "Việc đánh giá hồ sơ này đã kết thúc.", 409,
                                 session)
        return session, form, assignment

    @api.post("/assignments/{nomination_id}/sheet")
    async def post_sheet(request: Request, nomination_id: str) -> Response:
        posted = await panel_member_posting(request, nomination_id)
        if isinstance(posted, Response):
            return posted
        session, form, assignment = posted
        try:
            criteria_set = await criteria_source(assignment)
        except CriteriaUnavailable:
            return await message(request, *NO_CRITERIA, 503, session)
        sheet_form = SheetForm.from_form(form, criteria_set)
        sending = form.get("action") == "submit"
        sheet, errors = domain.check_sheet(sheet_form, criteria_set, complete=sending)
        if errors:
            return await scoring_page(request, session, nomination_id, form=sheet_form, errors=errors, status=422)
        await store.save_draft(nomination_id, session.person, sheet_form.as_draft(), now())
        if not sending:
            return RedirectResponse(f"/assignments/{nomination_id}?done=saved", status_code=303)
        assert sheet is not None  # no errors: check_sheet made it
        event = new_event(ScoreSubmitted(nomination_id=nomination_id, evaluator_id=session.person,
                                         scores=sheet.scores, gates=sheet.gates, comment=sheet.comment,
                                         criterion_comments=sheet.remarks),
                          key=nomination_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await publish_once(request, session, event, "score", nomination_id, _done(nomination_id, "sent"))

    @api.post("/assignments/{nomination_id}/conflict")
    async def post_conflict(request: Request, nomination_id: str) -> Response:
        posted = await panel_member_posting(request, nomination_id)
        if isinstance(posted, Response):
            return posted
        session, form, _ = posted
        reason = form.get("reason", "").strip()
        if error := domain.check_conflict_reason(reason):
            return await scoring_page(request, session, nomination_id, conflict_error=error, conflict_reason=reason,
                                      status=422)
        event = new_event(ConflictDeclared(nomination_id=nomination_id, evaluator_id=session.person, reason=reason),
                          key=nomination_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await publish_once(request, session, event, "conflict", nomination_id, _done(nomination_id, "declared"))

    @api.post("/assignments/{nomination_id}/comment")
    async def post_comment(request: Request, nomination_id: str) -> Response:
        posted = await panel_member_posting(request, nomination_id)
        if isinstance(posted, Response):
            return posted
        session, form, assignment = posted
        if not domain.discussing(assignment):  # the service would refuse it: say so, send nothing
            return await message(request, *NO_DISCUSSION, 409, session)
        text = form.get("comment", "").strip()
        if error := domain.check_discussion_comment(text):
            return await scoring_page(request, session, nomination_id, comment_error=error, comment_text=text,
                                      status=422)
        event = new_event(CommentPosted(nomination_id=nomination_id, evaluator_id=session.person, comment=text),
                          key=nomination_id, source=SOURCE, id_parts=(domain.form_id(form),))
        return await publish_once(request, session, event, "comment", nomination_id,
                                  _done(nomination_id, "commented"))

    async def publish_once(request: Request, session: Session, event: Event, kind: str, nomination_id: str,
                           then: str) -> Response:
        """Publish `event` once for this form, then show `then`."""
        earlier = await store.claim_submission(event.id, kind, nomination_id, session.person, now())
        if earlier is None or not earlier.get("published"):  # new, or an earlier press that did not get through
            try:
                await asyncio.wait_for(publish(event, session.person), PUBLISH_TIMEOUT)
            except Exception:  # noqa: BLE001 - a timeout included: said to the person, who may press again
                log.warning("publishing %s for %s failed", event.type, session.person, exc_info=True)
                return await message(request, *NOT_SENT, 503, session)
            await store.mark_published(event.id)
        return RedirectResponse(then, status_code=303)

    pages = Pages(session_of, page, message, form_of, publish_once, signed_in)
    signin_pages.mount(api, pages, settings, store, oidc, now)
    office_pages.mount(api, pages, store, programme, settings.report_dir, now)
    unit_pages.mount(api, pages, store, programme, now)


@dataclass(frozen=True)
class Pages:
    """What every group of pages shares: the session, rendering, the posted form, publishing once."""

    session_of: Callable[[Request], Session | None]
    page: Callable[..., Awaitable[Response]]
    message: Callable[..., Awaitable[Response]]
    form_of: Callable[..., Awaitable[dict | None]]
    publish_once: Callable[..., Awaitable[Response]]
    signed_in: Callable[[Response, str], Response]


def _done(nomination_id: str, what: str) -> str:
    return f"/assignments/{nomination_id}?done={what}"


def _field_name(value: str) -> str:
    return FIELD_NAMES_VI.get(Field(value), value) if value in Field._value2member_map_ else value


def _kind_name(value: str) -> str:
    return NOMINEE_KIND_NAMES_VI.get(NomineeKind(value), value) if value in NomineeKind._value2member_map_ else value


def outcome_name(value: str) -> str:
    return OUTCOME_NAMES_VI.get(Outcome(value), value) if value in Outcome._value2member_map_ else value


def _status_name(value: str) -> str:
    return STATUS_NAMES.get(value, value)


def _vi_date(value: str | dt.date | None) -> str:
    if not value:
        return ""
    day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return day.strftime("%d/%m/%Y")
