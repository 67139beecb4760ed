"""Measure the pipeline on the embedded stack (or another MongoDB) and print the figures.

    .venv/bin/python -m bench.benchmark [--mongo-uri URI] [--nominations N] [--out FILE.json]

One run: reference rates of the bare servers, the pipeline's sustained rate from intake to
`nomination.accepted`, `evaluation.panel_assigned` and a recorded delivery, database round
trips and CPU per event of each service, latency at a steady 20 nominations/s, projection
rebuild rates and peak memory. Each figure is printed beside its target (issue 7).

Not a test: it asserts nothing and the figures move with the machine's load.
"""

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench import observe, phases, profiling, references, workload
from bench.observe import GROUPS, SERVICES
from bench.report import print_report, step
from deploy.demo import send
from deploy.dev_keys import SigningProducer
from deploy.stack import EmbeddedStack, StackConfig
from shared import envelope, topics
from shared.lag import LagProbe

ACCEPTED, PANEL = "nomination.accepted", "evaluation.panel_assigned"
# The delivery worker sends mail beside the consumers and competes for the same database; the
# pipeline figures (intake -> delivery recorded) are measured without it (0 sending slots: its
# claim loop waits forever), and the worker gets a phase of its own.
WORKER_OFF = {"DELIVERY_CONCURRENCY": "0"}
SERVICE_ENV = {
    # Rehearsal clock before the shortfall date and no shortfall checks: the run measures
    # the nomination flow, not yearly reminders that would fire on the real date.
    "CLOCK_TODAY": "2026-06-01",
    "SHORTFALL_FIRST_CHECK_SECONDS": "86400",
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="exemplars-bench-"))
        self.stack = EmbeddedStack(StackConfig.ephemeral(self.root, service_env=dict(SERVICE_ENV)))
        self.external = args.mongo_uri
        run_id = uuid.uuid4().hex[:8]
        # On someone else's MongoDB the databases are the run's own, and dropped at the end.
        self.dbs = {name: (f"bench_{run_id}_{name}" if self.external else f"exemplars_{name}") for name in SERVICES}
        self.reference_db = f"bench_{run_id}_reference"
        self.result: dict = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                             "machine": machine(), "parameters": vars(args).copy()}
        self.own = observe.OwnCommands()
        self.profiler = profiling.Profiler(Path(args.profile)) if args.profile else None

    UNLOADED_RATE, UNLOADED_COUNT = 1.0, 20  # one nomination a second for 20 s: nothing should queue

    @property
    def mongo_uri(self) -> str:
        return self.external or self.stack.config.mongo_uri

    def pid(self, name: str) -> int:
        return self.stack.services[name][0].pid

    # ---- the run ---------------------------------------------------------------------------

    async def run(self) -> dict:
        # `timeout` or a kill must not leave the servers and services running: cancel, clean up.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        self.mongo = AsyncMongoClient(self.mongo_uri, tz_aware=True, event_listeners=[self.own], connect=False)
        self.lag = LagProbe(self.stack.config.bootstrap)
        self.producer = SigningProducer(AIOKafkaProducer(bootstrap_servers=self.stack.config.bootstrap, acks="all",
                                                         linger_ms=5, max_batch_size=256 << 10), self.stack.keyring)
        try:
            if self.external:
                await self.stack.start_kafka()
            else:
                await self.stack.start_servers()
            await self.stack.start_smtp_sink()
            await self.producer.start()
            step("reference: raw aiokafka consume -> produce")
            self.result["kafka_reference"] = await references.kafka_consume_produce(
                self.stack.config.bootstrap, self.args.kafka_messages)
            self.observer = await observe.TopicObserver(self.stack.config.bootstrap, [
                topics.DIRECTORY, topics.NOMINATIONS_INTAKE, topics.EVALUATIONS_INTAKE, topics.NOMINATIONS,
                topics.EVALUATIONS, topics.NOTIFICATIONS]).start()
            await self.start_services()
            await self.throughput()
            self.result["latency_ms"] = await self.latency(self.args.latency_nominations, self.args.latency_rate)
            # The same at a trickle: what the hops cost when nothing queues.
            self.result["latency_unloaded_ms"] = await self.latency(self.UNLOADED_COUNT, self.UNLOADED_RATE)
            self.result["peak_rss_mb"] = {name: observe.memory_mib(self.pid(name)) * 1.048576 for name in SERVICES}
            self.result["delivery_worker"] = await phases.delivery_worker(self)
            self.stack.stop_services()
            await self.database_references()
            self.result["rebuild"] = await phases.rebuilds(self)
        finally:
            await self.cleanup()
        self.result["load_average_end"] = os.getloadavg()
        return self.result

    async def start_services(self) -> None:
        directory, officers = workload.directory_events(self.args.nominations + self.args.warmup
                                                        + self.args.latency_nominations + self.UNLOADED_COUNT)
        self.feed = workload.nominations(officers)
        await send(self.producer, topics.DIRECTORY, directory)
        step("starting the services")
        await asyncio.gather(*(self.stack.start_service(name, MONGO_URI=self.mongo_uri, MONGO_DATABASE=self.dbs[name],
                                                        **(WORKER_OFF if name == "notifications" else {}))
                               for name in SERVICES))
        await self.observer.wait_for(lambda: self.observer.count(topics.DIRECTORY) >= len(directory), 60, "directory")
        await self.caught_up(SERVICES)
        step(f"warm-up: {self.args.warmup} nominations through the whole pipeline")
        warm = workload.take(self.feed, self.args.warmup)
        await send(self.producer, topics.NOMINATIONS_INTAKE, warm)
        await self.observer.wait_for(lambda: self.observer.count(type_=PANEL) >= len(warm), 120, "warm-up panels")
        await self.caught_up(SERVICES)
        # Idle cost: every consumer polls the broker even when nothing happens.
        before = {name: observe.cpu_seconds(self.pid(name)) for name in SERVICES}
        await asyncio.sleep(5)
        self.result["idle_cpu_percent"] = {n: (observe.cpu_seconds(self.pid(n)) - before[n]) / 5 * 100 for n in SERVICES}

    async def units(self, name: str) -> tuple[float, float] | None:
        """(batches, inputs) the service's unit of work committed so far; None if it has none."""
        return await observe.unit_of_work_counts(self.stack.services[name][0].http_port)

    async def throughput(self) -> None:
        n = self.args.nominations
        step(f"throughput: {n} nominations published at once")
        events = workload.take(self.feed, n)
        servers = self.server_pids()
        cpu0 = {name: observe.cpu_seconds(self.pid(name)) for name in SERVICES}
        srv0 = {name: observe.cpu_seconds(pid) for name, pid in servers.items()}
        docs0 = {name: await observe.documents(self.mongo, db) for name, db in self.dbs.items()}
        db0 = await observe.db_counters(self.mongo, self.own)
        units0 = {name: await self.units(name) for name in SERVICES}
        mark = len(self.observer.records)
        if self.profiler:
            for name in SERVICES:
                self.profiler.start(name, self.pid(name))
            if not self.external:
                self.profiler.start("secantusdb", self.stack.mongo.pid)
        start = time.time()
        await send(self.producer, topics.NOMINATIONS_INTAKE, events)
        published = time.time()
        timeout = max(600.0, n * 2.0)  # generous: the point is the rate, not a deadline
        await self.observer.wait_for(lambda: len(self.observer.of_type(ACCEPTED, mark)) >= n, timeout, "accepted")
        await self.observer.wait_for(lambda: len(self.observer.of_type(PANEL, mark)) >= n, timeout, "panels")
        await self.caught_up(["nominations", "evaluations"])
        ended, cpu1, db1 = {}, {}, {}
        snap = await observe.db_counters(self.mongo, self.own)
        for name in ("nominations", "evaluations"):
            ended[name], cpu1[name], db1[name] = time.time(), observe.cpu_seconds(self.pid(name)), snap
        await self.caught_up(["notifications"])
        ended["notifications"], cpu1["notifications"] = time.time(), observe.cpu_seconds(self.pid("notifications"))
        db1["notifications"] = await observe.db_counters(self.mongo, self.own)
        units1 = {name: await self.units(name) for name in SERVICES}
        srv1 = {name: observe.cpu_seconds(pid) for name, pid in servers.items()}
        finished = time.time()
        if self.profiler:
            profiles = self.profiler.stop()
            self.result["profiles"] = {name: {"file": str(path), **profiling.summarise(path)}
                                       for name, path in profiles.items()}
        docs1 = {name: await observe.documents(self.mongo, db) for name, db in self.dbs.items()}

        phase = self.observer.records[mark:]
        accepted = [r.timestamp for r in phase if r.type == ACCEPTED]
        panels = [r for r in phase if r.type == PANEL]
        cursor = self.mongo[self.dbs["notifications"]]["deliveries"].find(
            {"event_id": {"$in": [r.id for r in panels]}}, {"event_id": 1, "created_at": 1})
        first_delivery: dict[str, float] = {}
        async for doc in cursor:
            t = doc["created_at"].timestamp()
            first_delivery[doc["event_id"]] = min(t, first_delivery.get(doc["event_id"], t))
        consumed = {name: sum(1 for r in phase if r.topic in GROUPS[name].values()) for name in SERVICES}
        created = {name: sum(docs1[name].values()) - sum(docs0[name].values()) for name in SERVICES}
        wall = finished - start
        self.result["pipeline"] = {
            "nominations": n,
            "publish_seconds": published - start,
            "rates": {stage: {"sustained_per_second": observe.sustained_rate(times),
                              "overall_per_second": len(times) / (max(times) - start) if times else float("nan"),
                              "completed": len(times)}
                      for stage, times in (("accepted", accepted), ("panel_assigned", [r.timestamp for r in panels]),
                                           ("delivery_recorded", list(first_delivery.values())))},
            "seconds": finished - start,
            "services": {name: {
                "events_consumed": consumed[name],
                "seconds": ended[name] - start,
                "cpu_seconds": cpu1[name] - cpu0[name],
                "cpu_us_per_event": (cpu1[name] - cpu0[name]) / consumed[name] * 1e6,
                # Idle polling costs the same whether events flow or not; what is left is the events' own.
                "cpu_us_per_event_net_of_idle": (cpu1[name] - cpu0[name] - self.result["idle_cpu_percent"][name] / 100
                                                 * (ended[name] - start)) / consumed[name] * 1e6,
                "cpu_us_per_nomination": (cpu1[name] - cpu0[name]) / n * 1e6,
                "round_trips": (rt := db1[name].minus(db0).round_trips(self.dbs[name])),
                "round_trips_per_event": rt / consumed[name] if rt is not None else None,
                "round_trips_per_nomination": rt / n if rt is not None else None,
                # Services writing through a unit of work count their batches (shared/unit_of_work.py).
                "batches": (batches := units1[name][0] - units0[name][0]) if units1[name] else None,
                "inputs_per_batch": (units1[name][1] - units0[name][1]) / batches if units1[name] and batches else None,
                "round_trips_per_batch": rt / batches if units1[name] and batches and rt is not None else None,
                "commands_by_collection": db1[name].minus(db0).breakdown(self.dbs[name]),
                "documents_created": created[name],
                "documents_by_collection": {c: docs1[name].get(c, 0) - docs0[name].get(c, 0) for c in docs1[name]},
            } for name in SERVICES},
            "db_counter_source": db0.source,
            "server_cpu_percent": {name: (srv1[name] - srv0[name]) / wall * 100 for name in servers},
            "documents_created_per_nomination": sum(created.values()) / n,
        }

    async def latency(self, count: int, rate: float) -> dict:
        step(f"latency: {count} nominations at {rate}/s")
        events = workload.take(self.feed, count)
        # A consumer of its own with a short fetch wait: what it adds to the figures is small.
        watcher = await observe.TopicObserver(self.stack.config.bootstrap, [topics.NOMINATIONS, topics.EVALUATIONS],
                                              fetch_max_wait_ms=5, from_end=True).start()
        deliveries: dict[str, float] = {}
        stream = await self.mongo[self.dbs["notifications"]]["deliveries"].watch(
            [{"$match": {"operationType": {"$in": ["insert", "update", "replace"]}}}], max_await_time_ms=500)

        async def watch() -> None:
            async for change in stream:
                doc = change.get("fullDocument") or {}
                if "event_id" in doc:
                    deliveries.setdefault(doc["event_id"], time.time())

        rtts: list[float] = []

        async def probe_database() -> None:
            """One small read every 100 ms: how long any round trip waits at the server meanwhile."""
            coll = self.mongo[self.reference_db]["probe"]
            while True:
                t = time.perf_counter()
                await coll.find_one({"_id": 0})
                rtts.append((time.perf_counter() - t) * 1000)
                await asyncio.sleep(0.1)

        watching = asyncio.create_task(watch())
        probing = asyncio.create_task(probe_database())
        await asyncio.sleep(1.0)  # the change stream and the consumer are positioned
        sent_at: dict[str, float] = {}
        producer = await self.stack.producer(linger_ms=0)
        try:
            begin = time.perf_counter()
            for k, event in enumerate(events):
                await asyncio.sleep(max(0.0, begin + k / rate - time.perf_counter()))
                key, value, headers = _encoded(event)
                sent_at[event.key] = time.time()
                await producer.send_and_wait(topics.NOMINATIONS_INTAKE, value, key=key, headers=headers)
        finally:
            await producer.stop()
        ids = {event.key for event in events}
        # Past saturation the answers trail the feed by minutes: wait, but never forever.
        try:
            await watcher.wait_for(lambda: len({r.key for r in watcher.of_type(PANEL)} & ids) >= count,
                                   self.args.latency_timeout, "panels")
        except TimeoutError:
            step(f"latency: not every nomination was answered within {self.args.latency_timeout:g} s")
        outputs = {t: {r.key: r for r in watcher.of_type(t) if r.key in ids} for t in (ACCEPTED, PANEL)}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                outputs[t][k].id in deliveries for t in (ACCEPTED, PANEL) for k in outputs[t]):
            await asyncio.sleep(0.2)
        watching.cancel()
        probing.cancel()
        await asyncio.gather(watching, probing, return_exceptions=True)
        await stream.close()
        await watcher.stop()

        def ms(pairs) -> dict:
            values = [(t - sent_at[k]) * 1000 for k, t in pairs if t is not None]
            return {"p50": observe.percentile(values, 50), "p99": observe.percentile(values, 99),
                    "max": max(values, default=float("nan")), "samples": len(values)}

        result = {
            "rate": rate, "sent": count,
            "accepted": ms((k, r.received) for k, r in outputs[ACCEPTED].items()),
            "accepted_log_time": ms((k, r.timestamp) for k, r in outputs[ACCEPTED].items()),
            "panel_assigned": ms((k, r.received) for k, r in outputs[PANEL].items()),
            "delivery_recorded_accepted": ms((k, deliveries.get(r.id)) for k, r in outputs[ACCEPTED].items()),
            "delivery_recorded_panel": ms((k, deliveries.get(r.id)) for k, r in outputs[PANEL].items()),
            "database_round_trip": {"p50": observe.percentile(rtts, 50), "p99": observe.percentile(rtts, 99),
                                    "samples": len(rtts)},
        }
        await self.caught_up(SERVICES)
        return result

    async def database_references(self) -> None:
        docs = self.result["pipeline"]["documents_created_per_nomination"] * self.args.nominations
        size = await observe.mean_document_bytes(self.mongo, list(self.dbs.values()))
        step(f"reference: {self.args.single_writes} single upserts, then bulk upserts of {int(docs)} documents")
        self.result["mongo_single_reference"] = await references.mongo_single_writes(
            self.mongo_uri, self.reference_db, self.args.single_writes, size)
        self.result["mongo_bulk_reference"] = bulk = await references.mongo_bulk_upserts(
            self.mongo_uri, self.reference_db, int(docs), size)
        allowed = self.args.nominations / bulk["seconds"]
        rates = self.result["pipeline"]["rates"]["delivery_recorded"]
        achieved = rates["sustained_per_second"]
        if math.isnan(achieved):
            achieved = rates["overall_per_second"]
        self.result["ratio"] = {"allowed_nominations_per_second": allowed, "pipeline_per_second": achieved,
                                "ratio": achieved / allowed}

    # ---- helpers ---------------------------------------------------------------------------

    async def caught_up(self, services: list[str], timeout: float = 600.0) -> None:
        """Until every consumer group of `services` has committed everything read so far."""
        await asyncio.sleep(0.5)  # let the observer see what was just published
        deadline = time.monotonic() + timeout
        for name in services:
            for group, topic in GROUPS[name].items():
                ends = self.observer.true_ends([topic])
                while True:
                    committed = await self.lag.committed(f"{name}.{group}", ends)
                    if all(committed[tp] >= end for tp, end in ends.items()):
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}.{group} did not catch up on {topic}")
                    await asyncio.sleep(0.2)

    def server_pids(self) -> dict[str, int]:
        servers = {"tansu": self.stack.kafka.pid, "smtp-sink": self.stack.smtp.pid}
        if not self.external:
            servers["secantusdb"] = self.stack.mongo.pid
        return servers

    async def cleanup(self) -> None:
        """Whatever failed before, stop every process started and drop what was created."""
        try:
            if self.profiler:
                self.profiler.stop()
            closing = [self.lag.close(), self.producer.stop()]
            if hasattr(self, "observer"):
                closing.append(self.observer.stop())
            if self.external:  # leave nothing behind on someone else's server
                closing += [self.mongo.drop_database(db) for db in [
                    *self.dbs.values(), *(f"{db}_rebuild" for db in self.dbs.values()), self.reference_db]]
            for step_ in closing:
                try:
                    await step_
                except Exception as exc:  # noqa: BLE001 - the rest must still be cleaned up
                    print(f"cleanup: {exc!r}", file=sys.stderr)
            await self.mongo.close()
        finally:
            self.stack.stop()


