"""Rebuild a service's projection from the log into a fresh database, compare, switch.

1. Read: the service's input topics from offset 0 up to the offsets its consumer groups
   have committed, and its own output topic whole (shared/replay.py says why).
2. Replay in memory through the service's own handlers, decisions pinned to the log, and
   write each document once (bulk inserts) into a fresh database, with the indexes.
3. Compare with the live database, by the rules the service's rebuild module declares.
4. Switch, only when asked and only when nothing diverged: the live collections move to a
   backup database and the rebuilt ones take their place. The service must be stopped:
   the switch refuses when the groups' committed offsets moved since the read. The groups
   are kept: the rebuilt projection stands where they stand.
"""

import datetime as dt
import importlib
import logging
import time
from dataclasses import dataclass, field, replace

from aiokafka import TopicPartition
from pymongo import AsyncMongoClient, InsertOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from deploy.ops.kafka_io import TopicMissing, TopicReader
from shared import envelope, groups, kafka
from shared.credentials import Authenticator
from shared.envelope import PoisonMessage
from shared.kafka_security import client_options
from shared.lag import LagProbe
from shared.replay import Answers, Difference, Logged, compare
from shared.topics import OUTSIDE_WRITERS, dlq
from shared.trust import ReloadingRegistry
from shared.vault import MongoVault, Vault, keys_to_open

log = logging.getLogger("exemplars.rebuild")

# service: (rebuild module, settings class, store class): the store only creates the indexes.
SERVICES = {
    "nominations": ("services.nominations.rebuild", "services.nominations.settings.NominationsSettings",
                    "services.nominations.store.NominationStore"),
    "evaluations": ("services.evaluations.rebuild", "services.evaluations.settings.EvaluationsSettings",
                    "services.evaluations.store.EvaluationStore"),
    "notifications": ("services.notifications.rebuild", "services.notifications.settings.NotificationsSettings",
                      "services.notifications.store.NotificationStore"),
}
BATCH = 1_000


class RebuildRefused(Exception):
    """The rebuild or the switch would be unsafe; the message says why."""


@dataclass
class ServiceLog:
    """Everything a rebuild of one service reads."""

    service: str
    inputs: list[Logged]
    answers: Answers
    bounds: dict[TopicPartition, int]  # the groups' committed offsets when the read began
    undecodable: int = 0

    @property
    def events(self) -> int:
        return len(self.inputs) + len(self.answers.by_id)


@dataclass
class Rebuilt:
    service: str
    database: str
    events: int
    documents: dict[str, int]
    read_seconds: float
    replay_seconds: float
    write_seconds: float
    divergent: list[str]
    bounds: dict[TopicPartition, int] = field(default_factory=dict)  # where the groups stood
    differences: list[Difference] = field(default_factory=list)

    @property
    def replay_rate(self) -> float:
        """Events folded per second in memory (the rebuild's own speed, without I/O)."""
        return self.events / self.replay_seconds if self.replay_seconds else 0.0

    @property
    def equal(self) -> bool:
        return not self.divergent and not self.differences


def settings_for(service: str, **overrides):
    """The service's settings as the service itself would read them (environment, .env)."""
    return _load(SERVICES[service][1])(**{k: v for k, v in overrides.items() if v is not None})


async def committed_bounds(settings, service: str) -> dict[TopicPartition, int]:
    probe = LagProbe(settings.kafka_bootstrap_servers, client_options(settings))
    try:
        bounds: dict[TopicPartition, int] = {}
        for sub in groups.of_service(service):
            group = kafka.group_id(settings, service, sub.name)
            bounds.update(await probe.committed(group, await probe.end_offsets(group, [sub.topic])))
        return bounds
    finally:
        await probe.close()


