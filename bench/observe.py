"""What the benchmark watches from outside the services: processes, topics and the database.

Nothing here runs inside a service: CPU and memory come from /proc, rates from the topic
logs read by an independent consumer, database round trips from the server's own counters.
"""

import asyncio
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient, monitoring

from shared.events import short_type
from shared.groups import of_service

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The pipeline the benchmark drives and measures: intake to delivery. The workspace is a
# reader of its outputs, and is not started (shared.groups lists it too).
SERVICES = ("nominations", "evaluations", "notifications")

# Each service's consumer groups (shared.kafka.group_id) and the topic each reads.
GROUPS: dict[str, dict[str, str]] = {service: {s.name: s.topic for s in of_service(service)} for service in SERVICES}


# ---- processes --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: count fields after its closing parenthesis.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mib(pid: int, key: str = "VmHWM") -> float:
    """VmHWM is the peak resident set size since the process started."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---- topics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    offset: int
    key: str
    type: str | None  # short CloudEvents type
    id: str | None
    timestamp: float  # the producer's CreateTime, seconds
    received: float  # when this consumer got it, seconds


class TopicObserver:
    """Every record of some topics since offset 0, read by one consumer that joins no group.

    One consumer for all topics: each extra idle consumer polls Tansu ~50 times a second
    and costs the broker CPU the pipeline needs (TRAPS.md).
    """

    def __init__(self, bootstrap: str, topics: list[str], fetch_max_wait_ms: int = 20,
                 from_end: bool = False) -> None:
        self.topics = topics
        self.records: list[Seen] = []
        self.ends: dict[TopicPartition, int] = {}  # next offset after the last record seen
        self.last_received = time.time()
        self._from_end = from_end
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                          fetch_max_wait_ms=fetch_max_wait_ms, max_partition_fetch_bytes=4 << 20)
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    async def start(self) -> "TopicObserver":
        await self._consumer.start()
        partitions = []
        for topic in self.topics:
            await self._consumer._client.force_metadata_update()  # topics may be new; the public API has no refresh
            partitions += [TopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
        self._consumer.assign(partitions)
        if self._from_end:
            await self._consumer.seek_to_end()
        else:
            await self._consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.time()
            for tp, records in batches.items():
                for r in records:
                    headers = {name: raw for name, raw in r.headers}
                    raw_type = headers.get("ce_type")
                    raw_id = headers.get("ce_id")
                    self.records.append(Seen(r.topic, r.partition, r.offset, (r.key or b"").decode(errors="replace"),
                                             short_type(raw_type.decode()) if raw_type else None,
                                             raw_id.decode() if raw_id else None, r.timestamp / 1000, now))
                    self.ends[tp] = max(self.ends.get(tp, 0), r.offset + 1)
            if batches:
                self.last_received = now
                self._changed.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    def count(self, topic: str | None = None, type_: str | None = None) -> int:
        return sum(1 for r in self.records if (topic is None or r.topic == topic) and (type_ is None or r.type == type_))

    def of_type(self, type_: str, since: int = 0) -> list[Seen]:
        return [r for r in self.records[since:] if r.type == type_]

    async def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_quiet(self, seconds: float, timeout: float = 120.0) -> None:
        """Until nothing new arrived for `seconds`: every producer has stopped and all is read."""
        deadline = time.monotonic() + timeout
        while time.time() - self.last_received < seconds and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    def true_ends(self, topics: list[str]) -> dict[TopicPartition, int]:
        """Log ends as counted by reading: Tansu's ListOffsets answers the base offset + 1 of
        the last batch, too low after a multi-record batch (TRAPS.md)."""
        return {tp: end for tp, end in self.ends.items() if tp.topic in topics}


# ---- database ---------------------------------------------------------------------------------

SECTIONS = ("queries", "getmore", "insert", "update", "remove", "commands")


class OwnCommands(monitoring.CommandListener):
    """The benchmark's own commands per database, subtracted from the server's counters."""

    def __init__(self) -> None:
        self.by_db: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.by_db[event.database_name] += 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@dataclass
class DbCounters:
    """Per-database command counts and server time, from `top` (per namespace)."""

    source: str  # "top", "serverStatus" (whole server only) or "none"
    by_db: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # db -> section -> [count, micros]
    by_ns: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    own: Counter = field(default_factory=Counter)

    def minus(self, before: "DbCounters") -> "DbCounters":
        def sub(a, b):
            return {k: {s: [v[0] - b.get(k, {}).get(s, [0, 0])[0], v[1] - b.get(k, {}).get(s, [0, 0])[1]]
                        for s, v in sections.items()} for k, sections in a.items()}
        return DbCounters(self.source, sub(self.by_db, before.by_db), sub(self.by_ns, before.by_ns),
                          self.own - before.own)

    def round_trips(self, db: str) -> int | None:
        """Commands the services sent to `db` (the benchmark's own subtracted)."""
        if self.source != "top":
            return None
        sections = self.by_db.get(db, {})
        return sum(sections.get(s, [0, 0])[0] for s in SECTIONS) - self.own.get(db, 0)

    def breakdown(self, db: str) -> dict[str, dict[str, list[int]]]:
        """collection -> section -> [commands, microseconds], for the ones that were used. The
        time is each command's duration inside the server, waiting for the server included."""
        result = {}
        for ns, sections in self.by_ns.items():
            if ns.split(".", 1)[0] == db:
                used = {s: sections[s] for s in SECTIONS if sections.get(s, [0, 0])[0]}
                if used:
                    result[ns.split(".", 1)[1]] = used
        return result


async def db_counters(client: AsyncMongoClient, own: OwnCommands) -> DbCounters:
    try:
        totals = (await client.admin.command("top"))["totals"]
    except Exception:  # noqa: BLE001 - not every deployment lets us run `top`
        totals = None
    own_now = Counter(own.by_db)
    if totals is not None:
        by_ns, by_db = {}, defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for ns, sections in totals.items():
            if not isinstance(sections, dict) or "." not in ns:
                continue
            by_ns[ns] = {s: [v.get("count", 0), v.get("time", 0)] for s, v in sections.items() if isinstance(v, dict)}
            for s, (count, micros) in by_ns[ns].items():
                by_db[ns.split(".", 1)[0]][s][0] += count
                by_db[ns.split(".", 1)[0]][s][1] += micros
        return DbCounters("top", {db: dict(v) for db, v in by_db.items()}, by_ns, own_now)
    try:
        ops = (await client.admin.command("serverStatus"))["opcounters"]
        return DbCounters("serverStatus", {"*": {k: [v, 0] for k, v in ops.items()}}, {}, own_now)
    except Exception:  # noqa: BLE001
        return DbCounters("none", {}, {}, own_now)


async def documents(client: AsyncMongoClient, db: str) -> dict[str, int]:
    database = client[db]
    return {name: await database[name].count_documents({}) for name in sorted(await database.list_collection_names())}


async def mean_document_bytes(client: AsyncMongoClient, dbs: list[str], sample: int = 100) -> float:
    """The mean BSON size of the pipeline's documents, so the reference writes documents alike."""
    from bson import encode

    sizes = []
    for db in dbs:
        for name in await client[db].list_collection_names():
            async for doc in client[db][name].find({}).limit(sample):
                sizes.append(len(encode(doc)))
    return sum(sizes) / len(sizes) if sizes else 1000.0


# ---- statistics -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with 300 samples p99 is the third-worst, not an interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def sustained_rate(times: list[float]) -> float:
    """Events/s between the 10th and the 90th percentile of completion times: the steady
    middle of a burst, without the ramp-up and the stragglers."""
    if len(times) < 100:
        return float("nan")  # too few: a batch shares one millisecond, the span would mean nothing
    ordered = sorted(times)
    lo, hi = len(ordered) // 10, len(ordered) * 9 // 10
    span = ordered[hi] - ordered[lo]
    return (hi - lo) / span if span > 0 else float("inf")


async def unit_of_work_counts(http_port: int) -> tuple[float, float] | None:
    """(batches, inputs) from a service's /metrics; None when it writes per event."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        text = (await client.get(f"http://127.0.0.1:{http_port}/metrics")).text
    found = {}
    for line in text.splitlines():
        for name in ("exemplars_unit_of_work_batches_total", "exemplars_unit_of_work_inputs_total"):
            if line.startswith(name + " "):
                found[name] = float(line.split()[1])
    if len(found) < 2:
        return None
    return found["exemplars_unit_of_work_batches_total"], found["exemplars_unit_of_work_inputs_total"]
