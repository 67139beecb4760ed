"""The delivery worker's batches, over the stack's SecantusDB and a real aiosmtpd sink: claimed
in bulk, mailed over one connection, recorded and published together; a refused mailbox fails
only its own delivery; two workers on one database never send the same delivery twice."""

import asyncio
import collections
import datetime as dt
import uuid
from email import policy
from email.parser import BytesHeaderParser

import aiosmtplib
import pytest

from deploy.processes import free_port
from services.notifications.delivery import (
    DeliveryWorker,
    SmtpSender,
    TransientFailure,
    WebhookSender,
)
from services.notifications.handlers import Notifications
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.sink import MailSink
from services.notifications.store import NotificationStore, Settled
from services.notifications.webhooks import WebhookPolicy
from shared.envelope import Event, new_event
from shared.events import (
    EvaluationReminder,
    NotificationSent,
    StaffRegistered,
    UnitRegistered,
)
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import Role
from tests.conftest import wait_until
from tests.unit.test_notifications_delivery import tiny_mail

REFUSED = "hop-thu-da-dong@monre.gov.vn"


@pytest.fixture
async def db(mongo):
    name = f"notifications_delivery_{uuid.uuid4().hex[:8]}"
    yield mongo[name]
    await mongo.drop_database(name)


@pytest.fixture
def sink(tmp_path):
    sink = MailSink(tmp_path, port=free_port(), refuse={REFUSED}).start()
    yield sink
    sink.stop()


def settings_for(db, sink: MailSink, **overrides) -> NotificationsSettings:
    return NotificationsSettings(mongo_database=db.name, smtp_port=sink.port, delivery_poll_seconds=0.05,
                                 delivery_backoff_seconds=0.2, delivery_backoff_max_seconds=0.5, **overrides)


async def planned(db, settings: NotificationsSettings, count: int, refused: int = 0) -> list[str]:
    """`count` reminders to as many evaluators (the first `refused` of them with a mailbox the
    sink refuses), planned by the real handlers in the service's unit of work; returns the
    delivery ids."""
    store = NotificationStore(db)
    await store.ensure_indexes()
    unit = UnitOfWork(store.documents, Notifications(settings, default_routes()))
    tag = uuid.uuid4().hex[:6].upper()
    events = [new_event(UnitRegistered(unit_id=f"U-{tag}", name="Phòng thử nghiệm", valid_from=dt.date(2020, 1, 1)),
                        key=tag, source="urn:hr")]
    for n in range(count):
        email = REFUSED if n < refused else f"ev-{tag.lower()}-{n:04d}@monre.gov.vn"
        events.append(new_event(StaffRegistered(
            staff_id=f"EV-{tag}-{n:04d}", unit_id=f"U-{tag}", full_name=f"Người chấm {n}", email=email,
            roles=[Role.EVALUATOR]), key=tag, source="urn:hr"))
    for n in range(count):
        events.append(new_event(EvaluationReminder(
            nomination_id=f"NOM-{tag}-{n}", evaluator_id=f"EV-{tag}-{n:04d}", title="Mô hình thử",
            deadline=dt.date(2030, 1, 1), days_left=7), key=tag, source="urn:exemplars:evaluations"))
    outcomes = await unit.run(events)
    assert [o.error for o in outcomes if o.error is not None] == []
    return [d["_id"] for d in await db["deliveries"].find({}, {"_id": 1}).to_list()]


def worker(db, settings: NotificationsSettings, published: list[Event]) -> DeliveryWorker:
    async def publish(events: list[Event]) -> None:
        published.extend(events)

    return DeliveryWorker(NotificationStore(db), settings, default_routes(), publish, SmtpSender(settings),
                          WebhookSender(WebhookPolicy()))


async def settled(db, count: int, timeout: float = 60) -> list[dict]:
    async def done():
        docs = await db["deliveries"].find({"status": {"$in": ["sent", "failed"]}}).to_list()
        return len(docs) == count and docs

    return await wait_until(done, timeout=timeout, what=f"{count} deliveries settled")


async def all_published(db, published: list[Event], count: int) -> bool:
    return len(published) == count and await db["deliveries"].count_documents({"outcome_pending": True}) == 0


def message_ids(sink: MailSink) -> collections.Counter:
    parser = BytesHeaderParser(policy=policy.default)
    return collections.Counter(parser.parsebytes(raw)["Message-ID"] for raw, _, _ in list(sink.received))


async def test_a_batch_is_claimed_at_once_mailed_over_one_connection_and_recorded(db, sink):
    settings = settings_for(db, sink, delivery_concurrency=4, delivery_batch_size=100)
    ids = await planned(db, settings, 40, refused=1)
    published: list[Event] = []
    live = worker(db, settings, published)
    live.start()
    try:
        await settled(db, 40)
        await wait_until(lambda: all_published(db, published, 40), what="every outcome published")
        docs = await db["deliveries"].find().to_list()
    finally:
        await live.stop(5)
    assert sink.connections == 1, "one SMTP connection for the batch"
    by_status = collections.defaultdict(list)
    for doc in docs:
        by_status[doc["status"]].append(doc)
    # The refused mailbox fails only its own delivery, at once (a 550 is permanent).
    (failed,) = by_status["failed"]
    assert failed["last_error"] == "smtp_550" and failed["attempts"] == 1
    assert len(by_status["sent"]) == 39 and all(d["attempts"] == 1 and d["subject"] for d in by_status["sent"])
    assert not any("outcome_pending" in d or "lease_until" in d for d in docs)  # published, claims ended
    assert len(sink.received) == 39 and set(message_ids(sink).values()) == {1}
    assert sorted(e.data.delivery_id for e in published) == sorted(ids)
    assert {e.type for e in published} == {"notification.sent", "notification.failed"}


