"""The delivery worker's decisions, with an in-memory store and fake or local channels."""

import asyncio
import dataclasses
import datetime as dt
import json
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
import pytest

from deploy.processes import free_port
from services.notifications import domain, messages, webhooks
from services.notifications.delivery import (
    DeliveryWorker,
    PermanentFailure,
    SmtpSender,
    TransientFailure,
    WebhookSender,
)
from services.notifications.rendering import Rendered
from services.notifications.routing import default_routes
from services.notifications.samples import sample_directory, sample_payloads
from services.notifications.settings import NotificationsSettings
from services.notifications.sink import MailSink
from services.notifications.webhooks import WebhookPolicy
from shared.envelope import new_event
from shared.events import NotificationFailed, NotificationSent

NOW = dt.datetime(2025, 6, 2, 3, 0, tzinfo=dt.UTC)
SECRET = "bí-mật"


class FakeStore:
    def __init__(self, event, view=None):
        self.events = {event.dedup_key: event}
        self.view = view or sample_directory()
        self.finished, self.retries, self.published, self.writes = [], [], [], []

    async def events_by_key(self, keys):
        return {key: self.events[key] for key in keys if key in self.events}

    async def load_views(self, needs):
        return self.view

    async def settle(self, outcomes, now):
        self.writes.append(len(outcomes))
        for o in outcomes:
            if o.status == "pending":
                self.retries.append((o.retry_at, o.error))
            else:
                self.finished.append({"status": o.status, "outcome": o.outcome, "error": o.error,
                                      "subject": o.subject, "address": o.address})
        return {(o.delivery["_id"], o.delivery.get("claimed_by")) for o in outcomes if o.status != "pending"}

    async def outcomes_published(self, ids):
        self.published.extend(ids)


class FakeSmtp:
    def __init__(self, failure: Exception | None = None):
        self.failure, self.sent, self.sessions = failure, [], 0

    async def send(self, message, address):
        if self.failure:
            raise self.failure
        self.sent.append((message, address))

    def session(self):
        self.sessions += 1
        smtp = self

        class Session:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                pass

            async def send(self, message, address):
                await smtp.send(message, address)

        return Session()


def setup(event_type="evaluation.reminder", recipient_id="S-EV-2", channel="email", attempts=1, smtp=None,
          webhook=None, view=None, **settings):
    event = new_event(sample_payloads()[event_type], key="k", source="urn:exemplars:evaluations")
    store = FakeStore(event, view)
    published = []

    async def publish(events):
        published.extend(events)

    config = NotificationsSettings(delivery_max_attempts=3, delivery_backoff_seconds=10, webhook_secret=SECRET,
                                   **settings)
    worker = DeliveryWorker(store, config, default_routes(), publish, smtp or FakeSmtp(),
                            webhook or WebhookSender(WebhookPolicy()), now=lambda: NOW)
    recipient = next(r for r in domain.resolve_recipients(default_routes()[event_type], event.data, store.view,
                                                          dt.date(2025, 6, 2)) if r.id == recipient_id)
    delivery = {"_id": domain.delivery_id(event.dedup_key, recipient_id, channel), "event_key": event.dedup_key,
                "event_id": event.id, "event_type": event.type, "recipient_id": recipient_id,
                "recipient_kind": recipient.kind, "recipient_name": recipient.name, "unit_id": recipient.unit_id,
                "channel": channel, "template": recipient.template, "address": recipient.email, "publicity": False,
                "attempts": attempts}
    return worker, store, published, delivery


async def test_success_sends_records_and_publishes_sent():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp)
    await worker.attempt(delivery)
    ((message, address),) = smtp.sent
    assert address == "binh.hv@example.vn" and message["Message-ID"] == f"<{delivery['_id']}@exemplars.local>"
    (done,) = store.finished
    assert done["status"] == "sent" and done["subject"].startswith("Nhắc việc")
    (outcome,) = published
    assert outcome.type == "notification.sent" and outcome.key == "S-EV-2"
    assert outcome.data.delivery_id == delivery["_id"] and outcome.data.attempts == 1
    assert store.published == [delivery["_id"]]


async def test_transient_failure_is_retried_with_backoff():
    worker, store, published, delivery = setup(smtp=FakeSmtp(TransientFailure("refused")), attempts=2)
    await worker.attempt(delivery)
    ((at, error),) = store.retries
    delay = (at - NOW).total_seconds()
    assert 18 <= delay <= 22 and error == "refused"  # 10 s * 2, +/- 10 % jitter
    assert not store.finished and not published


