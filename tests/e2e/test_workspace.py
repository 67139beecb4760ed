"""The workspace in a real browser (the distribution's Chromium, driven by Playwright) over the
real stack, the programme's whole round: a unit nominates in the browser and the nominations
service accepts it; the panel's mails are read back from the SMTP server; each evaluator
follows their mail's link and scores, seeing the others' sheets once their own is in; the
divergent panel discusses and amends until it agrees; the council's secretariat follows the
completion mail to the pack and decides; the unit reads its feedback. Forms are answered next
to their fields; a link replayed, tampered with or used by another person is refused; one
event per form however often it is sent."""

import asyncio
import datetime as dt
import os
import re
import sys
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS
from services.notifications.sink import MailSink
from shared import topics
from shared.envelope import Event, new_event
from shared.events import StaffRegistered, UnitRegistered
from shared.vocabulary import Role, UnitKind
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(480)  # the whole round, in one browser session after another

# A unit no other test nominates for: its quota for the year is this test's.
# A unit of this test's own, registered by its HR system when the module starts: the session's
# other tests fill the demo units' quotas, so its places for the year are this test's alone.
_UNIT = f"SO-{uuid.uuid4().hex[:6].upper()}"
NOMINATING = SimpleNamespace(unit_id=_UNIT, unit_name=f"Sở Nông nghiệp và Môi trường thử nghiệm {_UNIT[-6:]}",
                             staff_id=f"{_UNIT}-02", full_name="Đỗ Thị Ngọc Ánh")
LINK = re.compile(r"Mở việc cần làm: (\S+)")
SCREENSHOTS = os.environ.get("WORKSPACE_SCREENSHOTS")  # a directory: the README's pictures are taken here


@pytest.fixture(scope="module")
def mailbox(stack, tmp_path_factory):
    sink = MailSink(tmp_path_factory.mktemp("workspace-mail"), port=stack.config.smtp_port).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """Where the operators' `exemplars report` writes the review the ministry office reads."""
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
async def nominating_unit(stack, producer, mongo):
    """NOMINATING's unit and its emulation officer, as an HR system registers them; known to
    the nominations service and the workspace before the test goes on."""
    unit = UnitRegistered(unit_id=NOMINATING.unit_id, name=NOMINATING.unit_name, kind=UnitKind.PROVINCIAL_DEPARTMENT,
                          valid_from=dt.date(2020, 1, 1), email=f"{NOMINATING.unit_id.lower()}@monre.gov.vn")
    officer = StaffRegistered(staff_id=NOMINATING.staff_id, unit_id=NOMINATING.unit_id, full_name=NOMINATING.full_name,
                              position="Chuyên viên thi đua, khen thưởng", roles=[Role.EMULATION_OFFICER],
                              email=f"{NOMINATING.staff_id.lower()}@monre.gov.vn")
    await send(producer, topics.DIRECTORY, [new_event(unit, key=unit.unit_id, source="urn:hr"),
                                            new_event(officer, key=unit.unit_id, source="urn:hr")])
    return NOMINATING


@pytest.fixture(scope="module")
async def services(stack, nominations_service, mongo, mailbox, report_dir, nominating_unit):
    """Evaluations (the session's, if an earlier module started one), notifications mailing
    only what this module causes, and the workspace."""
    started = []
    if not [p for p in stack.services.get("evaluations", []) if p.running]:
        started.append(await stack.start_service("evaluations"))
    cutoff = dt.datetime.now(dt.UTC).isoformat()
    notifications, workspace = await asyncio.gather(  # each waits for its own readiness: side by side
        stack.start_service("notifications", NOTIFY_AFTER=cutoff, DELIVERY_POLL_SECONDS="0.1",
                            DELIVERY_BACKOFF_SECONDS="0.5"),
        stack.start_service("workspace", REPORT_DIR=str(report_dir)))
    started += [notifications, workspace]
    people = len(demo_data.staff())
    for database in ("exemplars_workspace", "exemplars_notifications"):
        await wait_until(lambda db=database: _count(mongo, db, "staff", people), timeout=60,
                         what=f"the directory in {database}")
    for database in ("exemplars_workspace", "exemplars_notifications", "exemplars_nominations"):
        await wait_until(lambda db=database: _has(mongo, db, "staff", NOMINATING.staff_id), timeout=60,
                         what=f"the test's own unit in {database}")
    yield workspace
    for proc in started:
        proc.stop()
        stack.services[proc.name.rsplit("-", 1)[0]].remove(proc)


