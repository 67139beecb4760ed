"""Crashes, rebalances and schedules of the nominations nominations_service, over the wire."""

import asyncio
import collections
import uuid

import pytest

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from shared import topics
from shared.envelope import new_event
from tests.conftest import wait_until
from tests.e2e.test_nominations import DB, answer, people

pytestmark = pytest.mark.fault


def stream(count: int, tag: str):
    """`count` nominations spread over units and years, many over quota on purpose."""
    units = sorted(u for u, roles in people().items() if "emulation_officer" in roles)
    staff = people()
    subs = []
    for n in range(count):
        unit = units[n % len(units)]
        year = 2023 + (n // len(units)) % 4
        sub = submission(f"NOM-{tag}-{n:04d}", staff[unit]["emulation_officer"], year, MODELS[n % len(MODELS)])
        subs.append(sub.model_copy(update={"nominee": sub.nominee.model_copy(update={"name": f"Tập thể số {tag}-{n}"})}))
    return [new_event(s, key=s.nomination_id, source=f"urn:unit:{s.unit_id}") for s in subs]


async def check_answered_once(mongo, topic_log, events):
    """Every nomination decided exactly once: one document, one answer id, quota never exceeded."""
    ids = [e.data.nomination_id for e in events]
    docs = {d["_id"]: d async for d in mongo[DB]["nominations"].find({"_id": {"$in": ids}})}
    assert set(docs) == set(ids), f"{len(set(ids) - set(docs))} nominations never answered"
    log = await topic_log(topics.NOMINATIONS)
    wanted = set(ids)
    await log.wait_for(lambda: wanted <= {e.key for e in log.events()}, what="an answer to every nomination")
    answers = collections.defaultdict(set)
    for event in log.events():
        if event.key in wanted:
            answers[event.key].add((event.id, event.type))
    assert all(len(a) == 1 for a in answers.values()), "a nomination was answered twice, differently"
    for nomination_id, ((_, kind),) in answers.items():
        assert docs[nomination_id]["status"] == kind.split(".")[1], nomination_id
    quotas = await mongo[DB]["quotas"].find({}).to_list()
    assert max(len(q["holders"]) for q in quotas) <= 2
    held = [h for q in quotas for h in q["holders"] if h in set(ids)]
    assert len(held) == len(set(held)) and set(held) == {i for i, d in docs.items() if d["status"] == "accepted"}


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(nominations_service, stack, producer, mongo, topic_log):
    # A batch is up to 250 records decided and committed at once: enough of them that the
    # kill lands between two commits with most of the stream still to come.
    events = stream(800, f"K{uuid.uuid4().hex[:4]}")
    await send(producer, topics.NOMINATIONS_INTAKE, events)
    ids = [e.data.nomination_id for e in events]

    async def some_done():
        return await mongo[DB]["nominations"].count_documents({"_id": {"$in": ids}}) >= 60

    await wait_until(some_done, timeout=60, what="the stream to be under way")
    nominations_service.kill()
    done_at_kill = await mongo[DB]["nominations"].count_documents({"_id": {"$in": ids}})
    assert done_at_kill < len(ids), "the kill came too late to prove anything"
    await stack.restart(nominations_service)

    async def all_done():
        return await mongo[DB]["nominations"].count_documents({"_id": {"$in": ids}}) == len(ids)

    await wait_until(all_done, timeout=120, what="every nomination to be answered after the restart")
    await check_answered_once(mongo, topic_log, events)


async def test_two_instances_share_the_partitions(nominations_service, stack, producer, mongo, topic_log):
    second = await stack.start_service("nominations")
    try:
        async def both_assigned():
            return all("exemplars.nominations.intake" in p.tail(400) and "assigned to partitions" in p.tail(400)
                       for p in (nominations_service, second)) and _intake_partitions(second)

        await wait_until(both_assigned, timeout=40, what="the second instance to get partitions")
        events = stream(120, f"G{uuid.uuid4().hex[:4]}")
        await send(producer, topics.NOMINATIONS_INTAKE, events)
        ids = [e.data.nomination_id for e in events]

        async def all_done():
            return await mongo[DB]["nominations"].count_documents({"_id": {"$in": ids}}) == len(ids)

        await wait_until(all_done, timeout=60, what="every nomination answered by the pair")
        await check_answered_once(mongo, topic_log, events)
    finally:
        second.stop()
        stack.services["nominations"].remove(second)


def _intake_partitions(proc) -> bool:
    """The instance's log says it holds at least one intake partition now."""
    lines = [line for line in proc.tail(400).splitlines()
             if "assigned to partitions" in line and "exemplars.nominations.intake" in line]
    return bool(lines) and "partition=" in lines[-1]


async def test_quota_shortfall_once_per_unit_and_year(nominations_service, stack, producer, mongo, topic_log):
    # VP holds a place in 2024 either way: accepted now, or full already from other tests.
    sub = submission(f"NOM-Q-{uuid.uuid4().hex[:6]}", people()["VP"]["emulation_officer"], 2024, MODELS[0])
    event = new_event(sub, key=sub.nomination_id, source="urn:unit:VP")
    await send(producer, topics.NOMINATIONS_INTAKE, [event])
    reply = await answer(topic_log, event)
    assert reply.type == "nomination.accepted" or {r.code for r in reply.data.reasons} == {"QUOTA_EXCEEDED"}

    # An instance of its own (database, consumer groups), whose "today" is past the reminder date.
    tag = uuid.uuid4().hex[:6]
    checker = await stack.start_service("nominations", MONGO_DATABASE=f"shortfall_{tag}", KAFKA_GROUP_PREFIX=f"{tag}.",
                                        CLOCK_TODAY="2024-11-15", SHORTFALL_CHECK_SECONDS="0.5",
                                        # the check itself waits until the intake has been read
                                        SHORTFALL_FIRST_CHECK_SECONDS="0")
    try:
        log = await topic_log(topics.NOMINATIONS)

        def shortfalls():
            return [e for e in log.events() if e.type == "unit.quota_shortfall"]

        await log.wait_for(lambda: any(e.data.year == 2024 for e in shortfalls()), timeout=90,
                           what="the first shortfall notices")
        await asyncio.sleep(3)  # several more runs of the schedule
        checker.kill()
        await stack.restart(checker)
        # Ready once its groups have joined; its first checks follow at once, every 0.5 s.
        await asyncio.sleep(5)

        notices = shortfalls()
        by_unit_year = collections.Counter((e.data.unit_id, e.data.year) for e in notices)
        assert max(by_unit_year.values()) == 1, "a unit was reminded twice for the same year"
        nominated = {d["unit_id"] async for d in mongo[f"shortfall_{tag}"]["quotas"].find({"year": 2024})
                     if d["holders"]}
        active = {u.unit_id for u in demo_data.units() if u.valid_from.year <= 2024 and (u.valid_to is None or u.valid_to.year >= 2024)}
        assert "VP" in nominated and active - nominated  # both kinds of unit are present
        assert {unit for unit, year in by_unit_year if year == 2024} == active - nominated
        assert {year for _, year in by_unit_year} <= {2023, 2024}  # 2025's date has not come
        assert all(e.data.accepted < e.data.yearly_minimum for e in notices)
    finally:
        checker.stop()
        stack.services["nominations"].remove(checker)