async def test_the_last_try_ends_in_notification_failed():
    worker, store, published, delivery = setup(smtp=FakeSmtp(TransientFailure("timeout")), attempts=3)
    await worker.attempt(delivery)
    assert not store.retries
    (done,) = store.finished
    assert done["status"] == "failed" and done["error"] == "timeout"  # the last try's class; attempts say how many
    (outcome,) = published
    assert outcome.type == "notification.failed" and outcome.data.attempts == 3 and outcome.data.error == "timeout"


async def test_an_unexpected_error_is_recorded_as_a_class_not_its_text():
    worker, store, published, delivery = setup(smtp=FakeSmtp(RuntimeError("secret internal detail")), attempts=3)
    await worker.attempt(delivery)
    assert store.finished[0]["error"] == "internal_error" and published[0].data.error == "internal_error"


async def test_permanent_failure_is_not_retried():
    worker, store, published, delivery = setup(smtp=FakeSmtp(PermanentFailure("smtp_550")))
    await worker.attempt(delivery)
    assert not store.retries and store.finished[0]["status"] == "failed"
    assert published[0].data.error == "smtp_550"


async def test_staff_removed_after_planning_get_nothing():
    view = sample_directory()
    view.staff["S-EV-2"] = dataclasses.replace(view.staff["S-EV-2"], removed=True)
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp)
    store.view = view
    await worker.attempt(delivery)
    assert not smtp.sent and store.finished[0]["status"] == "failed"
    assert store.finished[0]["error"] == "recipient_removed"


async def test_recipient_not_yet_in_the_directory_is_retried():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp)
    del store.view.staff["S-EV-2"]
    await worker.attempt(delivery)
    assert not smtp.sent and store.retries and store.retries[0][1] == "unknown_recipient"


async def test_new_contact_details_are_used_when_sending():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp)
    store.view.staff["S-EV-2"] = dataclasses.replace(store.view.staff["S-EV-2"], email="binh.moi@example.vn",
                                                     full_name="Hoàng Văn Bình (mới)")
    await worker.attempt(delivery)
    ((message, address),) = smtp.sent
    assert address == "binh.moi@example.vn" and message["To"].addresses[0].display_name == "Hoàng Văn Bình (mới)"


def test_outcome_ids_are_deterministic():
    _, _, _, delivery = setup()
    first = DeliveryWorker._outcome(NotificationSent, delivery, "a@example.vn")
    second = DeliveryWorker._outcome(NotificationSent, delivery, "a@example.vn")
    failed = DeliveryWorker._outcome(NotificationFailed, delivery, "a@example.vn", error="x")
    assert first.id == second.id != failed.id


# ---- webhook channel -------------------------------------------------------------------------

PUBLIC_IP = "93.184.216.34"


async def public_resolver(host, port):
    return [PUBLIC_IP]


def hook_sender(status: int, seen: list, body: bytes = b"", **policy) -> WebhookSender:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body)

    return WebhookSender(WebhookPolicy(**policy), transport=lambda: httpx.MockTransport(handler),
                         resolve=public_resolver)


async def test_webhook_posts_json_signed_with_the_receivers_own_secret():
    seen = []
    worker, store, published, delivery = setup("nomination.accepted", "unit:U-CDC", channel="webhook",
                                               webhook=hook_sender(204, seen))
    await worker.attempt(delivery)
    (request,) = seen
    # Sent to the address that was checked, under the host's name (Host header, TLS SNI).
    assert str(request.url) == f"https://{PUBLIC_IP}/hooks/thi-dua"
    assert request.headers["Host"] == "cdc.example.vn" and request.extensions["sni_hostname"] == "cdc.example.vn"
    body, stamp, signature = (request.content, request.headers["X-Exemplars-Timestamp"],
                              request.headers["X-Exemplars-Signature"])
    own = webhooks.receiver_secret(SECRET, "unit:U-CDC")
    assert messages.verify_signature(own, body, stamp, signature, now=NOW)
    assert not messages.verify_signature(SECRET, body, stamp, signature, now=NOW)  # not the master secret
    assert not messages.verify_signature(webhooks.receiver_secret(SECRET, "unit:U-TNN"), body, stamp, signature, now=NOW)
    assert json.loads(body)["delivery_id"] == delivery["_id"]
    assert store.finished[0]["status"] == "sent" and published[0].data.channel == "webhook"


@pytest.mark.parametrize(("status", "failure"), [(500, TransientFailure), (503, TransientFailure),
                                                 (429, TransientFailure), (404, PermanentFailure),
                                                 (401, PermanentFailure), (302, PermanentFailure)])
async def test_webhook_answers_are_classified_by_status_only(status, failure):
    sender = hook_sender(status, [], body=b"internal: mongo:27017 says hello")
    with pytest.raises(failure) as caught:
        await sender.send("https://x.example.vn/hook", b"{}", {})
    assert str(caught.value) == f"http_{status}"