async def _count(mongo, database: str, collection: str, at_least: int) -> bool:
    return await mongo[database][collection].count_documents({}) >= at_least


async def _has(mongo, database: str, collection: str, document_id: str) -> bool:
    return await mongo[database][collection].count_documents({"_id": document_id}) == 1


@pytest.fixture(scope="module")
async def browser() -> Browser:
    async with async_playwright() as playwright:
        # Root in CI: Chromium's sandbox needs a user namespace the container may not give.
        chromium = await playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                                    args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def panel_links(mailbox: MailSink, assigned: Event) -> dict[str, str]:
    """Each panel member's address -> the link their "panel assigned" mail carries."""
    async def found():
        links = {}
        for raw, _, _ in list(mailbox.received):
            mail = BytesParser(policy=policy.default).parsebytes(raw)
            if mail["X-Exemplars-Event-Id"] == assigned.id:
                links[mail["To"].addresses[0].addr_spec] = LINK.search(mail.get_body(("plain",)).get_content()).group(1)
        return links if len(links) >= len(assigned.data.evaluators) else None

    return await wait_until(found, timeout=60, what=f"the panel mails of {assigned.data.nomination_id}")


async def mails_of(mailbox: MailSink, event: Event, count: int) -> list[tuple[str, str]]:
    """(subject, link) of the mails `event` caused, once there are `count`."""
    async def found():
        mails = [BytesParser(policy=policy.default).parsebytes(raw) for raw, _, _ in list(mailbox.received)]
        mine = [(str(m["Subject"]), LINK.search(m.get_body(("plain",)).get_content()).group(1))
                for m in mails if m["X-Exemplars-Event-Id"] == event.id]
        return mine if len(mine) >= count else None

    return await wait_until(found, timeout=60, what=f"the mails of {event.type}")


async def sign_in(page: Page, link: str, lands_on: str = r"/assignments/") -> None:
    await page.goto(link)
    await page.get_by_role("button", name="Đăng nhập và mở việc được giao").click()
    await page.wait_for_url(re.compile(lands_on))


async def fill_sheet(page: Page, fraction: float) -> None:
    for box in await page.locator("input[name^='score.']").all():
        maximum = float(re.search(r"\((\d+)–(\d+)\)", await page.locator(f"label[for='{await box.get_attribute('id')}']")
                                  .inner_text()).group(2))
        await box.fill(f"{maximum * fraction:g}".replace(".", ","))


