"""The ministry office's pages: the programme's overview for a year (quota per unit,
evaluations open, overdue and discussing, recognitions, the spread of the models) with the
latest review report, and for the council, whose secretariat the office is, the decision
pack of a year and field (raw and normalised ranking, each evaluation's breakdown,
divergence and discussion), its CSV, and the form that records a decision.

For the ministry office only: the workspace checks the role in its directory before it
shows or publishes anything, and a decision is signed as acting for that person, who is
kept with the decision.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from services.workspace import council, domain, overview
from services.workspace.domain import SOURCE, Session
from services.workspace.store import WorkspaceStore
from shared.envelope import new_event
from shared.events import CouncilDecisionRecorded
from shared.programme import Programme
from shared.vocabulary import FIELD_NAMES_VI, OUTCOME_NAMES_VI, Field, RecognitionLevel, Role

if TYPE_CHECKING:
    from services.workspace.web import Pages

NOT_SECRETARIAT = ("Không mở được trang này",
                   "Chỉ Văn phòng Bộ (thường trực Hội đồng Thi đua – Khen thưởng) xem và ghi nhận quyết định.")
NOT_READY = ("Chưa thể ghi nhận quyết định", "Hồ sơ này chưa chấm xong hoặc đã có quyết định.")


REPORT_NAME = "bao-cao.html"  # what `exemplars report --out DIR` writes (reporting/command.py)
NO_REPORT = ("Chưa có báo cáo", "Chưa có báo cáo sơ kết nào được lập. Bộ phận vận hành lập báo cáo bằng lệnh "
             "exemplars report (xem README, mục “Programme review report”).")


def mount(api: FastAPI, pages: "Pages", store: WorkspaceStore, programme: Programme, report_dir: str | None,
          now: Callable[[], dt.datetime]) -> None:

    async def secretariat(request: Request) -> Session | Response:
        """The session of a ministry office member, or the answer why not."""
        session = pages.session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        person = await store.person(session.person)
        if person is None or Role.MINISTRY_OFFICE.value not in person.get("roles", []):
            return await pages.message(request, *NOT_SECRETARIAT, 403, session)
        return session

    async def chosen(year: int | None, field: str | None) -> tuple[int, str, list[dict]]:
        """The pack asked for; by default this year and the first field with completed evaluations."""
        year = year or now().year
        done = await store.done_in_year(year, council.DONE)
        if field not in Field._value2member_map_:
            fields = sorted({e["field"] for e in done if e.get("field")})
            field = fields[0] if fields else Field.LAND.value
        return year, str(field), done

    async def pack_page(request: Request, session: Session, year: int | None, field: str | None, *,
                        errors: dict[str, dict[str, str]] | None = None, posted: dict[str, str] | None = None,
                        status: int = 200) -> Response:
        year, field, done = await chosen(year, field)
        rows = council.pack(done, field)
        notice = "Đã gửi quyết định của Hội đồng." if request.query_params.get("done") == "decided" else None
        return await pages.page(request, "council.html", session, status, year=year, field=field, rows=rows,
                                units=await store.unit_names(), errors=errors or {}, posted=posted or {},
                                form_ids={row.nomination_id: str(uuid.uuid4()) for row in rows}, notice=notice,
                                today=now().date().isoformat(), fields=FIELD_NAMES_VI)

    @api.get("/ministry", response_class=HTMLResponse)
    async def ministry(request: Request, year: int | None = None) -> Response:
        session = await secretariat(request)
        if isinstance(session, Response):
            return session
        today = now().date()
        year = year or today.year
        seen = overview.overview(year, today, await store.units(), await store.nominations_in(year),
                                 await store.assignments_in(year), programme)
        return await pages.page(request, "ministry.html", session, view=seen, today=today.isoformat(),
                                report=report_dir is not None and (Path(report_dir) / REPORT_NAME).is_file(),
                                units=await store.unit_names())

    @api.get("/ministry/report", response_class=HTMLResponse)
    async def review_report(request: Request) -> Response:
        """The latest review report the operators made, as they made it."""
        session = await secretariat(request)
        if isinstance(session, Response):
            return session
        page = Path(report_dir) / REPORT_NAME if report_dir else None
        if page is None or not page.is_file():
            return await pages.message(request, *NO_REPORT, 404, session)
        return FileResponse(page, media_type="text/html; charset=utf-8")

    @api.get("/council", response_class=HTMLResponse)
    async def council_pack(request: Request, year: int | None = None, field: str | None = None) -> Response:
        session = await secretariat(request)
        if isinstance(session, Response):
            return session
        return await pack_page(request, session, year, field)

    @api.get("/council.csv")
    async def council_csv(request: Request, year: int | None = None, field: str | None = None) -> Response:
        session = await secretariat(request)
        if isinstance(session, Response):
            return session
        year, field, done = await chosen(year, field)
        text = council.csv_text(council.pack(done, field), await store.unit_names(),
                                {o.value: name for o, name in OUTCOME_NAMES_VI.items()})
        return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="ho-so-trinh-hoi-dong-{year}-{field}.csv"'})

    @api.post("/council/{nomination_id}/decision")
    async def record_decision(request: Request, nomination_id: str) -> Response:
        session = await secretariat(request)
        if isinstance(session, Response):
            return session
        form = await pages.form_of(request, session)
        if form is None:
            return await pages.message(request, *domain.STALE_FORM, 403, session)
        assignment = await store.assignment(nomination_id)
        if assignment is None or assignment.get("status") != "completed":  # the service would refuse it
            return await pages.message(request, *NOT_READY, 409, session)
        decision, errors = council.check_decision(form, now().date().isoformat())
        if errors:
            return await pack_page(request, session, assignment.get("year"), assignment.get("field"),
                                   errors={nomination_id: errors}, posted={**form, "nomination_id": nomination_id},
                                   status=422)
        assert decision is not None
        level = RecognitionLevel(decision["level"]) if decision["level"] else None
        data = CouncilDecisionRecorded(nomination_id=nomination_id, recognized=decision["recognized"], level=level,
                                       decision_ref=decision["decision_ref"],
                                       decided_on=dt.date.fromisoformat(decision["decided_on"]), note=decision["note"])
        event = new_event(data, key=nomination_id, source=SOURCE, id_parts=(domain.form_id(form),))
        then = f"/council?year={assignment['year']}&field={assignment['field']}&done=decided#{nomination_id}"
        return await pages.publish_once(request, session, event, "decision", nomination_id, then)