@pytest.mark.parametrize(("url", "code"), [
    ("http://127.0.0.1:8080/x", "scheme_not_allowed"), ("https://127.0.0.1/x", "blocked_address"),
    ("https://169.254.169.254/latest/meta-data", "blocked_address"), ("https://[::1]/x", "blocked_address"),
    ("ftp://x.example.vn/x", "invalid_url")])
async def test_a_webhook_refused_by_the_policy_fails_the_delivery_with_its_class(url, code):
    seen = []
    worker, store, published, delivery = setup("nomination.accepted", "unit:U-CDC", channel="webhook",
                                               webhook=hook_sender(204, seen))
    unit = store.view.units["U-CDC"]
    store.view.units["U-CDC"] = dataclasses.replace(unit, webhook_url=url)
    await worker.attempt(delivery)
    assert not seen and not store.retries
    assert store.finished[0]["status"] == "failed" and store.finished[0]["error"] == code
    assert published[0].data.error == code


async def test_webhooks_are_off_without_a_master_secret():
    worker, store, published, delivery = setup("nomination.accepted", "unit:U-CDC", channel="webhook",
                                               webhook=hook_sender(204, []))
    worker.settings = worker.settings.model_copy(update={"webhook_secret": None})
    await worker.attempt(delivery)
    assert store.finished[0]["error"] == "webhook_disabled"


# ---- SMTP channel, against a real local server -----------------------------------------------


async def test_smtp_sender_against_aiosmtpd(tmp_path):
    port = free_port()
    sink = MailSink(tmp_path, port=port, refuse={"refused@example.vn"}).start()
    try:
        sender = SmtpSender(NotificationsSettings(smtp_port=port))
        worker, store, published, delivery = setup(smtp=sender, smtp_port=port)
        await worker.attempt(delivery)
        assert store.finished[0]["status"] == "sent"
        ((raw, mail_from, rcpts),) = sink.received
        assert rcpts == ["binh.hv@example.vn"] and mail_from == "khong-tra-loi@exemplars.local"
        assert len(list(tmp_path.glob("*.eml"))) == 1
        with pytest.raises(PermanentFailure, match="^smtp_550$"):
            await sender.send(tiny_mail(), "refused@example.vn")
    finally:
        sink.stop()
    with pytest.raises(TransientFailure, match="^refused$"):  # nobody listens any more
        await SmtpSender(NotificationsSettings(smtp_port=port, smtp_timeout_seconds=2)).send(tiny_mail(), "a@example.vn")


async def test_what_reaches_the_server_is_the_mail_as_built(tmp_path):
    """Folded by the mail's own policy, not again by the SMTP client's: a long Vietnamese
    subject arrives with every space between its words."""
    subject = ("Nhắc việc: còn 7 ngày để chấm điểm hồ sơ Mô hình số hóa bản đồ địa chính dùng chung "
               "của Văn phòng Đăng ký đất đai (hạn 30/06/2025)")
    event = new_event(sample_payloads()["evaluation.reminder"], key="NOM", source="evaluations")
    message = messages.build_email(Rendered(subject, "Nội dung\n", "<p>Nội dung</p>\n"), delivery_id="d-1",
                                   event=event, sender_address="khong-tra-loi@exemplars.local",
                                   sender_name="Hội đồng Thi đua - Khen thưởng", to_address="binh.hv@example.vn",
                                   to_name="Hoàng Văn Bình", domain="exemplars.local", now=dt.datetime.now(dt.UTC))
    port = free_port()
    sink = MailSink(tmp_path, port=port).start()
    try:
        await SmtpSender(NotificationsSettings(smtp_port=port)).send(message, "binh.hv@example.vn")
        ((raw, _, _),) = sink.received
    finally:
        sink.stop()
    header = raw.split(b"\r\n\r\n")[0].decode().replace("\r\n", "")
    folded = header.split("Subject: ")[1].split("From:")[0]
    assert str(make_header(decode_header(folded))) == subject  # as the legacy decoders read it
    assert BytesParser(policy=policy.default).parsebytes(raw)["Subject"] == subject
    assert raw == messages.wire_bytes(message)


def tiny_mail() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Thử"
    message.set_content("Nội dung")
    return message


# ---- batches: claimed together, mailed over one connection, recorded in groups ---------------


