"""Kafka consumption done right by default.

`subscribe` registers a batch subscriber that
- uses its own consumer group per (service, handler), starts from the earliest offset and
  commits manually, only after every record of the batch has been handled and every
  resulting publish (outputs and dead letters) has been confirmed by the broker;
- decides each batch as one unit of work (shared/unit_of_work.py), each partition in order,
  and commits its documents and answers at once;
- gives every record its own fate: whatever goes wrong with one record (decoding,
  validation, its size, its time, the handler, encoding or publishing its answers) ends
  as that record's dead letter, never as its neighbours' loss;
- retries outages (database or broker unreachable) and conflicts with another instance
  without limit and with backoff, since skipping would lose the event; a handler's error
  is its input's dead letter at once (a decision without I/O fails the same way again);
- and should anything still escape, rewinds every partition of the batch to its first
  record and tries again: the consumer never commits past a record it did not handle. A
  partition that keeps failing is reported (shared/progress.py), not skipped.

A redelivered batch is harmless: an input answered before is not decided again, its
stored answer is published again, under the same deterministic ids.
"""

import asyncio
import base64
import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from weakref import WeakKeyDictionary

from aiokafka import TopicPartition
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import envelope, groups, logs
from shared.credentials import NOT_AUTHORIZED_LETTER, Credentials, Signer
from shared.envelope import Event, PoisonMessage
from shared.kafka_security import broker_security
from shared.outages import OUTAGES, REFUSED_RECORDS
from shared.progress import PROGRESS, STALLED_AFTER
from shared.settings import ServiceSettings
from shared.topics import DIRECTORY, INTAKES, OUTSIDE_WRITERS, dlq
from shared.personal import Keys
from shared.unit_of_work import Conflict, Decider, Documents, Outcome, UnitOfWork
from shared.vault import SIZING_KEYS, Vault, keys_to_open, keys_to_seal

log = logging.getLogger("exemplars.kafka")

HANDLER_ERROR = "handler_error"
UNEXPECTED_TYPE = "unexpected_type"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    # The consumed record this answers: if the broker refuses it, that record is dead-lettered.
    origin: Any = field(default=None, compare=False)


class AnswerTooLarge(Exception):
    """An answer above what the producer may send: the input's fate, not an outage."""


class RecordsRefused(Exception):
    """The broker refused records for what they are (size), so retrying cannot help."""


@dataclass(frozen=True)
class Subscription:
    """What one `subscribe` call consumes: read by the metrics (lag) and the AsyncAPI document."""

    title: str
    topic: str
    group_id: str
    event_types: tuple[str, ...]
    ignores_others: bool


_subscriptions: "WeakKeyDictionary[KafkaBroker, list[Subscription]]" = WeakKeyDictionary()


def subscriptions(broker: KafkaBroker) -> list[Subscription]:
    return list(_subscriptions.get(broker, ()))


def group_id(settings: ServiceSettings, service: str, name: str) -> str:
    return f"{settings.kafka_group_prefix}{service}.{name}"


def make_broker(settings: ServiceSettings, client_id: str, middlewares: Sequence[Any] = ()) -> KafkaBroker:
    """`middlewares`: FastStream broker middlewares, e.g. the metrics' (they see every publish)."""
    settings.warn_if_weak(client_id)
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        graceful_timeout=settings.graceful_timeout_seconds,
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        max_request_size=settings.kafka_max_request_bytes,
        logger=logging.getLogger(f"exemplars.{client_id}.broker"),
        log_level=logging.DEBUG,  # per-message logs cost more than the handler (TRAPS.md)
        middlewares=tuple(middlewares),
        security=broker_security(settings),
    )


async def start(broker: KafkaBroker) -> None:
    """`broker.start()`, with every subscriber joining its consumer group at once.

    The broker holds a new group's first JoinGroup for its initial rebalance delay (3 s on
    Kafka by default, and on Tansu) in case more members come; FastStream starts subscribers
    one after another, so a service of three groups took 9 s to start, and as long again
    after every restart. The steps are FastStream's own (`KafkaBroker.start`), only the
    subscribers' are taken together."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


def outgoing(topic: str, events: Iterable[Event], signer: Signer, origin: Any = None,
             actor: str | None = None, keys: Keys | None = None) -> list[Outgoing]:
    """Signed records; with `actor`, signed as acting for that person (the workspace); with
    the persons' `keys` (`vault.keys_to_seal`), their personal fields sealed."""
    result = []
    for event in events:
        key, value, headers = envelope.encode(event, keys)
        result.append(Outgoing(topic, key, value, signer.headers(headers, value, actor), origin))
    return result


