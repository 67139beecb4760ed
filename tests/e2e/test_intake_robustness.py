"""The nominations intake as unit systems really write to it: poison beside valid records in
the same producer batches, and the clients and CloudEvents SDKs they use."""

import asyncio
import datetime as dt
import json
import uuid

from aiokafka import AIOKafkaProducer

from deploy.demo_data import MODELS, submission
from shared import envelope, topics
from shared.envelope import new_event
from tests.e2e.test_nominations import answer, people

ANSWER_TYPES = topics.BY_NAME[topics.NOMINATIONS].event_types
CE_SUBMITTED = "vn.gov.monre.exemplars.nomination.submitted.v1"


def valid_submission(n: int):
    unit = ("DDBD", "TTDL", "VKTTV", "QLDD")[n % 4]
    # Distinct nominees: each is accepted or refused (quota) on its merits, and answered either way.
    sub = submission(f"NOM-R-{n}-{uuid.uuid4().hex[:6]}", people()[unit]["emulation_officer"], 2024,
                     MODELS[n % len(MODELS)], team=f"Tổ công tác số {n} {uuid.uuid4().hex[:6]}")
    return new_event(sub, key=sub.nomination_id, source=f"urn:unit:{unit}")


def structured(attrs: dict, data_json: bytes) -> bytes:
    head = json.dumps({"specversion": "1.0", "datacontenttype": "application/json", **attrs}, ensure_ascii=False)
    return head[:-1].encode() + b', "data": ' + data_json + b"}"


def poison_records() -> list[tuple[str, bytes, bytes, dict[str, bytes]]]:
    """(expected reason, key, value, headers) of every kind of bad record."""
    good = valid_submission(99)
    _, value, headers = envelope.encode(good)
    hdrs = {k: v.encode() for k, v in headers.items()}
    ids = iter(str(uuid.uuid4()) for _ in range(10))
    attrs = lambda: {"id": next(ids), "source": "urn:unit:DDBD", "type": CE_SUBMITTED}  # noqa: E731
    ce = {"content-type": b"application/cloudevents+json; charset=UTF-8"}
    huge_int = value.replace(b'"year":2024', b'"year":' + b"7" * 5_000)
    assert huge_int != value
    return [
        # json.loads raises RecursionError, not JSONDecodeError.
        ("undecodable", b"P-deep", structured(attrs(), b"[" * 50_000 + b"]" * 50_000), ce),
        # json.loads raises ValueError past 4,300 digits.
        ("undecodable", b"P-int", structured(attrs(), huge_int), ce),
        ("undecodable", b"P-utf8", structured(attrs(), b'{"title": "\xff\xfe bad"}'), ce),
        ("undecodable", b"P-header", value, {**hdrs, "ce_id": next(ids).encode(), "x-trace": b"\xff\xfe"}),
        # An unknown field makes it large; the payload itself would be valid.
        ("too_large", b"P-large", value[:-1] + b', "padding": "' + b"a" * 300_000 + b'"}',
         {**hdrs, "ce_id": next(ids).encode()}),
        ("clock_skew", b"P-future", value, {**hdrs, "ce_id": next(ids).encode(), "ce_time": b"2999-01-01T00:00:00Z"}),
    ]


