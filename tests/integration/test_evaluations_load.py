"""Evaluators' open load as counters (issue 12), against the real SecantusDB.

The live service's handlers in the unit of work (`Live` of the rebuild test), checked
against the load the evaluations themselves imply, under redelivery, replacement,
departure, completion and cancellation, in batches and with two instances writing at once,
and against the rebuild from the log.
"""

import collections
import time
import uuid

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.evaluations.directory import SCORING_VALUES
from services.evaluations.handlers import Evaluations
from services.evaluations.store import EvaluationStore
from shared import topics
from shared.documents import MongoDocuments
from shared.events import ConflictDeclared, NominationWithdrawn
from shared.replay import Answers, compare
from shared.unit_of_work import Conflict, UnitOfWork
from tests.integration.test_evaluations_rebuild import (
    COMPARISON,
    CRITERIA,
    NOMINATIONS,
    POLICY,
    SETTINGS,
    UNITS,
    Live,
    documents,
    only,
    rebuilt_documents,
)

STAFF = {"b1": "U-B", "c1": "U-C", "d1": "U-D", "e1": "U-E", "f1": "U-F", "g1": "U-G"}


async def implied_load(store: EvaluationStore) -> dict[str, int]:
    """The load as a scan of the scoring evaluations computes it."""
    load: dict[str, int] = collections.Counter()
    async for doc in store.evaluations.find({"status": {"$in": list(SCORING_VALUES)}}, {"panel": 1}):
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


async def same_as_rebuilt(live: Live, rebuilt_db) -> None:
    """Redelivered inputs appear once in the log, as the consumer commits past them once."""
    answers = Answers.of(live.log)
    rebuilt = await rebuilt_documents(rebuilt_db, live.inputs, answers)
    assert answers.divergent == []
    live_docs = await documents(live.store.db)
    assert live_docs["loads"] and compare(live_docs, rebuilt, COMPARISON) == []


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
    answer = await live.intake(ConflictDeclared(nomination_id="N1", evaluator_id=leaving, reason="Thân nhân"),
                               "N1", "2024-03-05")
    replaced = only(answer, "evaluation.evaluator_replaced")
    assert await redeliver(live) == answer
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
    await same_as_rebuilt(live, rebuilt_db)


async def test_a_batch_sees_the_loads_its_own_inputs_moved(databases):
    """Six evaluators, four panels of three decided in one batch: later panels see the seats
    earlier ones took, so twelve seats spread over six people; then a batch that completes one
    evaluation, cancels another and replaces a member of a third."""
    live_db, rebuilt_db = databases
    live = await populated(live_db)
    store = live.store
    async with live.batched():
        for n in range(4):
            await live.accept(f"L{n}", "2024-03-01")
    load = await store.open_assignments()
    assert sum(load.values()) == 12 and max(load.values()) - min(load.values()) <= 1, load
    assert load == await implied_load(store)

    leaving = (await live.panel("L2"))[0]
    async with live.batched():
        for evaluator in await live.panel("L0"):
            await live.score("L0", evaluator, 0.8, "2024-03-05")
        await live.send(topics.NOMINATIONS, NominationWithdrawn(nomination_id="L1", unit_id="U-NOM",
                                                                requested_by="NOM-OFFICER", reason="Rút"),
                        "L1", NOMINATIONS, "2024-03-05")
        await live.intake(ConflictDeclared(nomination_id="L2", evaluator_id=leaving, reason="Thân nhân"), "L2",
                          "2024-03-05")
    assert [(await store.evaluation(n))["status"] for n in ("L0", "L1", "L2")] == ["completed", "cancelled", "open"]
    assert await store.open_assignments() == await implied_load(store)
    assert sum((await store.open_assignments()).values()) == 6
    await same_as_rebuilt(live, rebuilt_db)


async def test_two_instances_never_count_one_seat_twice(databases):
    """Two instances decide acceptances that seat the same evaluators: the second to commit
    finds the load documents moved, and decides its batch again on the new loads."""
    live_db, rebuilt_db = databases
    live = await populated(live_db)
    store = live.store
    other = UnitOfWork(MongoDocuments(live_db), Evaluations(CRITERIA, POLICY, SETTINGS.replacement_min_days))
    live.batch = []
    await live.accept("A1", "2024-03-01")
    await live.accept("A2", "2024-03-01")
    first, second = live.batch
    live.batch = None
    commit, conflicts = store.documents.commit, []

    async def meanwhile(writes, answers):
        """The other instance commits its batch between this one's read and its write."""
        if not conflicts:
            conflicts.append(await other.run([second]))
        await commit(writes, answers)

    store.documents.commit = meanwhile
    with pytest.raises(Conflict):
        await live.work.run([first])
    store.documents.commit = commit
    [decided] = await live.work.run([first])  # the consumer runs the batch again
    [[by_other]] = conflicts
    live.log += by_other.publish + decided.publish
    assert await store.open_assignments() == await implied_load(store)
    assert sum((await store.open_assignments()).values()) == 6
    await same_as_rebuilt(live, rebuilt_db)


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

    def report(self, title: str, per: int) -> None:
        print(f"\n{title}:")
        for (name, coll), count in sorted(self.counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"  {coll:16} {name:18} {count / per:7.2f} commands {self.seconds[name, coll] * 1e3 / per:8.2f} ms")
        print(f"  total {sum(self.counts.values()) / per:.2f} commands, {sum(self.seconds.values()) * 1e3 / per:.1f} ms")
        self.counts.clear()
        self.seconds.clear()


async def test_commands_per_nomination(stack):
    """Not an assertion on speed: the figures of issue 12, printed (pytest -s)."""
    listener = Commands()
    client = AsyncMongoClient(stack.config.mongo_uri, tz_aware=True, event_listeners=[listener])
    db = client[f"evaluations_load_{uuid.uuid4().hex[:8]}"]
    try:
        live = await populated(db)
        async with live.batched():
            for n in range(200):  # open evaluations, which a scan of the load would read
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
        listener.report(f"per nomination, one input per batch (accept, 3 sheets, completion; 200 open "
                        f"evaluations; {elapsed * 1e3 / measured:.1f} ms wall)", measured)

        async with live.batched():
            for n in range(measured):
                await live.accept(f"P{n}", "2024-03-04")
        listener.report(f"one batch of {measured} acceptances", 1)
        panels = {n: await live.panel(f"P{n}") for n in range(measured)}
        listener.counts.clear()
        listener.seconds.clear()
        async with live.batched():
            for n, panel in panels.items():
                for evaluator in panel:
                    await live.score(f"P{n}", evaluator, 0.8, "2024-03-05")
        listener.report(f"one batch of {measured * 3} score sheets (completing {measured})", 1)
    finally:
        await client.drop_database(db.name)
        await client.close()