async def test_a_round_in_the_browser_from_the_units_nomination_to_its_feedback(stack, services, mailbox, browser,
                                                                                topic_log, mongo, report_dir):
    nomination_id = await the_unit_nominates(browser, services, topic_log)
    outputs = await topic_log(topics.EVALUATIONS)
    [assigned] = await outputs.wait_for(
        lambda: [e for e in outputs.about(nomination_id) if e.type == "evaluation.panel_assigned"], timeout=30,
        what="the panel")
    links = await panel_links(mailbox, assigned)
    staff = {f"{m.staff_id.lower()}@monre.gov.vn": m for m in demo_data.staff()}
    members = [staff[address] for address in links]
    intake = await topic_log(topics.EVALUATIONS_INTAKE)

    first = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await first.new_page()
    await sign_in(page, links[f"{members[0].staff_id.lower()}@monre.gov.vn"])
    assert await page.locator("h1").inner_text() == MODELS[0][0]
    assert await page.get_by_text(members[0].full_name).count() >= 1
    await shot(page, "phieu-cham-diem")

    # Sent empty: every criterion answered next to its field, in Vietnamese; nothing published.
    await page.get_by_role("button", name="Gửi phiếu chấm").click()
    errors = page.locator(".field-error")
    criteria = await page.locator("input[name^='score.']").count()
    assert await errors.count() == criteria and "Chưa chấm tiêu chí" in await errors.first.inner_text()
    assert await page.locator("input[aria-invalid=true]").count() == criteria
    await page.locator("input[name^='score.']").first.fill("999")
    await page.get_by_role("button", name="Gửi phiếu chấm").click()
    assert "phải từ 0 đến" in await page.locator(".field-error").first.inner_text()
    await shot(page, "loi-nhap-lieu")
    # A conflict of interest needs its reason.
    await page.get_by_role("button", name="Gửi khai báo").click()
    assert "Nêu lý do xung đột lợi ích" in await page.locator("#reason-error").inner_text()
    assert not intake.about(nomination_id)

    # A draft keeps what was typed; the sheet then goes out once, signed as the evaluator.
    await fill_sheet(page, 0.9)
    await page.get_by_role("button", name="Lưu nháp").click()
    assert await page.get_by_role("status").inner_text() == "Đã lưu nháp phiếu chấm."
    await page.reload()
    assert await page.locator("input[name^='score.']").first.input_value() != ""
    form_id = await page.locator("input[name=form_id]").first.input_value()
    fields = {name: await page.locator(f"[name='{name}']").first.input_value()
              for name in ["csrf", "form_id", "comment"] + [await b.get_attribute("name") for b in
                                                             await page.locator("input[name^='score.']").all()]}
    await page.get_by_role("button", name="Gửi phiếu chấm").click()
    assert await page.get_by_role("status").inner_text() == "Đã gửi phiếu chấm điểm."
    again = await page.request.post(f"{page.url.split('?')[0]}/sheet", form={**fields, "action": "submit"},
                                    max_redirects=0)
    assert again.status == 303 and form_id  # the same form sent again: answered, not published again
    sent = await intake.wait_for(lambda: intake.about(nomination_id),
                                 what="the score sheet on the intake")
    await wait_until(lambda: _sheet_recorded(mongo, nomination_id, members[0].staff_id), timeout=30,
                     what="the sheet in the evaluation")
    assert len(intake.about(nomination_id)) == len(sent) == 1
    assert sent[0].type == "evaluation.score_submitted" and sent[0].source == "urn:exemplars:workspace"

    # The link again: used once, it signs nobody in a second time; another's link is refused.
    stranger = await browser.new_context()
    replay = await stranger.new_page()
    await replay.goto(links[f"{members[0].staff_id.lower()}@monre.gov.vn"])
    await replay.get_by_role("button", name="Đăng nhập và mở việc được giao").click()
    assert "chỉ dùng được một lần" in await replay.get_by_role("alert").inner_text()
    await page.goto(links[f"{members[1].staff_id.lower()}@monre.gov.vn"])
    assert "dành cho người khác" in await page.get_by_role("alert").inner_text()
    await replay.goto(links[f"{members[1].staff_id.lower()}@monre.gov.vn"][:-3] + "AAA")
    assert "không hợp lệ" in await replay.get_by_role("alert").inner_text()
    await replay.goto(f"{services_url(services)}/assignments/{nomination_id}")
    assert "/assignments" not in replay.url  # signed out: sent to the sign-in page
    await stranger.close()

    # The second scores from their own mail: the first's sheet shows only once theirs is in.
    second_context = await browser.new_context()
    second = await second_context.new_page()
    await sign_in(second, links[f"{members[1].staff_id.lower()}@monre.gov.vn"])
    assert await second.get_by_role("heading", name="Phiếu chấm của Hội đồng").count() == 0
    await fill_sheet(second, 0.8)
    await second.get_by_role("button", name="Gửi phiếu chấm").click()
    assert await second.get_by_role("status").inner_text() == "Đã gửi phiếu chấm điểm."

    async def sheets_shown(page_: Page, heading: str, *names: str) -> bool:
        await page_.reload()
        if await page_.get_by_role("heading", name=heading).count() == 0:
            return False
        text = await page_.locator("main").inner_text()
        return all(name in text for name in names)

    await wait_until(lambda: sheets_shown(second, "Phiếu chấm của Hội đồng", members[0].full_name), timeout=20,
                     what="the first member's sheet on the second's page")
    assert "90" in await second.locator("table.sheets tfoot").inner_text()
    await second_context.close()

    # The third judges far more harshly: the totals diverge (90, 80, 50) and the panel discusses.
    third_context = await browser.new_context(viewport={"width": 390, "height": 844})
    third = await third_context.new_page()
    await sign_in(third, links[f"{members[2].staff_id.lower()}@monre.gov.vn"])
    await fill_sheet(third, 0.5)
    await third.get_by_role("button", name="Gửi phiếu chấm").click()
    [opened] = await outputs.wait_for(
        lambda: [e for e in outputs.about(nomination_id) if e.type == "evaluation.discussion_opened"], timeout=30,
        what="the discussion")
    assert opened.data.spread == 40
    asked = await mails_of(mailbox, opened, len(members))
    assert all(subject.startswith("Đề nghị thảo luận") and "/signin?t=" in link for subject, link in asked)
    await wait_until(lambda: sheets_shown(third, "Thảo luận của Hội đồng"), timeout=20,
                     what="the discussion in the workspace")
    await third.get_by_role("button", name="Gửi ý kiến").click()  # empty: answered next to the field
    assert "Nhập ý kiến thảo luận" in await third.locator("#discussion-comment-error").inner_text()
    await third.locator("#discussion-comment").fill("Tôi chấm thấp vì chưa thấy số liệu lan tỏa; "
                                                         "xem báo cáo của đơn vị, tôi sửa lại phiếu.")
    await third.get_by_role("button", name="Gửi ý kiến").click()
    assert await third.get_by_role("status").inner_text() == "Đã gửi ý kiến thảo luận."
    await wait_until(lambda: sheets_shown(third, "Thảo luận của Hội đồng", "số liệu lan tỏa"), timeout=20,
                     what="the comment in the discussion")
    await shot(third, "thao-luan", third.locator("#thao-luan"))

    # The third amends: the totals come within the threshold and the evaluation completes by agreement.
    await fill_sheet(third, 0.8)
    await third.locator("textarea[name^='remark.']").first.fill("Chưa có số liệu đo hiệu quả trước và sau.")
    await third.get_by_role("button", name="Gửi phiếu chấm").click()
    assert await third.get_by_role("status").inner_text() == "Đã gửi phiếu chấm điểm."
    await third_context.close()
    [completed] = await outputs.wait_for(
        lambda: [e for e in outputs.about(nomination_id) if e.type == "evaluation.completed"], timeout=30,
        what="the evaluation to complete")
    assert completed.data.discussion.closed_by == "agreement" and completed.data.discussion.comments == 1
    assert [e.data.evaluator_id for e in intake.about(nomination_id) if e.type == "evaluation.comment_posted"] == [
        members[2].staff_id]
    assert set(completed.data.evaluator_totals) == {m.staff_id for m in members}
    async def shown_complete():  # once the workspace's projection has read the completion
        await page.goto(f"{services_url(services)}/assignments")
        return "Đã chấm xong" in await page.locator("table").inner_text()

    await wait_until(shown_complete, timeout=20, what="the completion in the workspace")
    # Scoring is over: a sheet or a conflict posted now is answered, and nothing is published.
    base = f"{services_url(services)}/assignments/{nomination_id}"
    for path, extra in (("sheet", {"action": "submit"}), ("conflict", {"reason": "Quan hệ công tác"})):
        late = await page.request.post(f"{base}/{path}", form={**fields, "form_id": str(uuid.uuid4()), **extra},
                                       max_redirects=0)
        assert late.status == 409 and "đã kết thúc" in await late.text()
    assert len(intake.about(nomination_id)) == len(members) + 2  # the sheets, the comment and the amendment
    await shot(page, "viec-duoc-giao")
    await first.close()

    await the_council_decides(browser, mailbox, completed, outputs, mongo)
    await the_unit_reads_its_feedback(browser, services, topic_log, nomination_id, members)
    await the_ministry_office_follows_the_programme(browser, services, stack, report_dir, completed)


