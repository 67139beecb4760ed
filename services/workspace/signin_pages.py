"""Signing in to the workspace: by the single-use link a mail carries, through the ministry's
identity provider (OIDC, `oidc.py`), or in the local run by the development page; and out.

A sign-in form is good only with the pre-session cookie the page that drew it set (SameSite,
HttpOnly): another site cannot sign a browser in as someone else (login CSRF), whether with
a link of its own or on the development page.
"""

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.workspace import domain
from services.workspace import oidc as oidc_flow
from services.workspace.domain import Session
from services.workspace.oidc import OidcSignIn, SignInRefused
from services.workspace.settings import WorkspaceSettings
from services.workspace.store import WorkspaceStore
from shared import links
from shared.links import LinkRefused

if TYPE_CHECKING:
    from services.workspace.web import Pages

log = logging.getLogger("exemplars.workspace")

PRESESSION = "exemplars_presession"  # binds a sign-in form to the browser it was drawn in
PRESESSION_MINUTES = 30
LINK_REFUSALS = {
    "malformed": "Liên kết không hợp lệ. Hãy mở lại liên kết trong thư, đủ cả đường dẫn.",
    "forged": "Liên kết không hợp lệ. Hãy mở lại liên kết trong thư, đủ cả đường dẫn.",
    "expired": "Liên kết đã hết hạn. Hãy dùng liên kết trong thư nhắc việc mới nhất.",
    "used": "Liên kết này đã được dùng để đăng nhập. Mỗi liên kết chỉ dùng được một lần.",
    "other_person": "Liên kết này dành cho người khác. Đăng xuất trước nếu đây là máy dùng chung.",
    "unknown_person": "Không tìm thấy người được giao việc trong danh bạ hiện hành.",
}
OIDC_REFUSALS = {
    "no_pending": "Phiên đăng nhập không còn. Hãy bấm lại nút đăng nhập trên trang này.",
    "too_slow": "Đăng nhập quá thời gian cho phép. Hãy bấm lại nút đăng nhập.",
    "state": "Phản hồi đăng nhập không khớp với phiên của trình duyệt này. Hãy đăng nhập lại từ đầu.",
    "code": "Hệ thống định danh của Bộ không xác nhận lần đăng nhập này. Hãy đăng nhập lại.",
    "token": "Không kiểm chứng được thông tin đăng nhập do hệ thống định danh gửi về.",
    "no_person": "Tài khoản chưa được gắn với mã cán bộ trong danh bạ. Liên hệ bộ phận quản trị.",
    "provider_down": "Chưa kết nối được hệ thống định danh của Bộ. Vui lòng thử lại sau ít phút.",
}
NOT_FROM_HERE = ("Không đăng nhập được", "Biểu mẫu đăng nhập không phải do trang này mở ra trên trình duyệt này. "
                 "Hãy mở lại liên kết trong thư.")


