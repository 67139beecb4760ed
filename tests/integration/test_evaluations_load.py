"""Evaluators' open load as counters (issue 12), against the real SecantusDB.

The live service's handlers on the real `EvaluationStore` (`Live` of the rebuild test),
checked against the load the evaluations themselves imply, under redelivery, replacement,
departure, completion and cancellation, and against the rebuild from the log.
"""

import collections
import time
import uuid

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError

from services.evaluations.domain import SCORING
from services.evaluations.store import EvaluationStore
from shared import topics
from shared.events import ConflictDeclared, NominationWithdrawn
from shared.replay import Answers, Logged, compare
from tests.integration.test_evaluations_rebuild import (
    COMPARISON,
    NOMINATIONS,
    UNITS,
    Live,
    documents,
    only,
    rebuilt_documents,
    roundtrip,
)

STAFF = {"b1": "U-B", "c1": "U-C", "d1": "U-D", "e1": "U-E", "f1": "U-F", "g1": "U-G"}


async def implied_load(store: EvaluationStore) -> dict[str, int]:
    """The load as the scan computed it before the counters: every scoring evaluation's panel."""
    load: dict[str, int] = collections.Counter()
    for doc in await store.evaluations_in(list(SCORING)):
        load.update(doc["panel"])
    return dict(load)


async def redeliver(live: Live, n: int = -1) -> list:
    """The `n`th input applied again, as a redelivery brings it (same id, same position)."""
    record = live.inputs[n]
    return await live._handle(record.topic, record.event)


