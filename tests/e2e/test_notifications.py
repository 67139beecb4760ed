"""The notifications service over the wire: real Tansu, SecantusDB, the service as a process,
and a real aiosmtpd server whose mail is parsed back with the standard library."""

import asyncio
import datetime as dt
import json
import threading
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from deploy.dev_keys import Keyring
from deploy.processes import free_port
from services.notifications import messages, webhooks
from services.notifications.sink import MailSink
from shared import topics
from shared.envelope import Event, new_event
from shared.events import (
    CriteriaSetRef,
    EvaluationCancelled,
    EvaluationReminder,
    ExemplarRecognized,
    ExemplarRevoked,
    ExemplarReplicated,
    PanelAssigned,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.vocabulary import Field, NomineeKind, RecognitionLevel, RevocationGround, Role
from tests.conftest import reads, wait_until

DB = "exemplars_notifications"
SECRET = "bi-mat-kiem-thu-webhook"
REFUSED = "hop-thu-khong-ton-tai@monre.gov.vn"
EVALUATIONS_SOURCE = "urn:exemplars:evaluations"
# Fast retries and pacing, so the behaviour shows within seconds.
SERVICE_ENV = {
    "DELIVERY_BACKOFF_SECONDS": "0.5", "DELIVERY_BACKOFF_MAX_SECONDS": "1.5", "DELIVERY_MAX_ATTEMPTS": "12",
    "DELIVERY_POLL_SECONDS": "0.1", "DELIVERY_LEASE_SECONDS": "5", "PUBLICITY_PER_MINUTE": "600",
    "WEBHOOK_SECRET": SECRET,
    # The test's receiver is plain HTTP on loopback: allowed here only, as in a local run.
    "WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOWED_ADDRESSES": "127.0.0.1", "WEBHOOK_TIMEOUT_SECONDS": "2",
}


def member(unit_id: str, role: Role | None) -> demo_data.StaffMember:
    return next(m for m in demo_data.staff() if m.unit_id == unit_id and (role in m.roles if role else not m.roles))


def email_of(staff_id: str) -> str:
    return f"{staff_id.lower()}@monre.gov.vn"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Mailbox(MailSink):
    def parsed(self) -> list[EmailMessage]:
        return [BytesParser(policy=policy.default).parsebytes(raw) for raw, _, _ in list(self.received)]

    def about(self, event: Event) -> list[EmailMessage]:
        return [m for m in self.parsed() if m["X-Exemplars-Event-Id"] == event.id]

    async def wait_for(self, event: Event, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        async def enough():
            found = self.about(event)
            return found if len(found) >= count else None

        return await wait_until(enough, timeout, what=f"{count} mails about {event.type}")


def recipients(mails: list[EmailMessage]) -> set[str]:
    return {address.addr_spec for mail in mails for address in mail["To"].addresses}


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mailbox(stack, tmp_path_factory):
    sink = Mailbox(tmp_path_factory.mktemp("mail"), port=stack.config.smtp_port, refuse={REFUSED}).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def webhook_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
async def notifications(stack, directory, mongo, mailbox):
    """One instance for the module; history published by earlier suites is not mailed."""
    cutoff = dt.datetime.now(dt.UTC).isoformat()
    proc = await stack.start_service("notifications", **SERVICE_ENV, NOTIFY_AFTER=cutoff)

    async def applied():
        return await mongo[DB]["staff"].count_documents({"email": {"$exists": True}}) >= len(demo_data.staff())

    await wait_until(applied, timeout=60, what="the directory in the notifications view")
    yield proc
    proc.stop()
    stack.services["notifications"].remove(proc)


async def publish(producer, topic: str, *events: Event) -> None:
    await send(producer, topic, list(events))


def evaluation_event(payload) -> Event:
    return new_event(payload, key=payload.nomination_id if hasattr(payload, "nomination_id") else payload.exemplar_id,
                     source=EVALUATIONS_SOURCE)


async def deliveries(mongo, event: Event) -> list[dict]:
    return await mongo[DB]["deliveries"].find({"event_id": event.id}).to_list()


async def register_staff(producer, mongo, **fields) -> StaffRegistered:
    staff = StaffRegistered(**{"position": "Chuyên viên", **fields})
    await publish(producer, topics.DIRECTORY, new_event(staff, key=staff.unit_id, source="urn:hr"))

    async def applied():
        return await mongo[DB]["staff"].find_one({"_id": staff.staff_id, "full_name": staff.full_name})

    await wait_until(applied, what=f"{staff.staff_id} in the directory view")
    return staff


def panel(nomination_id: str, evaluators: list[str], title: str = "Mô hình số hóa bản đồ địa chính dùng chung"):
    return PanelAssigned(nomination_id=nomination_id, unit_id="DDBD", year=2025, field=Field.SURVEYING_MAPPING,
                         nominee_kind=NomineeKind.COLLECTIVE, title=title,
                         criteria=CriteriaSetRef(set_id="surveying_mapping.collective", version=1),
                         evaluators=evaluators, deadline=dt.date(2025, 12, 15))


# ---- routes, end to end ----------------------------------------------------------------------


async def test_nomination_answer_reaches_officer_submitter_and_unit(nominations_service, notifications, producer,
                                                                     mailbox, mongo, topic_log, stack):
    officer, plain = member("TTDL", Role.EMULATION_OFFICER), member("TTDL", None)
    sub = submission(uid("NOM-N"), officer, 2026, MODELS[11], submitter=plain.staff_id)
    await publish(producer, topics.NOMINATIONS_INTAKE, new_event(sub, key=sub.nomination_id, source="urn:unit:TTDL"))
    log = await topic_log(topics.NOMINATIONS)
    answer = await log.wait_for(lambda: next((e for e in log.about(sub.nomination_id)), None), what="the answer")

    mails = await mailbox.wait_for(answer, 3)
    assert recipients(mails) == {email_of(officer.staff_id), email_of(plain.staff_id), "ttdl@monre.gov.vn"}
    verb = "đã được tiếp nhận" if answer.type == "nomination.accepted" else "chưa được tiếp nhận"
    for mail in mails:
        assert mail["Subject"] == f"Hồ sơ đề xuất điển hình tiên tiến {verb}: {sub.title}"
        assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
        text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
        assert "Trung tâm Thông tin và Dữ liệu tài nguyên và môi trường" in text and "Việc cần làm" in text
        assert '<html lang="vi">' in html
    to_officer = next(m for m in mails if m["To"].addresses[0].addr_spec == email_of(officer.staff_id))
    assert f"Kính gửi đồng chí {officer.full_name}," in to_officer.get_body(("plain",)).get_content()

    # Each delivery ends with notification.sent, keyed by recipient, and the API shows it.
    sent_log = await topic_log(topics.NOTIFICATIONS)
    outcomes = await sent_log.wait_for(
        lambda: (found := [e for e in sent_log.events() if e.data.notified_event_id == answer.id])
        and len(found) >= 3 and found, what="three notification.sent")
    assert {e.type for e in outcomes} == {"notification.sent"}
    assert {e.key for e in outcomes} == {officer.staff_id, plain.staff_id, "unit:TTDL"}
    async with reads(notifications) as http:
        listed = (await http.get("/deliveries", params={"event_id": answer.id})).json()
        assert {d["status"] for d in listed} == {"sent"} and len(listed) == 3
        mine = (await http.get("/deliveries", params={"recipient_id": plain.staff_id, "status": "sent"})).json()
        assert answer.id in {d["event_id"] for d in mine}
        one = (await http.get(f"/deliveries/{listed[0]['delivery_id']}")).json()
        assert one["subject"] == mails[0]["Subject"]
        counts = (await http.get("/deliveries/counts")).json()
        assert counts["sent"] >= 3 and set(counts) == {"pending", "sending", "sent", "failed"}
        assert (await http.get("/deliveries/nope")).status_code == 404
    # Addresses and delivery errors are the operators' alone; the ministry sees the counts.
    keyring = Keyring(Path(notifications.env["NOTIFICATIONS_READERS_FILE"]).parent)
    async with reads(notifications, keyring.reader_token("vu-thi-dua", "ministry")) as ministry:
        assert (await ministry.get("/deliveries/counts")).status_code == 200
        for path in ("/deliveries", f"/deliveries/{listed[0]['delivery_id']}"):
            refused = await ministry.get(path)
            assert refused.status_code == 403 and email_of(plain.staff_id) not in refused.text
    async with reads(notifications, keyring.reader_token("ttdl", "unit:TTDL")) as unit:
        assert (await unit.get("/deliveries/counts")).status_code == 403


async def test_evaluation_routes_reach_the_evaluator_concerned(notifications, producer, mailbox):
    nomination = uid("NOM-E")
    evaluators = [member("QLTNN", Role.EVALUATOR).staff_id, member("KTTV", Role.EVALUATOR).staff_id,
                  member("BDKH", Role.EVALUATOR).staff_id]
    assigned = evaluation_event(panel(nomination, evaluators))
    reminder = evaluation_event(EvaluationReminder(nomination_id=nomination, evaluator_id=evaluators[1],
                                                   title=assigned.data.title, deadline=dt.date(2025, 12, 15),
                                                   days_left=2))
    cancelled = evaluation_event(EvaluationCancelled(nomination_id=nomination, reason="Đơn vị đã rút hồ sơ"))
    await publish(producer, topics.EVALUATIONS, assigned, reminder, cancelled)

    mails = await mailbox.wait_for(assigned, 3)
    assert recipients(mails) == {email_of(e) for e in evaluators}
    assert mails[0]["Subject"] == ("Phân công chấm điểm hồ sơ điển hình tiên tiến: Mô hình số hóa bản đồ địa chính "
                                   "dùng chung – hạn 15/12/2025")
    assert "Thời hạn: 15/12/2025" in mails[0].get_body(("plain",)).get_content()
    (nudge,) = await mailbox.wait_for(reminder, 1)
    assert recipients([nudge]) == {email_of(evaluators[1])}
    assert nudge["Subject"].startswith("Nhắc việc: còn 2 ngày để chấm điểm hồ sơ")
    # The cancellation names only the nomination: the panel remembered from the assignment gets it.
    stops = await mailbox.wait_for(cancelled, 3)
    assert recipients(stops) == {email_of(e) for e in evaluators}
    assert stops[0]["Subject"] == "Dừng đánh giá hồ sơ: Mô hình số hóa bản đồ địa chính dùng chung"


def recognition_audience(unit: str) -> tuple[set[str], set[str]]:
    """Who hears of a recognition (or its revocation): every unit's emulation officer, as
    publicity, and the unit's leader, officer and own mailbox, directly."""
    officers = {email_of(m.staff_id) for m in demo_data.staff() if Role.EMULATION_OFFICER in m.roles}
    direct = {email_of(member(unit, Role.UNIT_LEADER).staff_id), email_of(member(unit, Role.EMULATION_OFFICER).staff_id),
              f"{unit.lower()}@monre.gov.vn"}
    return officers, direct


async def test_recognition_publicity_reaches_every_open_unit_paced(notifications, producer, mailbox, mongo):
    exemplar = uid("EX")
    event = evaluation_event(ExemplarRecognized(
        exemplar_id=exemplar, nomination_id=uid("NOM-R"), unit_id="DDBD", year=2025, field=Field.SURVEYING_MAPPING,
        nominee_name="Phòng Dữ liệu nền", title="Cơ sở dữ liệu nền địa lý quốc gia cập nhật liên tục",
        level=RecognitionLevel.MINISTRY, decision_ref="123/QĐ-BNNMT", total=82.5))
    officers, direct = recognition_audience("DDBD")
    await publish(producer, topics.EVALUATIONS, event)
    mails = await mailbox.wait_for(event, len(officers | direct), timeout=60)
    assert recipients(mails) == officers | direct
    publicity = [m for m in mails if m["Subject"].startswith("Điển hình tiên tiến mới")]
    assert len(publicity) == len(officers) - 1  # DDBD's officer got the direct news instead
    docs = [d for d in await deliveries(mongo, event) if d["publicity"]]
    slots = sorted(d["next_attempt_at"] for d in docs)
    gaps = [(b - a).total_seconds() for a, b in zip(slots, slots[1:], strict=False)]
    assert gaps and min(gaps) >= 0.09, "publicity is spread at the configured rate (0.1 s here)"


async def test_same_event_twice_mails_nobody_twice(notifications, producer, mailbox, mongo):
    nomination = uid("NOM-D")
    evaluators = [member("VT", Role.EVALUATOR).staff_id, member("BHD", Role.EVALUATOR).staff_id]
    event = evaluation_event(panel(nomination, evaluators))
    await publish(producer, topics.EVALUATIONS, event)
    await mailbox.wait_for(event, 2)
    await publish(producer, topics.EVALUATIONS, event, event)  # redelivered, and once more
    later = evaluation_event(EvaluationReminder(nomination_id=nomination, evaluator_id=evaluators[0], title="x",
                                                deadline=dt.date(2025, 12, 15), days_left=7))
    await publish(producer, topics.EVALUATIONS, later)
    await mailbox.wait_for(later, 1)  # the partition has moved past the duplicates
    await asyncio.sleep(0.5)
    mails = mailbox.about(event)
    assert len(mails) == 2 and len({m["Message-ID"] for m in mails}) == 2
    assert len(await deliveries(mongo, event)) == 2


async def test_smtp_down_retries_then_delivers_without_blocking(notifications, producer, mailbox, mongo, topic_log):
    evaluator, other = member("DCKS", Role.EVALUATOR).staff_id, member("KSONMT", Role.EVALUATOR).staff_id
    first = evaluation_event(EvaluationReminder(nomination_id=uid("NOM-S"), evaluator_id=evaluator,
                                                title="Bản đồ nguy cơ sạt lở đất cấp xã",
                                                deadline=dt.date(2025, 12, 1), days_left=7))
    mailbox.stop()
    try:
        await publish(producer, topics.EVALUATIONS, first)

        async def retried():
            docs = await deliveries(mongo, first)
            return docs and docs[0]["attempts"] >= 2 and docs[0]["status"] == "pending" and docs[0]
        doc = await wait_until(retried, what="a failed attempt rescheduled")
        assert doc["last_error"] == "refused"  # a class: the sink is down
        # Meanwhile new events are still consumed and recorded.
        second = evaluation_event(EvaluationReminder(nomination_id=uid("NOM-S"), evaluator_id=other, title="Khác",
                                                     deadline=dt.date(2025, 12, 1), days_left=7))
        await publish(producer, topics.EVALUATIONS, second)
        await wait_until(lambda: deliveries(mongo, second), what="deliveries recorded while SMTP is down")
        assert not mailbox.about(first)
    finally:
        mailbox.start()
    (mail,) = await mailbox.wait_for(first, 1)
    assert recipients([mail]) == {email_of(evaluator)}
    await mailbox.wait_for(second, 1)
    done = (await deliveries(mongo, first))[0]
    assert done["status"] == "sent" and done["attempts"] >= 2
    log = await topic_log(topics.NOTIFICATIONS)
    sent = await log.wait_for(lambda: next((e for e in log.events() if e.data.delivery_id == done["_id"]), None))
    assert sent.type == "notification.sent" and sent.data.attempts == done["attempts"]


async def test_refused_mailbox_ends_in_notification_failed(notifications, producer, mailbox, mongo, topic_log):
    ghost = await register_staff(producer, mongo, staff_id=uid("QLDD-X"), unit_id="QLDD", full_name="Đinh Văn Ma",
                                 email=REFUSED, roles=[Role.EVALUATOR])
    event = evaluation_event(EvaluationReminder(nomination_id=uid("NOM-F"), evaluator_id=ghost.staff_id, title="Mô hình",
                                                deadline=dt.date(2025, 12, 1), days_left=7))
    await publish(producer, topics.EVALUATIONS, event)
    log = await topic_log(topics.NOTIFICATIONS)
    failed = await log.wait_for(lambda: next((e for e in log.events() if e.data.notified_event_id == event.id), None))
    assert failed.type == "notification.failed" and failed.key == ghost.staff_id
    assert failed.data.error == "smtp_550" and failed.data.attempts == 1  # permanent: not retried
    (doc,) = await deliveries(mongo, event)
    assert doc["status"] == "failed" and not mailbox.about(event)


async def test_removed_staff_get_nothing(notifications, producer, mailbox, mongo):
    leaving = await register_staff(producer, mongo, staff_id=uid("VT-X"), unit_id="VT", full_name="Lý Thị Thu",
                                   email="ly.thi.thu@monre.gov.vn", roles=[Role.EVALUATOR])
    removal = StaffRemoved(staff_id=leaving.staff_id, unit_id="VT", removed_on=dt.date(2025, 6, 1))
    await publish(producer, topics.DIRECTORY, new_event(removal, key="VT", source="urn:hr"))
    await wait_until(lambda: mongo[DB]["staff"].find_one({"_id": leaving.staff_id, "removed": True}))
    event = evaluation_event(EvaluationReminder(nomination_id=uid("NOM-X"), evaluator_id=leaving.staff_id, title="x",
                                                deadline=dt.date(2025, 12, 1), days_left=7))
    await publish(producer, topics.EVALUATIONS, event)
    doc = await wait_until(lambda: mongo[DB]["events"].find_one({"_id": event.dedup_key, "planned": True}))
    assert doc["deliveries"] == 0 and not mailbox.about(event)


async def test_injection_in_names_and_titles_is_neutralised(notifications, producer, mailbox, mongo):
    evil = await register_staff(producer, mongo, staff_id=uid("VP-X"), unit_id="VP", email="nguoi.nhan@monre.gov.vn",
                                full_name="Trần Văn A\r\nBcc: attacker@evil.example", roles=[Role.EVALUATOR])
    title = 'Mô hình <script>alert("x")</script>\r\nCc: attacker@evil.example\r\n\r\n<b>giả mạo</b>'
    event = evaluation_event(panel(uid("NOM-I"), [evil.staff_id], title=title))
    await publish(producer, topics.EVALUATIONS, event)
    (mail,) = await mailbox.wait_for(event, 1)
    raw = next(raw for raw, _, rcpts in mailbox.received if mail["Message-ID"].encode() in raw)
    assert mail["Bcc"] is None and mail["Cc"] is None
    assert [a.addr_spec for a in mail["To"].addresses] == ["nguoi.nhan@monre.gov.vn"]
    assert "\n" not in mail["Subject"] and "Cc: attacker@evil.example" in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    assert "<script>" not in html and "<b>giả mạo</b>" not in html and "&lt;script&gt;" in html
    head = raw.split(b"\r\n\r\n")[0]  # the body may say "Bcc:" as text; the header block may not
    assert b"\nBcc:" not in head and b"\nCc:" not in head
    assert "Kính gửi đồng chí Trần Văn A" in mail.get_body(("plain",)).get_content()


async def test_unit_webhook_is_signed(notifications, producer, mailbox, mongo, webhook_receiver):
    unit_id = uid("WH")
    url = f"http://127.0.0.1:{webhook_receiver.server_port}/hooks/thi-dua"
    unit = UnitRegistered(unit_id=unit_id, name="Trung tâm Kiểm thử Webhook", valid_from=dt.date(2024, 1, 1),
                          email=f"{unit_id.lower()}@monre.gov.vn", webhook_url=url)
    await publish(producer, topics.DIRECTORY, new_event(unit, key=unit_id, source="urn:hr"))
    await wait_until(lambda: mongo[DB]["units"].find_one({"_id": unit_id}))
    event = evaluation_event(ExemplarReplicated(exemplar_id=uid("EX"), unit_id=unit_id, title="Mô hình kiểm thử",
                                                adopting_unit_id="QLDD", distinct_units=3))
    await publish(producer, topics.EVALUATIONS, event)
    await mailbox.wait_for(event, 1)

    def arrived():
        return next(((h, b) for h, b in _Hook.received if json.loads(b)["event"]["id"] == event.id), None)

    async def posted():
        return arrived()

    headers, body = await wait_until(posted, what="the webhook call")
    headers = {k.lower(): v for k, v in headers.items()}
    own = webhooks.receiver_secret(SECRET, f"unit:{unit_id}")  # the unit's own secret, not the master
    assert messages.verify_signature(own, body, headers["x-exemplars-timestamp"], headers["x-exemplars-signature"],
                                     now=dt.datetime.now(dt.UTC))
    doc = json.loads(body)
    assert doc["recipient"] == {"id": f"unit:{unit_id}", "kind": "unit"}
    assert doc["notification"]["subject"].startswith("Nhân rộng điển hình tiên tiến: “Mô hình kiểm thử”")
    assert "Cục Quản lý đất đai" in doc["notification"]["text"]


async def test_a_webhook_into_our_own_network_is_never_called(notifications, producer, mailbox, mongo):
    unit_id = uid("WHX")
    unit = UnitRegistered(unit_id=unit_id, name="Trung tâm Dò cổng", valid_from=dt.date(2024, 1, 1),
                          email=f"{unit_id.lower()}@monre.gov.vn",
                          webhook_url="http://169.254.169.254/latest/meta-data/")
    await publish(producer, topics.DIRECTORY, new_event(unit, key=unit_id, source="urn:hr"))
    await wait_until(lambda: mongo[DB]["units"].find_one({"_id": unit_id}))
    event = evaluation_event(ExemplarReplicated(exemplar_id=uid("EX"), unit_id=unit_id, title="Mô hình dò cổng",
                                                adopting_unit_id="QLDD", distinct_units=2))
    await publish(producer, topics.EVALUATIONS, event)
    await mailbox.wait_for(event, 1)  # the mail goes out; the webhook fails at once, as a class

    async def failed():
        docs = [d for d in await deliveries(mongo, event) if d["channel"] == "webhook" and d["status"] == "failed"]
        return docs[0] if docs else None

    doc = await wait_until(failed, what="the blocked webhook delivery to fail")
    assert doc["last_error"] == "blocked_address" and doc["attempts"] == 1
    async with reads(notifications) as http:
        (shown,) = [d for d in (await http.get("/deliveries", params={"event_id": event.id})).json()
                    if d["channel"] == "webhook"]
    assert shown["last_error"] == "blocked_address"


async def test_a_revocation_reaches_everyone_the_recognition_did(notifications, producer, mailbox, mongo):
    """The unit directly, and as paced publicity everyone else its recognition's deliveries reached."""
    nomination = uid("NOM-V")
    recognition = {"exemplar_id": uid("EX"), "nomination_id": nomination, "unit_id": "DDBD", "year": 2025,
                   "field": Field.SURVEYING_MAPPING, "nominee_name": "Phòng Dữ liệu nền",
                   "title": "Cơ sở dữ liệu nền địa lý cập nhật liên tục", "level": RecognitionLevel.MINISTRY,
                   "decision_ref": "123/QĐ-BNNMT"}
    recognized = evaluation_event(ExemplarRecognized(**recognition, total=82.5))
    officers, direct = recognition_audience("DDBD")
    await publish(producer, topics.EVALUATIONS, recognized)
    told = recipients(await mailbox.wait_for(recognized, len(officers | direct), timeout=60))
    assert told == officers | direct

    event = evaluation_event(ExemplarRevoked(
        **recognition, revocation_ref="45/QĐ-BNNMT", revoked_on=dt.date(2026, 1, 15),
        ground=RevocationGround.FALSE_DOCUMENTS, reason="Biên bản bình xét được lập sau ngày họp.", distinct_units=2))
    await publish(producer, topics.EVALUATIONS, event)
    mails = await mailbox.wait_for(event, len(told), timeout=60)
    assert recipients(mails) == told
    assert all(m["Subject"].startswith("Thu hồi danh hiệu điển hình tiên tiến") for m in mails)
    unit_mail = next(m for m in mails if "ddbd@monre.gov.vn" in m["To"])
    text = unit_mail.get_body(("plain",)).get_content()
    assert "45/QĐ-BNNMT" in text and "làm giả hồ sơ, giấy tờ" in text and "15/01/2026" in text
    assert "Nộp lại bằng, hiện vật và tiền thưởng" in text
    assert sum(d["publicity"] for d in await deliveries(mongo, event)) == len(officers) - 1
    remembered = await mongo[DB]["nominations"].find_one({"_id": nomination})
    assert len(remembered["told_of_recognition"]) == len(officers | direct)