def mount(api: FastAPI, pages: "Pages", settings: WorkspaceSettings, store: WorkspaceStore, oidc: OidcSignIn | None,
          now: Callable[[], dt.datetime]) -> None:
    link_secret = settings.link_secret.get_secret_value().encode()  # type: ignore[union-attr]
    session_secret = settings.session_secret.get_secret_value().encode()  # type: ignore[union-attr]

    def presession(request: Request) -> str:
        """The browser's pre-session token, or a new one for its first sign-in form."""
        return request.cookies.get(PRESESSION) or secrets.token_urlsafe(24)

    def drawn_here(response: Response, token: str) -> Response:
        response.set_cookie(PRESESSION, token, max_age=PRESESSION_MINUTES * 60, httponly=True,
                            secure=settings.cookie_secure, samesite="lax", path="/")
        return response

    def from_here(request: Request, form: dict[str, str]) -> bool:
        cookie = request.cookies.get(PRESESSION, "")
        return bool(cookie) and secrets.compare_digest(cookie.encode(), form.get("pre", "").encode())

    @api.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        if session := pages.session_of(request):
            return RedirectResponse(domain.landing(await store.person(session.person)), status_code=303)
        return await pages.page(request, "signin.html", None, dev=settings.dev_sign_in, oidc=oidc is not None)

    @api.get("/signin/oidc")
    async def oidc_start(request: Request) -> Response:
        if oidc is None:
            return await pages.message(request, "Không có trang này", "Không tìm thấy trang.", 404)
        try:
            url, pending = await oidc.start(now())
        except SignInRefused as refused:
            return await pages.message(request, "Không đăng nhập được", OIDC_REFUSALS[refused.reason], 503)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(oidc_flow.COOKIE, pending.seal(session_secret), max_age=oidc_flow.PENDING_MINUTES * 60,
                            httponly=True, secure=settings.cookie_secure, samesite="lax", path="/signin/oidc")
        return response

    @api.get("/signin/oidc/callback")
    async def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
        if oidc is None:
            return await pages.message(request, "Không có trang này", "Không tìm thấy trang.", 404)
        try:
            pending = oidc_flow.Pending.unseal(session_secret, request.cookies.get(oidc_flow.COOKIE), now())
            person = await oidc.finish(pending, code, state)
        except SignInRefused as refused:
            status = 503 if refused.reason == "provider_down" else 403
            return await pages.message(request, "Không đăng nhập được", OIDC_REFUSALS[refused.reason], status)
        if await store.person(person) is None:
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS["unknown_person"], 403)
        log.info("%s signed in through the identity provider", person)
        response = pages.signed_in(RedirectResponse("/", status_code=303), person)
        response.delete_cookie(oidc_flow.COOKIE, path="/signin/oidc")
        return response

    async def usable_link(request: Request, token: str, session: Session | None) -> tuple[links.TaskLink, dict] | Response:
        """The link and its person, or the page saying why it signs nobody in."""
        try:
            link = links.read(link_secret, token, now())
        except LinkRefused as refused:
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS[refused.reason], 403, session)
        if session and session.person != link.person:
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS["other_person"], 403, session)
        person = await store.person(link.person)
        if person is None:
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS["unknown_person"], 403, session)
        return link, person

    @api.get("/signin", response_class=HTMLResponse)
    async def confirm_link(request: Request, t: str = "") -> Response:
        """A link is used by pressing the button, not by opening it: mail scanners open links."""
        session = pages.session_of(request)
        usable = await usable_link(request, t, session)
        if isinstance(usable, Response):
            return usable
        token = presession(request)
        return drawn_here(await pages.page(request, "signin_link.html", session, token=t, person=usable[1], pre=token),
                          token)

    @api.post("/signin")
    async def use_link(request: Request) -> Response:
        session = pages.session_of(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not from_here(request, form):
            return await pages.message(request, *NOT_FROM_HERE, 403, session)
        usable = await usable_link(request, form.get("t", ""), session)
        if isinstance(usable, Response):
            return usable
        link, _ = usable
        if not await store.use_link(link.link_id, link.person, now()):
            if session and session.person == link.person:  # already in, with this very link
                return RedirectResponse(_task_path(link.task), status_code=303)
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS["used"], 403, session)
        log.info("%s signed in with link %s for %s", link.person, link.link_id, link.task)
        return pages.signed_in(RedirectResponse(_task_path(link.task), status_code=303), link.person)

    @api.get("/dev/signin", response_class=HTMLResponse)
    async def dev_people(request: Request) -> Response:
        if not settings.dev_sign_in:
            return await pages.message(request, "Không có trang này", "Không tìm thấy trang.", 404)
        token = presession(request)
        return drawn_here(await pages.page(request, "dev_signin.html", pages.session_of(request),
                                           people=await store.people(), units=await store.unit_names(), pre=token),
                          token)

    @api.post("/dev/signin")
    async def dev_sign_in(request: Request) -> Response:
        if not settings.dev_sign_in:
            return await pages.message(request, "Không có trang này", "Không tìm thấy trang.", 404)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not from_here(request, form):
            return await pages.message(request, *NOT_FROM_HERE, 403)
        if await store.person(form.get("person", "")) is None:
            return await pages.message(request, "Không đăng nhập được", LINK_REFUSALS["unknown_person"], 403)
        log.warning("development sign-in as %s", form["person"])
        return pages.signed_in(RedirectResponse("/assignments", status_code=303), form["person"])

    @api.post("/signout")
    async def sign_out(request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(domain.SESSION_COOKIE, path="/")
        return response


def _task_path(task: str) -> str:
    kind, _, subject = task.partition(":")
    if kind == "assignment" and subject:
        return f"/assignments/{subject}"
    if kind == "council" and (pack := links.council_pack(task)) is not None:
        return f"/council?year={pack[0]}&field={pack[1]}"
    if kind == "feedback" and subject:
        return f"/unit/nominations/{subject}"
    if task == links.NOMINATE_TASK:
        return "/unit/nominations/new"
    return "/assignments"
