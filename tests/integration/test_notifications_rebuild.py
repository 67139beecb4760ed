"""Rebuilding the notifications projection from the log, against what the live service wrote.

The oracle is the service itself: its real `Notifications` decider in the shared
`UnitOfWork` over the real `NotificationStore`'s documents, in a fresh database of the stack's
SecantusDB, with the real clock, takes a scripted sequence of inputs in an interleaving of its
own (topic by topic, as independent consumers may, each partition's run one batch); the real
`DeliveryWorker` code then claims due deliveries in batches (`claim_due`) and attempts them
with senders that record instead of sending, and its published outcomes are the log's answers.
Inputs and answers go through the CloudEvents codec as the log would hold them. The rebuild
reads only that log; its documents, written to another fresh database the way
`deploy/rebuild.py` does, must match. With a key store (`Live(vault=...)`), the records are
sealed as the producers seal them, and the log can be read again later with the keys the store
then holds (`Live.reread`: tests/integration/test_erasure_rebuild.py).
"""

import asyncio
import datetime as dt
import itertools
import uuid
from collections import defaultdict
from dataclasses import replace

import aiosmtplib
import pytest

from services.notifications import delivery as delivery_module
from services.notifications.delivery import (
    EMAIL,
    WEBHOOK,
    DeliveryWorker,
    PermanentFailure,
)
from services.notifications.handlers import Notifications
from services.notifications.rebuild import COMPARISON, rebuild
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.store import PENDING, NotificationStore
from shared import envelope, kafka, replay, topics
from shared.envelope import Event, new_event
from shared.events import (
    CriteriaSetRef,
    EvaluationCancelled,
    EvaluationReminder,
    EvaluatorReplaced,
    ExemplarRecognized,
    ExemplarReplicated,
    ExemplarRevoked,
    NominationAccepted,
    NotificationSent,
    PanelAssigned,
    PanelIncomplete,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.events.nominations import Nominee
from shared.replay import Answers, Logged, compare
from shared.unit_of_work import UnitOfWork
from shared.vault import Vault, keys_to_open, keys_to_seal
from shared.vocabulary import (
    Field,
    NomineeKind,
    RecognitionLevel,
    RevocationGround,
    Role,
)

HR, NOMINATIONS, EVALUATIONS = "urn:hr", "urn:exemplars:nominations", "urn:exemplars:evaluations"
TITLE = "Mô hình số hóa hồ sơ địa chính dùng chung"
REFUSED = "hop-thu-da-dong@monre.gov.vn"


def roundtrip(event: Event, received: envelope.Received | None = None) -> Event:
    """The event as a consumer of the log decodes it (with where and when the log received it)."""
    key, value, headers = envelope.encode(event)
    return envelope.decode(key, value, [(name, text.encode()) for name, text in headers.items()], received=received)


Raw = tuple[bytes, bytes, list[tuple[str, bytes]]]  # a record as the log holds it: key, value, headers


async def sealed(event: Event, vault: Vault | None) -> Raw:
    """The record a producer writes: personal fields sealed under their persons' keys (in clear
    without a key store)."""
    key, value, headers = envelope.encode(event, await keys_to_seal(vault, [event]))
    return key, value, [(name, text.encode()) for name, text in headers.items()]


def settings_for(database: str) -> NotificationsSettings:
    # Go-live a day ago: a record the log received before it is projected, never notified,
    # in the live service and in the rebuild alike (the age limit is judged by the live
    # clock, which a rebuild cannot know).
    return NotificationsSettings(mongo_database=database, webhook_secret="bi-mat-kiem-thu", publicity_per_minute=600,
                                 notify_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1), max_event_age_days=7)