def _encoded(event):
    key, value, headers = envelope.encode(event)
    return key, value, [(k, v.encode()) for k, v in headers.items()]


def machine() -> dict:
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1), "python": platform.python_version(),
            "platform": platform.platform(), "load_average_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mongo-uri", help="measure against this MongoDB instead of the embedded SecantusDB "
                                            "(databases bench_<run>_* are created and dropped)")
    parser.add_argument("--nominations", type=int, default=500, help="nominations of the throughput phase")
    parser.add_argument("--out", help="write every figure to this JSON file")
    parser.add_argument("--latency-nominations", type=int, default=300)
    parser.add_argument("--latency-rate", type=float, default=20.0, help="nominations per second")
    parser.add_argument("--latency-timeout", type=float, default=600.0, help="seconds to wait for the answers")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--kafka-messages", type=int, default=20_000, help="messages of the broker reference")
    parser.add_argument("--single-writes", type=int, default=2_000, help="writes of the single-upsert reference")
    parser.add_argument("--delivery-seconds", type=float, default=60.0, help="time budget of the delivery worker phase")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (data, mail, logs)")
    parser.add_argument("--profile", metavar="DIR", help="record py-spy profiles of the services and the database "
                                                         "during the throughput phase (needs py-spy installed)")
    args = parser.parse_args(argv)
    if args.profile and profiling.py_spy() is None:
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")
    bench = Bench(args)
    step(f"working folder (data, mail, logs): {bench.root}")
    result = asyncio.run(bench.run())
    if not args.keep:  # kept when the run fails: the service logs say why
        shutil.rmtree(bench.root, ignore_errors=True)
    print_report(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