async def test_two_workers_on_one_database_never_send_a_delivery_twice(db, sink):
    settings = settings_for(db, sink, delivery_concurrency=2, delivery_batch_size=15)
    await planned(db, settings, 150)
    published: list[Event] = []
    workers = [worker(db, settings, published), worker(db, settings, published)]
    for w in workers:
        w.start()
    try:
        docs = await settled(db, 150)
    finally:
        await asyncio.gather(*(w.stop(5) for w in workers))
    assert {d["status"] for d in docs} == {"sent"} and {d["attempts"] for d in docs} == {1}
    counts = message_ids(sink)
    assert len(counts) == 150 and set(counts.values()) == {1}, "each delivery mailed exactly once"
    senders = collections.Counter(d["claimed_by"].split(":")[0] for d in docs)
    assert set(senders) <= {w.worker_id for w in workers}
    assert len({e.id for e in published}) == 150


async def test_concurrent_claims_split_the_due_deliveries(db, sink):
    settings = settings_for(db, sink)
    ids = await planned(db, settings, 60)
    stores = [NotificationStore(db) for _ in range(4)]
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    won = await asyncio.gather(*(s.claim_due("email", now, 60, 30, f"claimant-{n}") for n, s in enumerate(stores)))
    claimed = [d["_id"] for batch in won for d in batch]
    assert sorted(claimed) == sorted(ids), "every due delivery claimed once, by exactly one claimant"
    for n, batch in enumerate(won):
        assert all(d["claimed_by"] == f"claimant-{n}" and d["attempts"] == 1 for d in batch)
    # Not due again until the leases run out, then taken over with a new claim.
    assert await stores[0].claim_due("email", now, 60, 30, "late") == []
    later = await stores[0].claim_due("email", now + dt.timedelta(seconds=31), 100, 30, "after-expiry")
    assert len(later) == 60 and {d["attempts"] for d in later} == {2}


async def test_a_claim_taken_over_settles_nothing_even_beside_its_successor(db, sink):
    """A worker whose lease ran out during a slow batch may settle in the same group as the
    claim that took the delivery over: only the live claim is recorded and published."""
    settings = settings_for(db, sink)
    (delivery_id,) = await planned(db, settings, 1)
    store = NotificationStore(db)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    (stale,) = await store.claim_due("email", now, 1, 30, "worker:1")
    (live,) = await store.claim_due("email", now + dt.timedelta(seconds=31), 1, 30, "worker:2")
    assert (stale["attempts"], live["attempts"]) == (1, 2)

    def sent(claim: dict) -> Settled:
        outcome = DeliveryWorker._outcome(NotificationSent, claim, "ev@monre.gov.vn")
        return Settled(claim, "sent", outcome=outcome, subject="Nhắc hạn", address="ev@monre.gov.vn")

    won = await store.settle([sent(stale), sent(live)], now + dt.timedelta(seconds=32))
    assert won == {(delivery_id, "worker:2")}
    doc = await db["deliveries"].find_one({"_id": delivery_id})
    assert (doc["status"], doc["claimed_by"], doc["outcome"]["data"]["attempts"]) == ("sent", "worker:2", 2)


async def test_one_session_survives_a_refusal_and_fails_fast_once_the_server_is_gone(sink, monkeypatch):
    connects = []
    connect = aiosmtplib.SMTP.connect

    async def counted(client, *args, **kwargs):  # the real connect, counted
        connects.append(client)
        return await connect(client, *args, **kwargs)

    monkeypatch.setattr(aiosmtplib.SMTP, "connect", counted)
    session = SmtpSender(NotificationsSettings(smtp_port=sink.port, smtp_timeout_seconds=2)).session()
    await session.send(tiny_mail(), "mot@example.vn")
    with pytest.raises(Exception, match="^smtp_550$"):
        await session.send(tiny_mail(), REFUSED)
    await session.send(tiny_mail(), "hai@example.vn")
    assert sink.connections == 1 and len(sink.received) == 2
    sink.stop()
    with pytest.raises(TransientFailure):  # the connection dropped under this mail
        await session.send(tiny_mail(), "ba@example.vn")
    with pytest.raises(TransientFailure, match="^refused$"):  # reconnecting is refused
        await session.send(tiny_mail(), "bon@example.vn")
    assert len(connects) == 2
    with pytest.raises(TransientFailure, match="^refused$"):  # and not tried again in this session
        await session.send(tiny_mail(), "nam@example.vn")
    assert len(connects) == 2
    await session.close()