async def publish(broker: KafkaBroker, messages: list[Outgoing], settings: ServiceSettings) -> None:
    """Publish and await confirmation: in order per (topic, key), keys concurrently.

    Retries on broker errors until it succeeds; a retry may repeat a record already written,
    which consumers drop by its CloudEvents id. A record the broker refuses for what it is
    raises `RecordsRefused` once the others are confirmed.
    """
    refused = await _send(broker, messages, settings)
    if refused:
        raise RecordsRefused("; ".join(f"{m.topic}: {type(exc).__name__}: {exc}" for m, exc in refused)[:2000])


async def _send(broker: KafkaBroker, messages: list[Outgoing], settings: ServiceSettings) -> list[tuple[Outgoing, Exception]]:
    """Send everything the broker accepts; returns what it refused, with why."""
    by_key: dict[tuple[str, bytes | None], list[Outgoing]] = defaultdict(list)
    for message in messages:
        by_key[(message.topic, message.key)].append(message)

    async def send_in_order(group: list[Outgoing]) -> list[tuple[Outgoing, Exception]]:
        refused = []
        for message in group:
            try:
                await broker.publish(message.value, message.topic, key=message.key, headers=message.headers)
            except REFUSED_RECORDS as exc:
                refused.append((message, exc))
        return refused

    attempt = 0
    while True:
        try:
            results = await asyncio.gather(*(send_in_order(group) for group in by_key.values()))
            return [item for refused in results for item in refused]
        except OUTAGES as exc:
            attempt += 1
            log.warning("publish of %d records to %s failed (attempt %d), retrying: %r", len(messages),
                        ", ".join(sorted({m.topic for m in messages})), attempt, exc)
            await asyncio.sleep(_backoff(settings, attempt))


async def publish_answers(broker: KafkaBroker, answers: list[Outgoing], service: str, settings: ServiceSettings) -> None:
    """Publish a batch's answers; an input whose answer the broker refuses is dead-lettered instead."""
    refused = await _send(broker, answers, settings)
    letters: dict[tuple[str, int, int], Outgoing] = {}
    for message, exc in refused:
        record = message.origin
        if record is None:
            raise RecordsRefused(f"{message.topic}: {type(exc).__name__}: {exc}")
        letters[(record.topic, record.partition, record.offset)] = _dead_letter(
            record, service, HANDLER_ERROR, f"the broker refused an answer ({message.topic}): {type(exc).__name__}: {exc}")
    if letters:
        await publish(broker, list(letters.values()), settings)


def subscribe_units(broker: KafkaBroker, service: str, decider: Decider, documents: Documents,
                    settings: ServiceSettings, credentials: Credentials, vault: Vault | None,
                    gates: Mapping[str, Callable[[], Awaitable[None]]] | None = None) -> UnitOfWork:
    """Every subscription `shared.groups` lists for `service`, each batch one unit of work of
    `decider` (its `routes()` says which types each topic carries) over `documents`, every
    record verified by `credentials` first and every answer signed with them, personal fields
    opened and sealed with the `vault`'s keys. `gates`: per topic, what its batches wait for
    first (`directory_first`)."""
    output_topic = groups.OUTPUT_TOPICS.get(service)  # None: a projection only, it answers nothing

    def sendable(events: list[Event]) -> None:  # an answer too large is its input's fate, before any write
        _sendable(outgoing(output_topic, events, credentials.signer, keys=SIZING_KEYS), settings)

    unit = UnitOfWork(documents, decider, check=sendable)
    routes = decider.routes()
    for sub in groups.of_service(service):
        subscribe(broker, sub.topic, service=service, name=sub.name, handlers=routes[sub.topic], unit=unit,
                  output_topic=output_topic, settings=settings, credentials=credentials, vault=vault,
                  ignore_unhandled=sub.ignore_unhandled, gate=(gates or {}).get(sub.topic))
    return unit


def directory_first(lag: Any, settings: ServiceSettings, service: str) -> Callable[[], Awaitable[None]]:
    """A gate that opens once the service's directory group has committed what the directory
    held when it was first asked: an instance reading history from the start (a new
    deployment, a new group) must not judge submissions or panels before it knows the units
    and people they name. Once open, it stays open."""
    opened = False

    async def gate() -> None:
        nonlocal opened
        if not opened:
            await lag.wait_caught_up(group_id(settings, service, "directory"), [DIRECTORY], poll_seconds=0.2)
            opened = True

    return gate