async def the_ministry_office_follows_the_programme(browser: Browser, services, stack, report_dir: Path,
                                                    completed: Event) -> None:
    """The overview of the year from the workspace's projection, and the review report the
    operators made with `exemplars report`, served as they made it."""
    secretariat = next(m for m in demo_data.staff() if Role.MINISTRY_OFFICE in m.roles)
    context, page = await signed_in_as(browser, services, secretariat.staff_id)
    base = services_url(services)
    assert (await page.goto(f"{base}/ministry/report")).status == 404  # none made yet: said so
    made = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "report", "--from", "2026", "--out", str(report_dir),
        "--mongo-uri", stack.config.mongo_uri, stdout=asyncio.subprocess.DEVNULL)
    assert await made.wait() == 0
    await page.goto(f"{base}/ministry?year=2026")
    text = await page.locator("main").inner_text()
    assert "Công nhận cấp Bộ" in text and completed.data.title in text  # among the recognised models
    unit_name = NOMINATING.unit_name
    rows = await page.locator("tr").all_inner_texts()
    assert any(row.startswith(unit_name) and "1/2" in row for row in rows)  # the nomination holds its place
    assert await page.get_by_role("link", name="Báo cáo sơ kết giai đoạn (bản mới nhất)").count() == 1
    await shot(page, "tong-quan")
    report = await page.goto(f"{base}/ministry/report")
    assert report.status == 200 and "<html" in await page.content()
    await context.close()


