"""The phases after the pipeline's: the delivery worker on its backlog, and projection rebuilds.

Both take the running `bench.benchmark.Bench` (its stack, observer, database client).
"""

import os
import time

from bench import observe, profiling
from bench.report import step


async def delivery_worker(bench) -> dict:
    """The notifications instance again, now with its delivery worker on, over the backlog the
    earlier phases recorded: deliveries sent per second, and what each costs."""
    old = bench.stack.services["notifications"][0]
    old.stop()
    bench.stack.services["notifications"].remove(old)
    deliveries = bench.mongo[bench.dbs["notifications"]]["deliveries"]
    pending = {"status": {"$in": ["pending", "sending"]}}
    backlog = await deliveries.count_documents(pending)
    step(f"delivery worker: {backlog} recorded deliveries to send, for at most {bench.args.delivery_seconds:g} s")
    db0 = await observe.db_counters(bench.mongo, bench.own)
    proc = await bench.stack.start_service("notifications", MONGO_URI=bench.mongo_uri,
                                          MONGO_DATABASE=bench.dbs["notifications"])
    if bench.profiler:  # what limits the worker (the pipeline's profiles are of other work)
        bench.profiler.start("notifications-delivery-worker", proc.pid)
        if not bench.external:
            bench.profiler.start("secantusdb-delivery-worker", bench.stack.mongo.pid)
    start, cpu0 = time.time(), observe.cpu_seconds(proc.pid)
    mark = len(bench.observer.records)
    outcomes = ("notification.sent", "notification.failed")
    try:
        await bench.observer.wait_for(lambda: sum(1 for r in bench.observer.records[mark:] if r.type in outcomes)
                                     >= backlog, bench.args.delivery_seconds, "deliveries")
    except TimeoutError:
        pass  # a time budget, not a failure: the rate is what counts
    end, cpu1 = time.time(), observe.cpu_seconds(proc.pid)
    if bench.profiler:
        bench.result.setdefault("profiles", {}).update(
            {name: {"file": str(path), **profiling.summarise(path)} for name, path in bench.profiler.stop().items()})
    db1 = await observe.db_counters(bench.mongo, bench.own)
    sent = [r.timestamp for r in bench.observer.records[mark:] if r.type in outcomes and start <= r.timestamp <= end]
    rt = db1.minus(db0).round_trips(bench.dbs["notifications"])
    return {
        "backlog_start": backlog, "backlog_end": await deliveries.count_documents(pending),
        "seconds": end - start, "delivered": len(sent), "per_second": len(sent) / (end - start),
        "cpu_us_per_delivery": (cpu1 - cpu0) / max(len(sent), 1) * 1e6,
        "cpu_us_per_delivery_net_of_idle": (cpu1 - cpu0 - bench.result["idle_cpu_percent"]["notifications"] / 100
                                            * (end - start)) / max(len(sent), 1) * 1e6,
        # Includes the instance's start-up commands (indexes, first polls): a few dozen.
        "round_trips_per_delivery": rt / max(len(sent), 1) if rt is not None else None,
        "commands_by_collection": db1.minus(db0).breakdown(bench.dbs["notifications"]),
        "peak_rss_mb": observe.memory_mib(proc.pid) * 1.048576,
    }


async def rebuilds(bench) -> dict:
    """`exemplars rebuild` for each service over the populated topics (deploy/ops/rebuild.py):
    read to the committed offsets, replay in memory with the decisions pinned to the log,
    write each document once into a fresh database, compare with the live one."""
    from deploy.ops import rebuild as rb

    results = {}
    for name in ("nominations", "evaluations", "notifications"):
        settings = rb.settings_for(name, kafka_bootstrap_servers=bench.stack.config.bootstrap,
                                   mongo_uri=bench.mongo_uri, mongo_database=bench.dbs[name],
                                   trust_registry=str(bench.stack.keyring.trust_file))  # verified as live
        step(f"rebuild: {name} from the log into {bench.dbs[name]}_rebuild")
        cpu0 = time.process_time()
        result = await rb.rebuild(name, settings, bench.mongo, f"{bench.dbs[name]}_rebuild")
        total = result.read_seconds + result.replay_seconds + result.write_seconds
        docs = sum(result.documents.values())
        results[name] = {
            "events": result.events, "documents_rebuilt": docs,
            "seconds": {"read": result.read_seconds, "replay": result.replay_seconds, "write": result.write_seconds},
            # The fold itself, in memory: what the target is about.
            "events_per_second": result.replay_rate,
            # End to end, with the read from Kafka and the bulk writes.
            "end_to_end_events_per_second": result.events / total if total else float("nan"),
            "cpu_us_per_event": (time.process_time() - cpu0) / max(result.events, 1) * 1e6,
            "equal": result.equal, "divergent": len(result.divergent),
            "differences": [f"{d.collection}: {len(d.missing)} only live, {len(d.extra)} only rebuilt, "
                            f"{len(d.changed)} changed" for d in result.differences],
            # The best any rebuild can do here: write each document once at the bulk reference's rate.
            "write_bound_events_per_second": bench.result["mongo_bulk_reference"]["per_second"] * result.events / max(docs, 1),
        }
    results["peak_rss_mb_of_the_rebuilding_process"] = observe.memory_mib(os.getpid()) * 1.048576
    return results