class Mail:
    """SMTP as the worker sees it: records, refuses one mailbox for good, sends nothing."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message, address: str) -> None:
        if address == REFUSED:
            raise PermanentFailure("smtp_550")
        self.sent.append(address)


class Hooks:
    def __init__(self) -> None:
        self.called: list[str] = []

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.called.append(url)


class Live:
    """The live service: its handlers in its unit of work over its store's documents, and the
    delivery worker's claim and attempt code; every input and outcome logged."""

    def __init__(self, db, settings: NotificationsSettings, publish_fails: bool = False,
                 vault: Vault | None = None) -> None:
        self.db, self.settings, self.vault = db, settings, vault
        self.store = NotificationStore(db)
        self.handlers = Notifications(settings, default_routes())  # the real clock
        self.unit = UnitOfWork(self.store.documents, self.handlers)
        self.inputs: list[Logged] = []
        self.records: list[Raw] = []  # each input's record, in the order of `inputs`
        self.outcomes: list[Event] = []
        self.published: list[Raw] = []  # each outcome's record, in the order of `outcomes`
        self.mail, self.hooks = Mail(), Hooks()
        self.publish_fails = publish_fails
        self.worker = DeliveryWorker(self.store, settings, default_routes(), self._publish, self.mail, self.hooks,
                                     now=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=5))
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        self._phase: list[Logged] = []  # logged, not yet read: their events as produced
        self._claims = itertools.count(1)

    async def _publish(self, events: list[Event]) -> None:
        if self.publish_fails:
            raise ConnectionError("broker away")
        for event in events:
            self.published.append(await sealed(event, self.vault))
            self.outcomes.append(event)

    def log(self, topic: str, partition: int, data, key: str, source: str, time: dt.datetime | None = None,
            event: Event | None = None, at: dt.datetime | None = None) -> Event:
        """A record arriving now, unless `at` says (its event produced a moment earlier, unless
        `time` says: the sender's word, which decides nothing)."""
        at = at or dt.datetime.now(dt.UTC)
        event = event or new_event(data, key=key, source=source, time=time or at - dt.timedelta(milliseconds=40))
        offset = self._offsets[(topic, partition)]
        self._offsets[(topic, partition)] += 1
        self._phase.append(Logged(topic, partition, offset, at, event))
        return event

    async def _read(self, phase: list[Logged]) -> list[Logged]:
        """The records of `phase` sealed as their producers write them, then read as the consumer
        reads them (with where and when the log received them)."""
        read = []
        for record in phase:
            raw = await sealed(record.event, self.vault)
            received = envelope.Received(record.topic, record.partition, record.offset, record.at)
            event = envelope.decode(*raw, received=received, keys=await keys_to_open(self.vault, [raw[1]]))
            read.append(replace(record, event=event))
            self.inputs.append(read[-1])
            self.records.append(raw)
        return read

    async def process(self) -> None:
        """The records logged since the last call, topic by topic (the consumers run apart),
        each run of records from one partition one consumed batch: one unit of work."""
        routes = self.handlers.routes()
        phase = await self._read(self._phase)
        for topic in (topics.DIRECTORY, topics.EVALUATIONS, topics.NOMINATIONS):
            records = [r for r in phase if r.topic == topic]
            assert all(r.event.type in routes[topic] for r in records), "every logged type is consumed"
            for _, batch in itertools.groupby(records, key=lambda r: r.partition):
                outcomes = await self.unit.run([r.event for r in batch])
                # Live a failed input is dead-lettered, and a rebuild never reads it: none here.
                assert [(o.event.type, o.error) for o in outcomes if o.error is not None] == []
                assert all(o.publish == [] for o in outcomes)  # the handlers publish nothing
        self._phase = []

    async def work(self, skip=lambda doc: False) -> None:
        """One pass of the worker over the due deliveries, as its claim loop takes them: each
        lane's due deliveries claimed at once, those `skip` names handed back untried (as a
        batch does with what it cannot send in time), the others attempted by the worker."""
        for channel in (EMAIL, WEBHOOK):
            claimed = await self.store.claim_due(channel, self.worker.now(), self.settings.delivery_batch_size,
                                                 self.settings.delivery_lease_seconds,
                                                 f"{self.worker.worker_id}:{next(self._claims)}")
            assert len(claimed) < self.settings.delivery_batch_size, "one claim took everything due"
            await self.store.release([d for d in claimed if skip(d)], self.worker.now())
            for delivery in sorted((d for d in claimed if not skip(d)), key=lambda d: d["_id"]):
                await self.worker.attempt(delivery)
        await asyncio.sleep(0.01)  # what is logged next arrives after these outcomes

    async def answers(self) -> Answers:
        """The outcomes as a rebuild reads them now (with the keys the store holds now)."""
        keys = await keys_to_open(self.vault, [raw[1] for raw in self.published])
        return Answers.of(envelope.decode(*raw, keys=keys) for raw in self.published)

    async def reread(self) -> tuple[list[Logged], Answers]:
        """The inputs and the outcomes as a rebuild reads them now: with the keys the store
        holds now (an erased person's fields "đã xóa")."""
        keys = await keys_to_open(self.vault, [raw[1] for raw in self.records])
        inputs = [replace(r, event=envelope.decode(*raw, received=r.event.received, keys=keys))
                  for r, raw in zip(self.inputs, self.records, strict=True)]
        return inputs, await self.answers()

    async def documents(self) -> dict[str, list[dict]]:
        return await read(self.db)