async def signed_in_as(browser: Browser, services, staff_id: str):
    """A phone's browser signed in through the local run's development sign-in."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await page.goto(f"{services_url(services)}/dev/signin")
    await page.locator("#person").select_option(staff_id)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Đăng nhập").click()
    return context, page


async def the_unit_nominates(browser: Browser, services, topic_log) -> str:
    """The unit's emulation officer fills the nomination form; the nominations service accepts it."""
    context, page = await signed_in_as(browser, services, NOMINATING.staff_id)
    await page.goto(f"{services_url(services)}/unit")
    await page.get_by_role("link", name="Lập đề cử mới").click()
    await page.get_by_role("button", name="Gửi đề cử").click()  # empty: every field answered next to it
    assert await page.get_by_role("alert").count() == 1
    assert "Nhập tên mô hình" in await page.locator("#title-error").inner_text()
    await page.locator("#year").select_option("2026")
    await page.get_by_label("Tập thể", exact=True).check()
    await page.locator("#name").fill(f"Tập thể mô hình “{MODELS[0][0]}”")
    await page.locator("#members").fill("12")
    await page.locator("#field").select_option("land")
    await page.locator("#movement").fill("Phong trào thi đua “Chung sức xây dựng nông thôn mới”")
    await page.locator("#title").fill(MODELS[0][0])
    await page.locator("#summary").fill("Rút ngắn 35% thời gian xử lý hồ sơ; đã có 4 đơn vị áp dụng.")
    await page.locator("#achievements").fill("Giảm 35% thời gian xử lý hồ sơ\nĐã có 4 đơn vị áp dụng")
    for n, (kind, title) in enumerate((("achievement_report", "Báo cáo thành tích"),
                                       ("review_minutes", "Biên bản bình xét"))):
        await page.locator(f"#evidence-{n}-kind").select_option(kind)
        await page.locator(f"#evidence-{n}-title").fill(title)
        await page.locator(f"#evidence-{n}-url").fill(f"https://vanban.monre.gov.vn/qn/{n}.pdf")
    await page.locator("#evidence-2-url").fill("vanban")  # a half-filled row is answered, not dropped
    await page.get_by_role("button", name="Gửi đề cử").click()
    assert "chọn loại minh chứng" in await page.locator("#evidence-2-kind-error").inner_text()
    await page.locator("#evidence-2-url").fill("")
    await page.locator("#started_on").fill("2024-03-01")
    await shot(page, "lap-de-cu", page.locator("h1"))
    async with page.expect_navigation():
        await page.get_by_role("button", name="Gửi đề cử").click()
    assert await page.get_by_role("status").count() == 1, f"{page.url}: {await page.locator('main').inner_text()}"
    assert (await page.get_by_role("status").inner_text()).startswith("Đã gửi đề cử")
    nominations = await topic_log(topics.NOMINATIONS)
    [accepted] = await nominations.wait_for(
        lambda: [e for e in nominations.events() if e.type == "nomination.accepted"
                 and e.data.submitter_id == NOMINATING.staff_id and e.data.title == MODELS[0][0]], timeout=30,
        what="the nomination accepted")
    assert accepted.source == "urn:exemplars:nominations" and accepted.data.unit_id == NOMINATING.unit_id

    async def listed() -> bool:
        await page.goto(f"{services_url(services)}/unit")
        return MODELS[0][0] in await page.locator("main").inner_text()

    await wait_until(listed, timeout=20, what="the nomination on the unit's page")
    await context.close()
    return accepted.data.nomination_id