def subscribe(
    broker: KafkaBroker,
    topic: str,
    *,
    service: str,
    name: str,
    handlers: Mapping[str, object],
    unit: UnitOfWork,
    output_topic: str | None,
    settings: ServiceSettings,
    credentials: Credentials,
    vault: Vault | None,
    ignore_unhandled: bool,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Consume `topic`, each batch one unit of work (shared/unit_of_work.py) of the event
    types `handlers` names; the answers go to `output_topic`.

    `ignore_unhandled`: on another service's output topic, types this service has no
    handler for are none of its business; on an intake topic they are poison. Every record
    not ignored is verified before anything reads its event (`unauthenticated` dead letters).
    """

    intake_limit = settings.kafka_max_intake_record_bytes if topic in OUTSIDE_WRITERS else None

    def decode(record, keys: Keys) -> Event | Outgoing | None:
        """The record's event, or its dead letter, or None when it is none of ours."""
        try:
            event = envelope.decode_record(record, now=dt.datetime.now(dt.UTC), max_bytes=intake_limit,
                                           max_skew=dt.timedelta(seconds=settings.max_future_skew_seconds),
                                           keys=keys)
            if event.type in handlers or not ignore_unhandled:  # what is ignored is never read
                event = replace(event, sender=credentials.authenticator.check(record, event))
        except PoisonMessage as exc:
            return _dead_letter(record, service, exc.reason, str(exc))
        if event.refusal is not None and topic not in INTAKES:
            return _dead_letter(record, service, NOT_AUTHORIZED_LETTER, event.refusal)
        if event.type not in handlers:
            if ignore_unhandled:
                return None
            with logs.about(event_id=event.id, event_type=event.type, subject=event.subject or event.key):
                return _dead_letter(record, service, UNEXPECTED_TYPE, f"{event.type} is not accepted on {topic}")
        return event

    async def decide_batch(by_partition: Mapping[tuple[str, int], list]) -> list[Outgoing]:
        """The batch as one unit of work: each partition in order, every record its own fate."""
        results: list[Outgoing] = []
        events: list[Event] = []
        origins = []
        opening = await keys_to_open(vault, (r.value for records in by_partition.values() for r in records))
        for records in by_partition.values():
            for record in records:
                with logs.about(topic=record.topic, partition=record.partition, offset=record.offset,
                                **_header_ids(record)):
                    decoded = decode(record, opening)
                if isinstance(decoded, Event):
                    events.append(decoded)
                    origins.append(record)
                elif decoded is not None:
                    results.append(decoded)
        outcomes = await run_unit(events, by_partition)
        sealing = await keys_to_seal(vault, (e for o in outcomes if o.error is None for e in o.publish))
        for record, outcome in zip(origins, outcomes, strict=True):
            if outcome.error is None:
                results.extend(outgoing(output_topic, outcome.publish, credentials.signer, origin=record, keys=sealing))
                continue
            with logs.about(topic=record.topic, partition=record.partition, offset=record.offset,
                            event_id=outcome.event.id, event_type=outcome.event.type):
                log.error("handler failed on %s %s", outcome.event.type, outcome.event.id, exc_info=outcome.error)
            results.append(_dead_letter(record, service, HANDLER_ERROR, repr(outcome.error)))
        return results

    async def run_unit(events: list[Event], by_partition: Mapping[tuple[str, int], list]) -> list[Outcome]:
        """Until it commits: an outage waits, a conflict with another instance decides again."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await unit.run(events)
            except (Conflict, *OUTAGES) as exc:
                what = "conflicted with another writer" if isinstance(exc, Conflict) else "met an outage"
                log.warning("batch of %s %s (attempt %d), deciding again: %r", subscription.group_id, what, attempt, exc)
                if attempt >= STALLED_AFTER:  # a conflict that keeps coming is a stall too: show it
                    for topic_name, partition in by_partition:
                        PROGRESS.failed(subscription.group_id, topic_name, partition, f"{what}: {exc!r}")
            await asyncio.sleep(_backoff(settings, attempt))

    subscription = Subscription(f"{service}.{name}", topic, group_id(settings, service, name), tuple(handlers),
                                ignore_unhandled)
    _subscriptions.setdefault(broker, []).append(subscription)
    others = "ignored" if ignore_unhandled else f"dead-lettered to {dlq(topic)}"
    # Declared for the AsyncAPI document; dead letters go out through `publish`.
    broker.publisher(dlq(topic), title=f"{subscription.title}.dlq",
                     description=f"Records of {topic} that {service} could not process (original key, value and "
                                 "headers, plus x-dlq-reason, x-dlq-error, x-dlq-service, x-dlq-topic, "
                                 "x-dlq-partition, x-dlq-offset, x-dlq-original-headers).")

    @broker.subscriber(
        topic,
        batch=True,
        group_id=subscription.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_records=settings.kafka_max_records,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        title=subscription.title,
        description=f"Consumer group {subscription.group_id}. Other event types are {others}.",
        # FastStream would parse JSON bodies before our handler runs, and a body it cannot
        # parse would fail the whole batch outside our dead-letter path: we decode ourselves.
        decoder=_raw_body,
        # And it decodes every header as UTF-8 first: one foreign header would fail the batch
        # the same way. It gets sanitised copies; the handler reads the records untouched.
        parser=_parse_keeping_records,
    )
    async def consume(msg: KafkaMessage) -> None:
        records = msg.raw_message
        by_partition: dict[tuple[str, int], list] = defaultdict(list)
        for record in records:
            by_partition[(record.topic, record.partition)].append(record)
        try:
            if gate is not None:
                await gate()
            await publish_answers(broker, await decide_batch(by_partition), service, settings)
            await msg.ack()
        except asyncio.CancelledError:
            raise  # shutdown: nothing of the batch was committed, the next owner reads it again
        except Exception as exc:  # noqa: BLE001 - whatever it was, no record of the batch may be skipped
            await _rewind(msg, by_partition, subscription.group_id, exc, settings)
            return
        for topic_name, partition in by_partition:
            PROGRESS.advanced(subscription.group_id, topic_name, partition)


async def _rewind(msg: KafkaMessage, by_partition: Mapping[tuple[str, int], list], group: str, exc: BaseException,
                  settings: ServiceSettings) -> None:
    """Seek every partition of a failed batch back to its first record, then back off.

    Without this the consumer's position stays past the batch and the next batch's commit
    would take the failed records with it (TRAPS.md, "An exception in a batch handler...").
    """
    attempts = 0
    for (topic_name, partition), records in by_partition.items():
        first = min(record.offset for record in records)
        try:
            msg.consumer.seek(TopicPartition(topic_name, partition), first)
        except Exception as seek_error:  # noqa: BLE001 - revoked in a rebalance: its new owner resumes from the commit
            log.warning("could not rewind %s[%d] to %d: %r", topic_name, partition, first, seek_error)
        attempts = max(attempts, PROGRESS.failed(group, topic_name, partition, f"{type(exc).__name__}: {exc}"))
    where = ", ".join(f"{t}[{p}]@{min(r.offset for r in rs)}" for (t, p), rs in by_partition.items())
    log.error("batch of %s failed (attempt %d in a row); rewound to %s", group, attempts, where, exc_info=exc)
    await asyncio.sleep(_backoff(settings, attempts))


def _sendable(messages: list[Outgoing], settings: ServiceSettings) -> list[Outgoing]:
    limit = settings.kafka_max_request_bytes
    for message in messages:
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(message.key, message.value, headers)
        if size > limit:
            raise AnswerTooLarge(f"an answer of {size} bytes to {message.topic} is above the producer's limit of {limit}")
    return messages


async def _raw_body(msg: KafkaMessage) -> None:
    return None


async def _parse_keeping_records(records: tuple, original_parser) -> KafkaMessage:
    try:
        message = await original_parser(tuple(replace(r, headers=[(n, raw) for n, raw in r.headers if _utf8(raw)])
                                              for r in records))
    except Exception:  # noqa: BLE001 - FastStream's parser must never fail the batch outside our path
        message = await original_parser(tuple(replace(r, headers=[], key=None) for r in records))
    message.raw_message = records
    return message


def _utf8(raw: bytes | None) -> bool:
    try:
        (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _header_ids(record) -> dict[str, str]:
    """The CloudEvents id and type from the headers, so even an undecodable record's log lines name them."""
    found = {}
    for name, raw in record.headers or ():
        if name in ("ce_id", "ce_type") and raw:
            found["event_id" if name == "ce_id" else "event_type"] = raw.decode("utf-8", "replace")[:200]
    return found


def _dead_letter(record, service: str, reason: str, error: str) -> Outgoing:
    log.warning("dead-lettering %s[%d]@%d: %s: %s", record.topic, record.partition, record.offset, reason, error)
    original = [[name, base64.b64encode(raw or b"").decode()] for name, raw in record.headers]
    headers = {}
    for name, raw in record.headers:
        try:
            headers[name] = (raw or b"").decode("utf-8")
        except UnicodeDecodeError:
            pass  # kept exactly in x-dlq-original-headers
    headers.update({
        "x-dlq-reason": reason,
        "x-dlq-error": error[:2000],
        "x-dlq-service": service,
        "x-dlq-topic": record.topic,
        "x-dlq-partition": str(record.partition),
        "x-dlq-offset": str(record.offset),
        "x-dlq-original-headers": json.dumps(original),
    })  # fmt: skip
    return Outgoing(dlq(record.topic), record.key, record.value if record.value is not None else b"", headers)


def _backoff(settings: ServiceSettings, attempt: int) -> float:
    return min(settings.retry_backoff_seconds * 2 ** (attempt - 1), settings.retry_backoff_max_seconds)