async def read(db) -> dict[str, list[dict]]:
    return {name: await db[name].find().to_list() for name in COMPARISON}


async def written(db, docs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Rebuilt documents through a fresh database, as deploy/rebuild.py writes them."""
    for name, items in docs.items():
        if items:
            await db[name].insert_many(items)
    await NotificationStore(db).ensure_indexes()
    return await read(db)


@pytest.fixture
async def databases(mongo):
    names = [f"notifications_rebuild_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield [mongo[name] for name in names]
    for name in names:
        await mongo.drop_database(name)


def unit(unit_id: str, name: str, **extra) -> UnitRegistered:
    return UnitRegistered(unit_id=unit_id, name=name, valid_from=dt.date(2020, 1, 1),
                          email=f"{unit_id.lower()}@monre.gov.vn", **extra)


def staff(staff_id: str, unit_id: str, name: str, role: Role | None, email: str | None = None) -> StaffRegistered:
    return StaffRegistered(staff_id=staff_id, unit_id=unit_id, full_name=name, roles=[role] if role else [],
                           email=email or f"{staff_id.lower()}@monre.gov.vn")


async def scenario(live: Live, tag: str) -> dict[str, Event]:
    """Directory, routed events of most shapes, and the worker between and after them."""
    a, b, c = f"A{tag}", f"B{tag}", f"C{tag}"
    nom, old_nom = f"NOM-{tag}", f"NOM-OLD-{tag}"
    d, n, e = topics.DIRECTORY, topics.NOMINATIONS, topics.EVALUATIONS
    live.log(d, 0, unit(a, "Cục Đo đạc Alpha", webhook_url="http://127.0.0.1:9/hooks/thi-dua"), a, HR)
    live.log(d, 1, unit(b, "Cục Viễn thám Beta"), b, HR)
    live.log(d, 2, unit(c, "Trung tâm đã giải thể", valid_to=dt.date(2021, 12, 31)), c, HR)
    # The first version is dated by its sender in the year 9999: later true updates still win.
    first_arrival = dt.datetime.now(dt.UTC)
    live.log(d, 0, staff(f"{a}-EV", a, "Phạm Văn Chấm", Role.EVALUATOR), a, HR,
             time=dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    for staff_id, unit_id, name, role in (
            (f"{a}-LEAD", a, "Nguyễn Văn Trưởng", Role.UNIT_LEADER), (f"{a}-OFF", a, "Trần Thị Thi", Role.EMULATION_OFFICER),
            (f"{b}-OFF", b, "Lê Thị Đua", Role.EMULATION_OFFICER), (f"{b}-EV1", b, "Hoàng Văn Một", Role.EVALUATOR),
            (f"{b}-EV2", b, "Đỗ Thị Hai", Role.EVALUATOR), (f"{c}-OFF", c, "Vũ Văn Cũ", Role.EMULATION_OFFICER)):
        live.log(d, {a: 0, b: 1, c: 2}[unit_id], staff(staff_id, unit_id, name, role), unit_id, HR)
    live.log(d, 1, staff(f"{b}-EV3", b, "Bùi Văn Ba", Role.EVALUATOR), b, HR)
    live.log(d, 1, staff(f"{b}-EV1", b, "Hoàng Văn Một", Role.EVALUATOR, email=REFUSED), b, HR)
    live.log(d, 1, staff(f"{b}-MIN", b, "Bùi Thị Phòng", Role.MINISTRY_OFFICE), b, HR)
    live.log(d, 0, staff(f"{a}-EV", a, "Phạm Văn Chấm", Role.EVALUATOR, email="cham.moi@monre.gov.vn"), a, HR)
    # An older version from another partition, received before the current one but read
    # after it (the partitions' consumers run apart): history, under the position guard.
    live.log(d, 2, staff(f"{a}-EV", a, "Phạm Văn Cũ", Role.EVALUATOR, email="cham.cu@monre.gov.vn"), a, HR,
             at=first_arrival - dt.timedelta(seconds=1))
    live.log(d, 1, StaffRemoved(staff_id=f"{b}-EV2", unit_id=b), b, HR)
    live.log(d, 1, StaffRemoved(staff_id=f"{b}-GHOST", unit_id=b), b, HR)  # never registered

    events = {}
    nominee = Nominee(kind=NomineeKind.COLLECTIVE, name="Phòng Địa chính", members=9)
    events["accepted"] = live.log(n, 0, NominationAccepted(
        nomination_id=nom, unit_id=a, year=2025, nominee=nominee, field=Field.LAND.value, movement="Thi đua số hóa",
        title=TITLE, summary="Rút ngắn thời gian xử lý hồ sơ.", submitter_id=f"{a}-LEAD", accepted_in_year=1,
        yearly_maximum=3), nom, NOMINATIONS)
    panel = PanelAssigned(nomination_id=nom, unit_id=a, year=2025, field=Field.LAND, nominee_kind=NomineeKind.COLLECTIVE,
                          title=TITLE, criteria=CriteriaSetRef(set_id="land.collective", version=1),
                          evaluators=[f"{a}-EV", f"{b}-EV1", f"{b}-EV2"], deadline=dt.date(2025, 12, 15))
    events["panel"] = live.log(e, 0, panel, nom, EVALUATIONS)
    live.log(e, 0, None, nom, EVALUATIONS, event=events["panel"])  # redelivered
    events["replaced"] = live.log(e, 0, EvaluatorReplaced(
        nomination_id=nom, title=TITLE, recused_id=f"{b}-EV1", replacement_id=f"{b}-EV3", reason="Xung đột lợi ích",
        deadline=dt.date(2025, 12, 15)), nom, EVALUATIONS)
    events["nobody"] = live.log(e, 1, EvaluationReminder(
        nomination_id=f"NOM-X-{tag}", evaluator_id=f"{a}-NEW", title="Hồ sơ khác", deadline=dt.date(2025, 12, 1),
        days_left=3), f"NOM-X-{tag}", EVALUATIONS)
    events["incomplete"] = live.log(e, 1, PanelIncomplete(
        nomination_id=f"NOM-I-{tag}", unit_id=b, title="Hồ sơ thiếu hội đồng", required=3, assigned=[f"{a}-EV"]),
        f"NOM-I-{tag}", EVALUATIONS)
    # Received before go-live: not notified, still remembered.
    live.log(e, 1, panel.model_copy(update={"nomination_id": old_nom}), old_nom, EVALUATIONS,
             at=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    # Dated long ago by its sender but received now: notified (the sender's clock decides nothing).
    events["dated"] = live.log(e, 1, EvaluationReminder(
        nomination_id=f"NOM-D-{tag}", evaluator_id=f"{b}-EV3", title="Hồ sơ đề ngày cũ", deadline=dt.date(2025, 12, 1),
        days_left=3), f"NOM-D-{tag}", EVALUATIONS, time=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    exemplar = f"EX-{tag}"
    events["replicated"] = live.log(e, 2, ExemplarReplicated(
        exemplar_id=exemplar, unit_id=b, title="Bản đồ viễn thám theo mùa", adopting_unit_id=a, distinct_units=2),
        exemplar, EVALUATIONS)
    events["recognized"] = live.log(e, 2, ExemplarRecognized(
        exemplar_id=exemplar, nomination_id=f"NOM-R-{tag}", unit_id=b, year=2025, field=Field.SURVEYING_MAPPING,
        nominee_name="Phòng Viễn thám", title="Bản đồ viễn thám theo mùa", level=RecognitionLevel.MINISTRY,
        decision_ref="12/QĐ-BNNMT", total=88.5), exemplar, EVALUATIONS)
    def left(doc: dict) -> bool:  # never claimed, as if the worker had not come to it yet
        return doc["recipient_id"] == f"unit:{b}" and doc["event_id"] == events["recognized"].id

    await live.process()
    await live.work(skip=lambda doc: doc["publicity"] or left(doc))  # the paced one waits for its slot

    # Then A is renamed (the replication mail already named it) and its officer's address
    # changes before the paced publicity reaches them; the cancellation finds the panel.
    live.log(d, 0, unit(a, "Cục Đo đạc và Bản đồ Alpha", webhook_url="http://127.0.0.1:9/hooks/thi-dua"), a, HR)
    live.log(d, 0, staff(f"{a}-OFF", a, "Trần Thị Thi", Role.EMULATION_OFFICER, email="thi.moi@monre.gov.vn"), a, HR)
    events["cancelled"] = live.log(e, 0, EvaluationCancelled(nomination_id=nom, reason="Đơn vị đã rút hồ sơ"), nom,
                                   EVALUATIONS)
    await live.process()
    await asyncio.sleep(0.2)  # the publicity slot (0.1 s apart) comes due
    await live.work(skip=left)

    # The recognition is revoked: told to whom the recognition reached, not to an officer
    # registered since (its deliveries are left unclaimed).
    live.log(d, 0, staff(f"{a}-OFF2", a, "Lê Văn Mới", Role.EMULATION_OFFICER), a, HR)
    events["revoked"] = live.log(e, 2, ExemplarRevoked(
        exemplar_id=exemplar, nomination_id=f"NOM-R-{tag}", unit_id=b, year=2025, field=Field.SURVEYING_MAPPING,
        nominee_name="Phòng Viễn thám", title="Bản đồ viễn thám theo mùa", level=RecognitionLevel.MINISTRY,
        decision_ref="12/QĐ-BNNMT", revocation_ref="3/QĐ-BNNMT", revoked_on=dt.date(2025, 12, 20),
        ground=RevocationGround.FRAUD, reason="Số liệu kê khai không đúng.", distinct_units=1), exemplar, EVALUATIONS)
    await live.process()
    return events


# One record per batch: each input reads all it needs alone (an outcome names only its
# delivery, and a panel's members are known once its nomination is read).
@pytest.mark.parametrize("batch", [replay.REPLAY_BATCH, 1], ids=["batched", "alone"])
async def test_rebuild_matches_the_live_projection(databases, monkeypatch, batch):
    monkeypatch.setattr(replay, "REPLAY_BATCH", batch)
    live_db, rebuilt_db = databases
    settings = settings_for(live_db.name)
    live = Live(live_db, settings)
    await live.store.ensure_indexes()
    tag = uuid.uuid4().hex[:6].upper()
    events = await scenario(live, tag)
    before = (list(live.mail.sent), list(live.hooks.called))

    async def forbidden(*args, **kwargs):
        raise AssertionError("a rebuild sends and publishes nothing")

    for target, name in ((aiosmtplib, "send"), (delivery_module.SmtpSender, "send"),
                         (delivery_module.WebhookSender, "send"), (kafka, "publish"),
                         (delivery_module.DeliveryWorker, "attempt")):
        monkeypatch.setattr(target, name, forbidden)
    answers = await live.answers()
    rebuilt = await rebuild(live.inputs, answers, settings)

    live_docs = await live.documents()
    assert compare(live_docs, rebuilt, COMPARISON) == []
    assert compare(live_docs, await written(rebuilt_db, rebuilt), COMPARISON) == []
    assert answers.divergent == []
    assert (live.mail.sent, live.hooks.called) == before

    # The scenario reached what it means to test.
    by_status = defaultdict(list)
    for doc in live_docs["deliveries"]:
        by_status[doc["status"]].append(doc)
    assert len(by_status["failed"]) == 2 and {d["address"] for d in by_status["failed"]} == {REFUSED}
    assert {d["channel"] for d in by_status["sent"]} == {"email", "webhook"}
    assert any(d["attempts"] == 1 and d["last_error"] for d in by_status["pending"])  # the unknown evaluator
    assert any(d["attempts"] == 0 for d in by_status["pending"])  # never claimed
    paced = next(d for d in by_status["sent"] if d["publicity"])
    assert paced["address"] == "thi.moi@monre.gov.vn"  # not the address it was planned with
    replicated = next(d for d in by_status["sent"] if d["event_id"] == events["replicated"].id)
    assert replicated["subject"].endswith("được áp dụng tại Cục Đo đạc Alpha")  # before the rename
    cancelled = [d for d in by_status["sent"] if d["event_id"] == events["cancelled"].id]
    assert len(cancelled) == 2 and cancelled[0]["subject"] == f"Dừng đánh giá hồ sơ: {TITLE}"
    office = [d["recipient_id"] for d in live_docs["deliveries"] if d["event_id"] == events["incomplete"].id]
    assert len(office) == 1 and office[0].endswith("-MIN")
    assert {d["_id"] for d in live_docs["pacing"]} == {"publicity"}
    assert any(d["removed"] and "email" not in d for d in live_docs["staff"])  # the never-registered removal
    assert len(live_docs["nominations"]) == 4 and len(live_docs["events"]) == 10
    told = {d["recipient_id"] for d in live_docs["deliveries"] if d["event_id"] == events["recognized"].id}
    revoked = {d["recipient_id"] for d in live_docs["deliveries"] if d["event_id"] == events["revoked"].id}
    assert revoked == told and f"A{tag}-OFF" in told and f"A{tag}-OFF2" not in told
    recognized = next(d for d in live_docs["nominations"] if d["_id"] == events["recognized"].data.nomination_id)
    assert recognized["told_of_recognition"] == sorted(told)
    assert any(d["event_id"] == events["dated"].id for d in by_status["sent"])
    cham = next(d for d in live_docs["staff"] if d["_id"].endswith("-EV") and d["unit_id"].startswith("A"))
    assert cham["email"] == "cham.moi@monre.gov.vn"  # neither the year 9999 nor the late old version


async def test_outcomes_of_deliveries_the_replay_does_not_plan_are_divergent(databases):
    live_db, _ = databases
    settings = settings_for(live_db.name)
    live = Live(live_db, settings)
    await live.store.ensure_indexes()
    events = await scenario(live, uuid.uuid4().hex[:6].upper())
    answers = await live.answers()
    stranger = roundtrip(new_event(NotificationSent(
        delivery_id="notification-nobody-planned", notified_event_id=str(uuid.uuid4()),
        notified_event_type="evaluation.reminder", recipient_id="X-1", channel="email", address="x@monre.gov.vn",
        attempts=1), key="X-1", source=delivery_module.SOURCE, id_parts=("notification-nobody-planned",)))
    answers.by_id[stranger.id] = stranger
    # A log that lost the replication record: its sent mails name deliveries never planned.
    inputs = [r for r in live.inputs if r.event.id != events["replicated"].id]

    rebuilt = await rebuild(inputs, answers, settings)

    replicated = {e.id for e in live.outcomes if e.data.notified_event_id == events["replicated"].id}
    assert len(replicated) == 2
    assert {e.id for e in answers.divergent} == replicated | {stranger.id}
    differences = compare(await live.documents(), rebuilt, COMPARISON)
    lost = next(r.event for r in live.inputs if r.event.id == events["replicated"].id)
    assert [(d.collection, len(d.missing), d.extra, d.changed) for d in differences] == [
        ("events", 1, [], []), ("deliveries", 2, [], []), ("answers", 1, [], [])]
    assert differences[-1].missing == [lost.dedup_key]  # the lost input was answered live only


async def one_reminder(live: Live) -> None:
    await live.store.ensure_indexes()
    tag = uuid.uuid4().hex[:6].upper()
    live.log(topics.DIRECTORY, 0, unit(f"A{tag}", "Cục Alpha"), f"A{tag}", HR)
    live.log(topics.DIRECTORY, 0, staff(f"A{tag}-EV", f"A{tag}", "Phạm Văn Chấm", Role.EVALUATOR), f"A{tag}", HR)
    live.log(topics.EVALUATIONS, 0, EvaluationReminder(
        nomination_id=f"NOM-{tag}", evaluator_id=f"A{tag}-EV", title=TITLE, deadline=dt.date(2025, 12, 1),
        days_left=3), f"NOM-{tag}", EVALUATIONS)
    await live.process()
    await live.work()


async def test_an_outcome_stamped_before_its_input_arrived_still_finishes_it(databases):
    live_db, _ = databases
    settings = settings_for(live_db.name)
    live = Live(live_db, settings)
    await one_reminder(live)
    (outcome,) = live.outcomes
    # The producer's clock ran a minute ahead of the worker's.
    inputs = [replace(r, at=outcome.time + dt.timedelta(minutes=1)) if r.topic == topics.EVALUATIONS else r
              for r in live.inputs]
    answers = await live.answers()

    rebuilt = await rebuild(inputs, answers, settings)

    assert answers.divergent == [] and compare(await live.documents(), rebuilt, COMPARISON) == []


async def test_an_outcome_not_yet_published_is_reported_not_excused(databases):
    live_db, _ = databases
    settings = settings_for(live_db.name)
    live = Live(live_db, settings, publish_fails=True)  # the outbox has not caught up
    await one_reminder(live)
    (sent,) = await live.db["deliveries"].find().to_list()
    assert sent["status"] == "sent" and sent["outcome_pending"] is True and live.outcomes == []

    answers = await live.answers()
    rebuilt = await rebuild(live.inputs, answers, settings)

    assert answers.divergent == []
    assert [d["status"] for d in rebuilt["deliveries"]] == [PENDING]  # the worker will send it again
    (difference,) = compare(await live.documents(), rebuilt, COMPARISON)
    assert difference.collection == "deliveries" and [key for key, _ in difference.changed] == [sent["_id"]]