async def read_log(settings, service: str, vault: Vault) -> ServiceLog:
    """The service's inputs and answers, personal fields opened with the key store as the live
    consumer opens them: an erased person reads as erased, in the rebuild as live."""
    bootstrap = settings.kafka_bootstrap_servers
    bounds = await committed_bounds(settings, service)
    inputs: list[Logged] = []
    undecodable = 0
    # Who sent each input, verified as the live consumer did: its answers record the sender,
    # and a sender's NOT_AUTHORIZED refusal is decided again from it.
    authenticator = Authenticator(None if settings.allow_unsigned or not settings.trust_registry
                                  else ReloadingRegistry(settings.trust_registry))
    async with TopicReader(bootstrap, timeout=600.0) as reader:
        dead = await dead_lettered(reader, service, {tp.topic for tp in bounds})
        for topic in sorted({tp.topic for tp in bounds}):
            ranges = {tp.partition: (0, end) for tp, end in bounds.items() if tp.topic == topic}
            limit = settings.kafka_max_intake_record_bytes if topic in OUTSIDE_WRITERS else None
            records = await reader.read_ranges(topic, ranges)
            keys = await keys_to_open(vault, (r.value for r in records))
            for record in records:
                if (record.topic, record.partition, record.offset) in dead:
                    undecodable += 1  # its fate was a dead letter: never part of the projection
                    continue
                at = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
                try:
                    # The consumer's admission, judged at the record's own time as it was live.
                    event = envelope.decode_record(record, now=at, max_bytes=limit,
                                                   max_skew=dt.timedelta(seconds=settings.max_future_skew_seconds),
                                                   keys=keys)
                    event = replace(event, sender=authenticator.check(record, event))
                except PoisonMessage:
                    undecodable += 1
                    continue
                inputs.append(Logged(topic, record.partition, record.offset, at, event))
        published = []
        records = await reader.read(groups.OUTPUT_TOPICS[service])
        keys = await keys_to_open(vault, (r.value for r in records))
        for record in records:
            try:
                published.append(envelope.decode(record.key, record.value, record.headers, keys=keys))
            except PoisonMessage:
                undecodable += 1
    return ServiceLog(service, inputs, Answers.of(published), bounds, undecodable)


async def dead_lettered(reader: TopicReader, service: str, topics: set[str]) -> set[tuple[str, int, int]]:
    """Where the records the service dead-lettered stood (a handler error is not replayed
    into the projection: live, it changed nothing). A dead letter replayed later is a new
    record on its topic and is read like any other."""
    found: set[tuple[str, int, int]] = set()
    for topic in sorted(topics):
        try:
            letters = await reader.read(dlq(topic))
        except TopicMissing:
            continue
        for record in letters:
            headers = {name: (raw or b"").decode("utf-8", "replace") for name, raw in record.headers}
            if headers.get("x-dlq-service") == service and headers.get("x-dlq-topic") == topic:
                try:
                    found.add((topic, int(headers["x-dlq-partition"]), int(headers["x-dlq-offset"])))
                except (KeyError, ValueError):
                    continue
    return found


async def rebuild(service: str, settings, client: AsyncMongoClient, into: str) -> Rebuilt:
    """Read, replay and write into the empty database `into`; compare with the live one."""
    if into == settings.mongo_database:
        raise RebuildRefused("the rebuild goes into a fresh database, never into the live one")
    target = client[into]
    if await target.list_collection_names():
        raise RebuildRefused(f"database {into} is not empty: drop it or choose another with --into")
    started = time.perf_counter()
    service_log = await read_log(settings, service, MongoVault.connect(client, settings.keys_database))
    read = time.perf_counter()
    documents = await importlib.import_module(SERVICES[service][0]).rebuild(
        service_log.inputs, service_log.answers, settings)
    replayed = time.perf_counter()
    await write(target, documents)
    await _load(SERVICES[service][2])(target).ensure_indexes()
    written = time.perf_counter()
    result = Rebuilt(service, into, service_log.events, {name: len(docs) for name, docs in documents.items()},
                     read - started, replayed - read, written - replayed,
                     [f"{e.type} {e.id}" for e in service_log.answers.divergent], service_log.bounds)
    result.differences = await compare_databases(service, client[settings.mongo_database], target)
    return result


async def write(db: AsyncDatabase, documents: dict[str, list[dict]]) -> None:
    """Each document once, in bulk: the embedded database takes ~1k documents/s this way."""
    for name, docs in documents.items():
        for start in range(0, len(docs), BATCH):
            await db[name].bulk_write([InsertOne(d) for d in docs[start:start + BATCH]], ordered=False)


