"""shared.kafka's subscriber over the real broker: every record meets its own fate.

The subscriber runs in this process with a decider of the test's own (it always fails on a
marked record, and answers another with an event too large to send), so each failure is
certain; everything else is the code every service runs, a unit of work per batch over a
database of the test's own, against Tansu and SecantusDB.
"""

import asyncio
import json
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.demo_data import MODELS, StaffMember, submission
from shared import envelope, kafka
from shared.credentials import Authenticator, Credentials, Signer
from shared.documents import MongoDocuments
from shared.envelope import Event, new_event
from shared.events import NominationRejected, Reason
from shared.progress import PROGRESS
from shared.settings import ServiceSettings
from shared.topics import dlq
from shared.trust import ReloadingRegistry
from shared.unit_of_work import Decision, Needs, UnitOfWork, View
from tests.conftest import TopicLog

SENDER = StaffMember("U-02", "U", "Lê Văn Hùng", (), ())


async def make_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions if not name.endswith(".dlq") else 1, 1) for name in names])
    finally:
        await admin.close()


def answer_to(event: Event) -> Event:
    sub = event.data
    return new_event(NominationRejected(nomination_id=sub.nomination_id, unit_id=sub.unit_id, year=sub.year,
                                        reasons=[Reason(code="TEST", message="Đã nhận.")]),
                     key=sub.nomination_id, source="urn:test", derived_from=event)


class Fated:
    """Answers every submission on `topic`, but for the marked ones: "FAIL" always raises,
    "BIG" is answered with an event above the producer's limit."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def routes(self) -> dict[str, dict[str, object]]:
        return {self.topic: {"nomination.submitted": self.decide}}

    def needs(self, event: Event) -> Needs:
        return {}

    def decide(self, view: View, event: Event) -> Decision:
        if event.data.title == "FAIL":
            raise RuntimeError("this record always fails")
        if event.data.title == "BIG":
            reasons = [Reason(code="TEST", message="x" * 1000) for _ in range(20)]
            return Decision.of(publish=[new_event(
                NominationRejected(nomination_id=event.data.nomination_id, unit_id="U", year=2024, reasons=reasons),
                key=event.key, source="urn:test", derived_from=event)])
        return Decision.of(publish=[answer_to(event)])


@pytest.fixture
async def topics_of_a_test(stack):
    name = f"test.fate.{uuid.uuid4().hex[:8]}"
    out = f"{name}.out"
    await make_topics(stack.config.bootstrap, name, dlq(name), out)
    return name, out


@pytest.fixture
async def db(mongo):
    name = f"fate_{uuid.uuid4().hex[:8]}"
    yield mongo[name]
    await mongo.drop_database(name)


async def run_subscriber(stack, db, topic: str, out: str):
    settings = ServiceSettings(kafka_bootstrap_servers=stack.config.bootstrap, kafka_enable_idempotence=False,
                               retry_backoff_seconds=0.01, retry_backoff_max_seconds=0.05,
                               # Small enough that the BIG answer (~20 kB) cannot be sent.
                               kafka_max_request_bytes=16_384)
    broker = kafka.make_broker(settings, "fate-test")
    decider = Fated(topic)

    # Verifying as the services do; its answers unsigned, as nothing consumes them.
    credentials = Credentials(Signer(None), Authenticator(ReloadingRegistry(stack.keyring.trust_file)))

    def sendable(events: list[Event]) -> None:  # as subscribe_units: too large is the input's fate, before any write
        kafka._sendable(kafka.outgoing(out, events, credentials.signer), settings)

    unit = UnitOfWork(MongoDocuments(db), decider, check=sendable)
    kafka.subscribe(broker, topic, service="fate-test", name=topic, handlers=decider.routes()[topic], unit=unit,
                    output_topic=out, settings=settings, credentials=credentials, vault=None, ignore_unhandled=False)
    await broker.start()
    return broker


async def test_failures_of_one_record_never_cost_its_neighbours(stack, producer, topics_of_a_test, db, monkeypatch):
    topic, out = topics_of_a_test
    # The first two batches fail after their records were handled (as a broken publish
    # would): the consumer must rewind every partition, not commit past them.
    real = kafka.publish_answers
    failures = {"left": 2}

    async def flaky(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("injected: the batch failed after its handlers ran")
        return await real(*args, **kwargs)

    monkeypatch.setattr(kafka, "publish_answers", flaky)

    valid = [new_event(submission(f"NOM-F-{n}-{uuid.uuid4().hex[:6]}", SENDER, 2024, MODELS[n % len(MODELS)]),
                       key=f"K{n}", source="urn:unit:U") for n in range(24)]
    failing = new_event(submission("NOM-FAIL", SENDER, 2024, MODELS[0]).model_copy(update={"title": "FAIL"}),
                        key="K3", source="urn:unit:U")
    big = new_event(submission("NOM-BIG", SENDER, 2024, MODELS[0]).model_copy(update={"title": "BIG"}),
                    key="K7", source="urn:unit:U")
    deep_body = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "urn:unit:U",
                            "type": "vn.gov.monre.exemplars.nomination.submitted.v1"})[:-1]
    deep = (deep_body + ', "data": ' + "[" * 5_000 + "]" * 5_000 + "}").encode()
    records = [envelope.encode(e) for e in valid[:12]] + [envelope.encode(failing)]
    records += [(b"K5", deep, {"content-type": "application/cloudevents+json"}), envelope.encode(big)]
    records += [envelope.encode(e) for e in valid[12:]]

    dead = await TopicLog(stack.config.bootstrap, dlq(topic), stack.vault()).start()
    answers = await TopicLog(stack.config.bootstrap, out, stack.vault()).start()
    broker = await run_subscriber(stack, db, topic, out)
    try:
        # One producer batch per partition: the poison shares its batches with valid records.
        futures = [await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
                   for key, value, headers in records]
        await asyncio.gather(*futures)

        expected = {envelope.derived_id(e.dedup_key, NominationRejected.event_type) for e in valid}
        await answers.wait_for(lambda: expected <= {e.id for e in answers.events()}, timeout=60,
                               what="an answer to every valid record")
        await dead.wait_for(lambda: len(dead.records) >= 3, timeout=30, what="three dead letters")
        await asyncio.sleep(1.0)  # anything repeated would have arrived by now
    finally:
        await broker.stop()
        await answers.stop()
        await dead.stop()

    answered = [e.id for e in answers.events()]
    assert sorted(answered) == sorted(expected), "every valid record answered, once"
    letters = {(r.value, dict(r.headers)["x-dlq-reason"].decode()) for r in dead.records}
    assert len(dead.records) == 3, "every poison record dead-lettered once"
    assert letters == {(envelope.encode(failing)[1], "handler_error"), (deep, "undecodable"),
                       (envelope.encode(big)[1], "handler_error")}
    errors = {dict(r.headers)["x-dlq-error"].decode() for r in dead.records}
    assert any("always fails" in e for e in errors) and any("above the producer's limit" in e for e in errors)
    assert failures["left"] == 0, "the injected batch failures happened"
    assert not PROGRESS.failing(), "the partitions moved again once the batches went through"