async def the_unit_reads_its_feedback(browser: Browser, services, topic_log, nomination_id: str, members) -> None:
    """Once decided: the averages per criterion and the panel's comments, without a name; then
    the unit reports its exemplar's first review."""
    context, page = await signed_in_as(browser, services, NOMINATING.staff_id)

    async def decided() -> bool:
        await page.goto(f"{services_url(services)}/unit/nominations/{nomination_id}")
        return await page.get_by_role("heading", name="Kết quả và góp ý của Hội đồng").count() == 1

    await wait_until(decided, timeout=20, what="the decision on the unit's page")
    text = await page.locator("main").inner_text()
    assert "công nhận điển hình tiên tiến cấp Bộ" in text and "45/QĐ-BNNMT" in text
    assert "số liệu lan tỏa" in text and "số liệu đo hiệu quả" in text  # what the panel said...
    assert not any(member.full_name in text or member.staff_id in text for member in members)  # ...not who

    # The exemplar's first periodic review, from the unit's page.
    await page.goto(f"{services_url(services)}/unit")
    await page.get_by_role("link", name="báo cáo định kỳ").click()
    await page.get_by_role("button", name="Gửi báo cáo").click()  # empty: answered field by field
    assert "Nhập kỳ báo cáo" in await page.locator("#period-error").inner_text()
    await page.locator("#period").fill("2026-H2")
    await page.get_by_label("4", exact=True).check()
    await page.locator("#trend").select_option("growing")
    await page.locator("#study_visits").fill("2")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Gửi báo cáo").click()
    assert await page.get_by_role("status").inner_text() == "Đã gửi báo cáo."
    evaluations = await topic_log(topics.EVALUATIONS)
    [recorded] = await evaluations.wait_for(
        lambda: [e for e in evaluations.about(f"EX-{nomination_id}") if e.type == "exemplar.review_recorded"],
        timeout=30, what="the review recorded")
    assert (recorded.data.period, recorded.data.influence, recorded.data.study_visits) == ("2026-H2", 4, 2)
    await context.close()


async def the_council_decides(browser: Browser, mailbox: MailSink, completed: Event, outputs, mongo) -> None:
    """The ministry office follows the completion mail to the year's pack, reads both rankings,
    takes the CSV, prints without the forms, and records the decision."""
    nomination_id = completed.data.nomination_id
    [(subject, link)] = await mails_of(mailbox, completed, 1)
    assert subject.startswith("Kết quả đánh giá hồ sơ")
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await sign_in(page, link, lands_on=r"/council\?year=2026&field=land")
    item = page.locator(f"article[id='{nomination_id}']")
    assert "Điểm chuẩn hóa" in await item.inner_text() and "83,33/100" in await item.inner_text()
    assert "Thống nhất, 1 ý kiến" in await item.inner_text()  # the discussion, as the council sees it
    exported = await page.request.get(page.url.replace("/council?", "/council.csv?"))
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    assert nomination_id in (await exported.body()).decode("utf-8-sig")
    await page.emulate_media(media="print")
    assert not await item.locator("form").is_visible()  # on paper: the figures, not the forms
    await page.emulate_media(media="screen")

    await item.get_by_role("button", name="Ghi nhận quyết định").click()  # empty: answered field by field
    item = page.locator(f"article[id='{nomination_id}']")
    assert "Nhập số, ký hiệu quyết định" in await item.locator(f"#{nomination_id}-decision_ref-error").inner_text()
    assert await page.get_by_role("alert").count() == 1
    await item.get_by_label("Công nhận điển hình tiên tiến cấp Bộ").check()
    await item.get_by_label("Số, ký hiệu quyết định").fill("45/QĐ-BNNMT")
    await item.get_by_label("Ngày quyết định").fill(dt.date.today().isoformat())
    await shot(page, "ho-so-trinh-hoi-dong", item)
    await item.get_by_role("button", name="Ghi nhận quyết định").click()
    assert await page.get_by_role("status").inner_text() == "Đã gửi quyết định của Hội đồng."
    [recognized] = await outputs.wait_for(
        lambda: [e for e in outputs.about(nomination_id) if e.type == "exemplar.recognized"], timeout=30,
        what="the recognition")
    assert recognized.data.level.value == "ministry" and recognized.data.decision_ref == "45/QĐ-BNNMT"
    doc = await mongo["exemplars_evaluations"]["evaluations"].find_one({"_id": nomination_id})
    secretariat = next(m for m in demo_data.staff() if Role.MINISTRY_OFFICE in m.roles)
    assert doc["decision"]["sender"]["actor"] == secretariat.staff_id
    await context.close()


async def _sheet_recorded(mongo, nomination_id: str, evaluator_id: str) -> bool:
    doc = await mongo["exemplars_evaluations"]["evaluations"].find_one({"_id": nomination_id})
    sheets = [s for s in (doc or {}).get("sheets", []) if s["evaluator_id"] == evaluator_id]
    return bool(sheets) and sheets[0]["sender"] == {"producer": "workspace", "keyid": sheets[0]["sender"]["keyid"],
                                                   "actor": evaluator_id}


def services_url(proc) -> str:
    return f"http://127.0.0.1:{proc.http_port}"


async def shot(page: Page, name: str, at: Locator | None = None) -> None:
    """What a phone shows first, or once scrolled to `at`."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        if at is not None:
            await at.evaluate("element => element.scrollIntoView()")
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))