async def compare_databases(service: str, live: AsyncDatabase, rebuilt: AsyncDatabase) -> list[Difference]:
    rules = importlib.import_module(SERVICES[service][0]).COMPARISON
    return compare(await _documents(live, rules), await _documents(rebuilt, rules), rules)


async def _documents(db: AsyncDatabase, names) -> dict[str, list[dict]]:
    return {name: await db[name].find().to_list() for name in names}


async def switch(service: str, settings, client: AsyncMongoClient, rebuilt: Rebuilt, *, force: bool = False) -> str:
    """Move the live collections aside and the rebuilt ones in; returns the backup database."""
    if not rebuilt.equal and not force:
        raise RebuildRefused("the rebuilt projection differs from the live one: not switching without --force")
    now = await committed_bounds(settings, service)
    if now != rebuilt.bounds:
        raise RebuildRefused(f"the {service} consumer groups moved since the rebuild read the log: "
                             "stop every instance of the service, then rebuild again")
    live = settings.mongo_database
    backup = f"{live}_before_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    for name in await client[live].list_collection_names():
        await _move(client, live, backup, name)
    for name in await client[rebuilt.database].list_collection_names():
        await _move(client, rebuilt.database, live, name)
    return backup


async def _move(client: AsyncMongoClient, source: str, target: str, name: str) -> None:
    """renameCollection across databases; a server without it gets a copy, then a drop."""
    try:
        await client.admin.command("renameCollection", f"{source}.{name}", to=f"{target}.{name}")
        return
    except OperationFailure as exc:
        log.info("renameCollection %s.%s refused (%s): copying", source, name, exc)
    docs = await client[source][name].find().to_list()
    if docs:
        await write(client[target], {name: docs})
    indexes = await client[source][name].index_information()
    for index_name, spec in indexes.items():
        if index_name != "_id_":
            options = {k: v for k, v in spec.items() if k in ("unique", "sparse")}
            await client[target][name].create_index(spec["key"], name=index_name, **options)
    await client[source].drop_collection(name)


def _load(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ---- what the command prints ---------------------------------------------------------------


def to_json(result: Rebuilt, backup: str | None) -> dict:
    return {"service": result.service, "database": result.database, "events": result.events,
            "documents": result.documents, "seconds": {"read": round(result.read_seconds, 3),
                                                       "replay": round(result.replay_seconds, 3),
                                                       "write": round(result.write_seconds, 3)},
            "replay_events_per_second": round(result.replay_rate), "equal": result.equal,
            "divergent": result.divergent,
            "differences": [{"collection": d.collection, "missing": [str(x) for x in d.missing],
                             "extra": [str(x) for x in d.extra],
                             "changed": [{"id": str(i), "field": f} for i, f in d.changed]}
                            for d in result.differences],
            "switched": backup is not None, "backup": backup}


def render(result: Rebuilt, backup: str | None, *, switch_asked: bool = False, examples: int = 5) -> str:
    documents = ", ".join(f"{n} {c}" for n, c in sorted(result.documents.items()))
    lines = [f"{result.service}: {result.events} events -> {result.database} ({documents})",
             (f"  read {result.read_seconds:.1f} s, replay {result.replay_seconds:.2f} s "
              f"({result.replay_rate:,.0f} events/s), write {result.write_seconds:.1f} s")]
    if result.divergent:
        lines.append(f"  {len(result.divergent)} decisions the replay made differ from the log: "
                     + ", ".join(result.divergent[:examples]))
    for d in result.differences:
        parts = [f"{len(d.missing)} only live" if d.missing else "", f"{len(d.extra)} only rebuilt" if d.extra else "",
                 f"{len(d.changed)} changed" if d.changed else ""]
        sample = [str(x) for x in (d.missing + d.extra)[:examples]] + [f"{i}.{f}" for i, f in d.changed[:examples]]
        lines.append(f"  {d.collection}: {', '.join(p for p in parts if p)}: {', '.join(sample)}")
    if result.equal:
        lines.append("  equal to the live projection")
    if backup:
        lines.append(f"  switched: the live collections are in {backup}, the rebuilt ones in place")
    elif switch_asked:
        lines.append("  not switched: the projections differ (--force to switch anyway)")
    return "\n".join(lines)