class BatchStore(FakeStore):
    """Hands out `rows` as due, once each, to `claim_due`; records slowly if told."""

    def __init__(self, event, rows, write_seconds=0.0):
        super().__init__(event)
        self.rows, self.write_seconds, self.released, self.claims = list(rows), write_seconds, [], []

    async def claim_due(self, channel, now, limit, lease, claimant, expired=True):
        batch = [r for r in self.rows if r["channel"] == channel][:limit]
        self.rows = [r for r in self.rows if r not in batch]
        self.claims.append((channel, len(batch)))
        return [{**r, "claimed_by": claimant, "attempts": r["attempts"] + 1} for r in batch]

    async def release(self, deliveries, now):
        self.released.extend(d["_id"] for d in deliveries)

    async def settle(self, outcomes, now):
        await asyncio.sleep(self.write_seconds)
        return await super().settle(outcomes, now)

    async def unpublished_outcomes(self, before, limit=200):
        return []


def batch_of(delivery, count, channel="email"):
    return [{**delivery, "_id": f"{delivery['_id']}-{n:03d}", "channel": channel, "attempts": 0} for n in range(count)]


async def run_until(worker, done, timeout=20.0):  # a bound for a loaded machine, not a measure
    worker.start()
    try:
        async def wait():
            while not done():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(wait(), timeout)
    finally:
        await worker.stop(1.0)


class DroppingSmtp(FakeSmtp):
    """The connection drops after `good` mails: the session fails every later one."""

    def __init__(self, good):
        super().__init__()
        self.good = good

    async def send(self, message, address):
        if len(self.sent) >= self.good:
            raise TransientFailure("smtp_error")
        self.sent.append((message, address))


async def test_a_batch_goes_over_one_session_and_a_dropped_connection_fails_only_what_was_not_sent():
    smtp = DroppingSmtp(good=3)
    worker, store, published, delivery = setup(smtp=smtp, delivery_poll_seconds=0.01)
    store = worker.store = BatchStore(store.events[delivery["event_key"]], batch_of(delivery, 8))
    worker.outcomes.store = store
    await run_until(worker, lambda: len(store.finished) + len(store.retries) == 8)
    assert smtp.sessions == 1 and store.claims[0] == ("email", 8)
    assert [f["status"] for f in store.finished] == ["sent"] * 3
    assert [error for _, error in store.retries] == ["smtp_error"] * 5  # retried with backoff, as today
    assert sorted(e.data.delivery_id for e in published) == sorted(f"{delivery['_id']}-{n:03d}" for n in range(3))


async def test_no_more_mails_wait_to_be_recorded_than_delivery_concurrency():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp, delivery_concurrency=3, delivery_poll_seconds=0.01)
    store = worker.store = BatchStore(store.events[delivery["event_key"]], batch_of(delivery, 40), write_seconds=0.02)
    worker.outcomes.store = store
    most = 0
    send = smtp.send

    async def counting(message, address):
        nonlocal most
        await send(message, address)
        most = max(most, len(smtp.sent) - len(store.finished))

    smtp.send = counting
    await run_until(worker, lambda: len(store.finished) == 40)
    assert most == 3  # what a crash could repeat
    assert max(store.writes) > 1, "outcomes are recorded in groups"
    assert len(published) == 40 and len(store.published) == 40


async def test_a_batch_hands_back_what_it_could_not_send_within_its_lease():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp, delivery_lease_seconds=0.3, delivery_poll_seconds=10)
    store = worker.store = BatchStore(store.events[delivery["event_key"]], batch_of(delivery, 20))
    worker.outcomes.store = store
    send = smtp.send

    async def slow(message, address):
        await asyncio.sleep(0.05)
        await send(message, address)

    smtp.send = slow
    await run_until(worker, lambda: store.released)
    # Half the lease (0.15 s) allows about three sends at 0.05 s; the rest go back, untried.
    assert 1 <= len(smtp.sent) < 20 and len(smtp.sent) + len(store.released) == 20
    assert not store.retries and {f["status"] for f in store.finished} == {"sent"}


async def test_slow_webhooks_fill_their_own_lane_and_the_mail_goes_on():
    hanging, calls = asyncio.Event(), []

    class Hanging:
        async def send(self, url, body, headers):
            calls.append(url)
            await hanging.wait()

    smtp = FakeSmtp()
    worker, store, published, delivery = setup("nomination.accepted", "unit:U-CDC", smtp=smtp, webhook=Hanging(),
                                               delivery_concurrency=2, webhook_concurrency=3,
                                               delivery_poll_seconds=0.02)
    hook = {**delivery, "channel": "webhook"}
    mail = {**delivery, "channel": "email"}
    store = worker.store = BatchStore(store.events[delivery["event_key"]],
                                      batch_of(hook, 300, "webhook") + batch_of(mail, 12))
    worker.outcomes.store = store
    try:
        await run_until(worker, lambda: len(smtp.sent) == 12)
    finally:
        hanging.set()
    assert len(calls) == 3  # the lane full, never more
    assert ("webhook", 3) in store.claims and ("email", 12) in store.claims