@pytest.fixture
async def databases(mongo):
    names = [f"evaluations_load_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield [mongo[name] for name in names]
    for name in names:
        await mongo.drop_database(name)


async def populated(db) -> Live:
    live = Live(EvaluationStore(db))
    await live.store.ensure_indexes()
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    for staff_id, unit_id in STAFF.items():
        await live.staff(staff_id, unit_id, "2024-02-01")
    return live


async def test_the_counters_follow_every_change_once(databases):
    live_db, rebuilt_db = databases
    live = await populated(live_db)
    store = live.store

    async def check() -> None:
        assert await store.open_assignments() == await implied_load(store)

    for n, day in (("N1", "2024-03-01"), ("N2", "2024-03-02"), ("N3", "2024-03-03")):
        first = await live.accept(n, day)
        assert await redeliver(live) == first  # the same answer, counted once
        await check()
    assert sum((await store.open_assignments()).values()) == 9

    # A conflict: the member leaves, a replacement joins; redelivered, nothing moves again.
    leaving = (await live.panel("N1"))[0]
    replaced = only(await live.intake(ConflictDeclared(nomination_id="N1", evaluator_id=leaving, reason="Thân nhân"),
                                      "N1", "2024-03-05"), "evaluation.evaluator_replaced")
    await redeliver(live)
    await check()
    assert "N1" not in (await store.loads.find_one({"_id": leaving}))["open"]
    assert "N1" in (await store.loads.find_one({"_id": replaced.replacement_id}))["open"]

    # A departure from the directory: every panel the member sits on replaces them.
    gone = (await live.panel("N2"))[0]
    await live.remove(gone, STAFF[gone], "2024-03-06")
    await redeliver(live)
    await check()
    assert (await store.open_assignments()).get(gone, 0) == 0

    # Completion closes the evaluation for the whole panel, however often the last sheet comes.
    for evaluator in await live.panel("N2"):
        await live.score("N2", evaluator, 0.8, "2024-03-08")
        await redeliver(live)
    assert (await store.evaluation("N2"))["status"] == "completed"
    await check()

    # A withdrawal cancels; a late copy of the acceptance (a producer's retry) counts nothing again.
    only(await live.send(topics.NOMINATIONS, NominationWithdrawn(nomination_id="N3", unit_id="U-NOM",
                                                                 requested_by="NOM-OFFICER", reason="Rút"),
                         "N3", NOMINATIONS, "2024-03-09"), "evaluation.cancelled")
    await redeliver(live)
    accepted_n3 = next(i for i, r in enumerate(live.inputs)
                       if r.event.type == "nomination.accepted" and r.event.data.nomination_id == "N3")
    await redeliver(live, accepted_n3)
    await check()
    assert sum((await store.open_assignments()).values()) == 3  # only N1 is still being scored

    # Redelivered inputs appear once in the log, as the consumer commits past them once.
    answers = Answers.of(live.log)
    rebuilt = await rebuilt_documents(rebuilt_db, live.inputs, answers)
    assert answers.divergent == []
    live_docs = await documents(live_db)
    assert live_docs["loads"] and compare(live_docs, rebuilt, COMPARISON) == []


async def test_a_crash_between_the_evaluation_and_its_counters(databases, monkeypatch):
    """The evaluation is written, the service dies before its counters: the redelivery counts."""
    live_db, rebuilt_db = databases
    live = await populated(live_db)
    store = live.store
    await live.accept("N1", "2024-03-01")

    async def killed(*args, **kwargs):
        raise ConnectionError("killed")

    async def crashing(accept: str, day: str) -> Logged:
        """`accept` handled up to the counters; the input as the consumer will redeliver it."""
        seen = []
        handle = live._handle

        async def spy(topic, event):
            seen.append(Logged(topic, event.received.partition, event.received.offset, event.received.at, event))
            return await handle(topic, event)

        with monkeypatch.context() as patched:
            patched.setattr(store, "count_load", killed)
            patched.setattr(live, "_handle", spy)
            with pytest.raises(ConnectionError):
                await live.accept(accept, day)
        return seen[-1]

    async def redelivered(record: Logged) -> None:
        live.inputs.append(record)  # once in the log, however often delivered
        live.log += [roundtrip(e) for e in await live._handle(record.topic, record.event)]

    lost = await crashing("N2", "2024-03-02")
    assert (await store.evaluation("N2"))["panel"]  # written, not counted
    assert await store.open_assignments() != await implied_load(store)
    await redelivered(lost)
    assert await store.open_assignments() == await implied_load(store)

    # N3's counters are lost, then a member leaves N3: the late join never counts the closed seat.
    lost = await crashing("N3", "2024-03-03")
    leaving = (await live.panel("N3"))[0]
    await live.intake(ConflictDeclared(nomination_id="N3", evaluator_id=leaving, reason="Thân nhân"), "N3", "2024-03-04")
    assert "N3" not in (await store.loads.find_one({"_id": leaving}) or {"open": []})["open"]
    await redelivered(lost)
    assert "N3" not in (await store.loads.find_one({"_id": leaving}) or {"open": []})["open"]
    assert await store.open_assignments() == await implied_load(store)

    live.inputs.sort(key=lambda r: r.at)
    answers = Answers.of(live.log)
    rebuilt = await rebuilt_documents(rebuilt_db, live.inputs, answers)
    assert answers.divergent == []
    assert compare(await documents(live_db), rebuilt, COMPARISON) == []


async def test_a_first_join_that_lost_the_race_for_the_document_still_counts(databases, monkeypatch):
    """Two instances open the first seats of an evaluator at once: one upsert creates the
    document, the other's, having matched nothing, fails on its id. SecantusDB here runs writes
    one at a time, so the loser is played: its bulk write fails whole, as it would."""
    store = EvaluationStore(databases[0])
    evaluators = ["x1", "x2"]
    await store.evaluations.insert_many([{"_id": nid, "panel": evaluators, "status": "open"} for nid in ("A", "B")])
    await store.count_load("A", {"join": evaluators})
    bulk_write, lost = store.loads.bulk_write, []

    async def racing(updates, **kwargs):
        if not lost:
            lost.append(updates)
            raise BulkWriteError({"writeErrors": [{"index": n, "code": 11000} for n in range(len(updates))]})
        return await bulk_write(updates, **kwargs)

    monkeypatch.setattr(store.loads, "bulk_write", racing)
    await store.count_load("B", {"join": evaluators})
    assert lost and await store.open_assignments() == {"x1": 2, "x2": 2}
    await store.count_load("B", {"join": evaluators})  # a redelivery: the guard fails, nothing counts
    assert await store.open_assignments() == {"x1": 2, "x2": 2}


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.seconds: collections.Counter = collections.Counter()
        self._started: dict[int, tuple[str, str]] = {}

    def started(self, event):
        target = event.command.get(event.command_name)
        self._started[event.request_id] = (event.command_name, target if isinstance(target, str) else "-")

    def succeeded(self, event):
        self._record(event)

    def failed(self, event):
        self._record(event)

    def _record(self, event):
        key = self._started.pop(event.request_id, None)
        if key is not None:
            self.counts[key] += 1
            self.seconds[key] += event.duration_micros / 1e6


async def test_commands_per_nomination(stack):
    """Not an assertion on speed: the figures of issue 12, printed (pytest -s)."""
    listener = Commands()
    client = AsyncMongoClient(stack.config.mongo_uri, tz_aware=True, event_listeners=[listener])
    db = client[f"evaluations_load_{uuid.uuid4().hex[:8]}"]
    try:
        live = await populated(db)
        for n in range(200):  # open evaluations the old scan read on every panel choice
            await live.accept(f"B{n}", "2024-03-01")
        measured = 20
        listener.counts.clear()
        listener.seconds.clear()
        started = time.perf_counter()
        for n in range(measured):
            nid = f"M{n}"
            panel = only(await live.accept(nid, "2024-03-02"), "evaluation.panel_assigned").evaluators
            for evaluator in panel:
                await live.score(nid, evaluator, 0.8, "2024-03-03")
        elapsed = time.perf_counter() - started
        print(f"\nper nomination (accept, 3 sheets, completion; 200 open evaluations), {measured} measured:")
        for (name, coll), count in sorted(listener.counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"  {coll:16} {name:10} {count / measured:6.2f} commands {listener.seconds[name, coll] * 1e3 / measured:8.2f} ms")
        total = sum(listener.counts.values())
        print(f"  total {total / measured:.2f} commands, {sum(listener.seconds.values()) * 1e3 / measured:.1f} ms "
              f"round trips, {elapsed * 1e3 / measured:.1f} ms wall")
    finally:
        await client.drop_database(db.name)
        await client.close()