async def test_poison_in_the_batches_of_valid_records_costs_them_nothing(nominations_service, producer, topic_log):
    dlq = await topic_log(topics.dlq(topics.NOMINATIONS_INTAKE))
    valid = [valid_submission(n) for n in range(24)]
    poison = poison_records()
    sends = []
    for n, event in enumerate(valid):
        key, value, headers = envelope.encode(event)
        sends.append(await producer.send(topics.NOMINATIONS_INTAKE, value, key=key,
                                          headers=[(k, v.encode()) for k, v in headers.items()]))
        if n % 4 == 1:  # interleaved: each poison record shares a producer batch with valid records
            _, pkey, pvalue, pheaders = poison[n // 4]
            sends.append(await producer.send(topics.NOMINATIONS_INTAKE, pvalue, key=pkey, headers=list(pheaders.items())))
    await asyncio.gather(*sends)

    replies = await asyncio.gather(*(answer(topic_log, event, timeout=60) for event in valid))
    assert {r.type for r in replies} <= {"nomination.accepted", "nomination.rejected"}
    keys = {key for _, key, _, _ in poison}
    letters = await dlq.wait_for(lambda: (found := [r for r in dlq.records if r.key in keys]) and
                                 len(found) >= len(poison) and found, timeout=60, what="every poison dead-lettered")
    await asyncio.sleep(1.0)

    log = await topic_log(topics.NOMINATIONS)
    for event in valid:
        expected = {envelope.derived_id(event.dedup_key, t) for t in ANSWER_TYPES}
        assert len([e for e in log.events() if e.id in expected]) == 1, f"{event.data.nomination_id} answered once"
    letters = [r for r in dlq.records if r.key in keys]
    assert len(letters) == len(poison), "each poison record dead-lettered once"
    by_key = {r.key: r for r in letters}
    for reason, key, value, _ in poison:
        headers = {k: v for k, v in by_key[key].headers}
        assert by_key[key].value == value, f"{key!r}: the original bytes"
        assert headers["x-dlq-reason"].decode() == reason, key


# ---- the clients and SDKs unit systems use ----------------------------------------------


def sdk_event(event):
    """The same submission as a unit system's CloudEvents SDK builds it."""
    from cloudevents.core.v1.event import CloudEvent

    return CloudEvent(attributes={"id": event.id, "source": event.source, "type": CE_SUBMITTED,
                                  "specversion": "1.0", "datacontenttype": "application/json",
                                  "time": dt.datetime.now(dt.UTC), "subject": event.key},
                      data=json.loads(event.data.model_dump_json(exclude_none=True)))


def legacy_sdk_event(event):
    from cloudevents.v1.http import CloudEvent

    return CloudEvent({"id": event.id, "source": event.source, "type": CE_SUBMITTED, "subject": event.key,
                       "datacontenttype": "application/json"},
                      json.loads(event.data.model_dump_json(exclude_none=True)))


def current_api(event, mode: str):
    from cloudevents.core.bindings import kafka as binding
    from cloudevents.core.formats.json import JSONFormat

    convert = binding.to_binary if mode == "binary" else binding.to_structured
    message = convert(sdk_event(event), JSONFormat(), key_mapper=lambda _: event.key)
    return message.key, message.value, dict(message.headers)


def legacy_api(event, mode: str):
    from cloudevents.v1 import kafka as binding

    convert = binding.to_binary if mode == "binary" else binding.to_structured
    message = convert(legacy_sdk_event(event), key_mapper=lambda _: event.key)
    return message.key, message.value, dict(message.headers)


def with_kafka_python(bootstrap: str, records: list) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value, headers in records:
            producer.send(topics.NOMINATIONS_INTAKE, value=value, key=_bytes(key),
                          headers=[(k, _bytes(v)) for k, v in headers.items()]).get(timeout=30)
    finally:
        producer.close()


def with_confluent_kafka(bootstrap: str, records: list) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value, headers in records:
        producer.produce(topics.NOMINATIONS_INTAKE, value=value, key=_bytes(key),
                         headers=[(k, _bytes(v)) for k, v in headers.items()])
    assert producer.flush(30) == 0, "confluent-kafka delivered everything"


async def with_aiokafka(bootstrap: str, records: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topics.NOMINATIONS_INTAKE, _bytes(value), key=_bytes(key),
                                         headers=[(k, _bytes(v)) for k, v in headers.items()])
    finally:
        await producer.stop()


def _bytes(value) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def signed(stack, key, value, headers: dict) -> tuple:
    """The record as the unit's system signs it (README, "For unit systems")."""
    value, pairs = stack.keyring.sign_record(_bytes(value), [(k, _bytes(v)) for k, v in headers.items()])
    return key, value, dict(pairs)


async def test_every_sdk_and_client_a_unit_system_uses_is_understood(nominations_service, stack, topic_log):
    bootstrap = stack.config.bootstrap
    cases = {(api.__name__, mode): valid_submission(100 + n)
             for n, (api, mode) in enumerate((a, m) for a in (current_api, legacy_api) for m in ("binary", "structured"))}
    records = {case: signed(stack, *(current_api if case[0] == "current_api" else legacy_api)(event, case[1]))
               for case, event in cases.items()}
    # The legacy API's structured mode sends the data's content type, not CloudEvents' (TRAPS.md).
    legacy_ct = records[("legacy_api", "structured")][2].get("content-type")
    assert legacy_ct in (None, "application/json", b"application/json")

    await asyncio.to_thread(with_kafka_python, bootstrap, [records[("current_api", "binary")],
                                                           records[("legacy_api", "structured")]])
    await asyncio.to_thread(with_confluent_kafka, bootstrap, [records[("current_api", "structured")]])
    await with_aiokafka(bootstrap, [records[("legacy_api", "binary")]])

    for case, event in cases.items():
        reply = await answer(topic_log, event, timeout=60)
        assert reply.type in ("nomination.accepted", "nomination.rejected"), case
        assert reply.data.nomination_id == event.data.nomination_id, case
