"""The phases after the pipeline's: the delivery worker on its backlog, and projection rebuilds.

Both take the running `bench.benchmark.Bench` (its stack, observer, database client).
"""

import asyncio
import datetime as dt
import time
import uuid

from bench import observe
from bench.observe import GROUPS
from bench.report import step

# The decision compared between the live projection and a rebuilt one: (collection, field).
REBUILD_CHECK = {"nominations": ("nominations", "status"), "evaluations": ("evaluations", "panel"),
                 "notifications": ("nominations", "panel")}


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
    start, cpu0 = time.time(), observe.cpu_seconds(proc.pid)
    mark = len(bench.observer.records)
    outcomes = ("notification.sent", "notification.failed")
    try:
        await bench.observer.wait_for(lambda: sum(1 for r in bench.observer.records[mark:] if r.type in outcomes)
                                     >= backlog, bench.args.delivery_seconds, "deliveries")
    except TimeoutError:
        pass  # a time budget, not a failure: the rate is what counts
    end, cpu1 = time.time(), observe.cpu_seconds(proc.pid)
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
    """A fresh instance of each service, in a database and consumer groups of its own, over the
    populated topics, timed until it has committed everything: a replay through the live handlers
    (no rebuild tool exists yet), not an in-memory fold."""
    results = {}
    # Notifications first: the others republish their (duplicate) answers as they replay.
    for name in ("notifications", "evaluations", "nominations"):
        await bench.observer.wait_quiet(2.0)  # the previous replay's republished answers are counted too
        prefix = f"bench-rebuild-{uuid.uuid4().hex[:6]}."
        targets = {f"{prefix}{name}.{group}": bench.observer.true_ends([topic])
                   for group, topic in GROUPS[name].items()}
        total = sum(sum(ends.values()) for ends in targets.values())
        reported = {g: await bench.lag.end_offsets(g, [GROUPS[name][g.rsplit(".", 1)[1]]]) for g in targets}
        step(f"rebuild: a fresh {name} instance replays {total} events")
        overrides = {"MONGO_URI": bench.mongo_uri, "MONGO_DATABASE": bench.dbs[name] + "_rebuild",
                     "KAFKA_GROUP_PREFIX": prefix}
        if name == "notifications":  # project only: mailing the history again is what a rebuild must not do
            overrides["NOTIFY_AFTER"] = dt.datetime.now(dt.UTC).isoformat()
        started = time.time()
        proc = await bench.stack.start_service(name, **overrides)
        cpu0 = observe.cpu_seconds(proc.pid)
        first = None
        while True:
            done = sum([sum(c.values()) for c in [await bench.lag.committed(g, t) for g, t in targets.items()]])
            now = time.time()
            if first is None and done > 0:
                first = (now, done)
            if done >= total:
                break
            if now - started > bench.args.rebuild_timeout:
                break
            await asyncio.sleep(0.2)
        cpu = observe.cpu_seconds(proc.pid) - cpu0
        docs = sum((await observe.documents(bench.mongo, bench.dbs[name] + "_rebuild")).values())
        results[name] = {
            "events": total, "replayed": done, "complete": done >= total,
            # A cross-check of the ends counted by reading: what shared.lag.LagProbe reports.
            "lagprobe_events": sum(sum(ends.values()) for ends in reported.values()),
            "seconds_from_start": now - started,
            # From the first commit seen: the consumer-group join (~5 s on Tansu) is not replay work.
            "events_per_second": (done - first[1]) / (now - first[0]) if first and now > first[0] else float("nan"),
            "cpu_us_per_event": cpu / max(done, 1) * 1e6,
            "peak_rss_mb": observe.memory_mib(proc.pid) * 1.048576,
            "differences": await compare(bench.mongo, name, bench.dbs[name], bench.dbs[name] + "_rebuild"),
            "documents_rebuilt": docs,
            # The best a fold in memory could do here: write each of those documents once, at the
            # bulk reference's rate.
            "fold_bound_events_per_second": bench.result["mongo_bulk_reference"]["per_second"] * total / max(docs, 1),
        }
        bench.stack.stop_services()
    return results


async def compare(mongo, name: str, live: str, rebuilt: str) -> dict:
    """Does the replay decide what the live run decided? Documents per collection, and the
    documents whose key decision (a nomination's status, a panel) came out otherwise."""
    collection, decision = REBUILD_CHECK[name]
    docs = {}
    for db in (live, rebuilt):
        docs[db] = {d["_id"]: d.get(decision) async for d in mongo[db][collection].find({}, {decision: 1})}
    return {"collection": collection, "field": decision, "live": len(docs[live]), "rebuilt": len(docs[rebuilt]),
            "differing": sum(1 for k, v in docs[live].items() if docs[rebuilt].get(k) != v)}
