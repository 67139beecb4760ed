"""`exemplars rebuild` from the command line against a live nominations service: the projection
rebuilt from the log equals the live one.

A stack of its own: the session's topics also carry the answers of other nominations
instances that tests start on databases of their own, which no single projection matches.
The fault suite rebuilds all three services after its faults and switches them in.
"""

import asyncio
import json
import sys
import uuid

import pytest
from pymongo import AsyncMongoClient

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from deploy.stack import EmbeddedStack, StackConfig
from shared import groups, topics
from shared.envelope import new_event
from shared.events import NominationWithdrawn
from shared.lag import LagProbe
from tests.conftest import TopicLog
from tests.e2e.test_nominations import answer, people, submit


async def caught_up(bootstrap: str, service: str) -> None:
    probe = LagProbe(bootstrap)
    try:
        for sub in groups.of_service(service):
            await asyncio.wait_for(probe.wait_caught_up(f"{service}.{sub.name}", [sub.topic], 0.2), 60)
    finally:
        await probe.close()


async def rebuild_command(stack, service: str, *args: str) -> tuple[int, dict, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "rebuild", service, "--json", "--bootstrap", stack.config.bootstrap,
        "--mongo-uri", stack.config.mongo_uri, "--trust-registry", str(stack.keyring.trust_file), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode, json.loads(out) if out.strip() else {}, err.decode()


@pytest.fixture(scope="module")
async def own(tmp_path_factory):
    stack = EmbeddedStack(StackConfig.ephemeral(tmp_path_factory.mktemp("rebuild-stack")))
    await stack.start_servers()
    producer = await stack.producer()
    mongo = AsyncMongoClient(stack.config.mongo_uri, tz_aware=True)
    logs: dict[str, TopicLog] = {}

    async def topic_log(topic: str) -> TopicLog:
        if topic not in logs:
            logs[topic] = await TopicLog(stack.config.bootstrap, topic, stack.vault()).start()
        return logs[topic]
    try:
        await send(producer, topics.DIRECTORY, demo_data.directory_events())
        await stack.start_service("nominations")
        yield stack, producer, mongo, topic_log
    finally:
        for log in logs.values():
            await log.stop()
        await producer.stop()
        await mongo.close()
        stack.stop()


async def test_nominations_rebuilt_from_the_log_equal_the_live_projection(own):
    stack, producer, mongo, topic_log = own
    officer = people()["QLDD"]["emulation_officer"]
    base = f"NOM-RB-{uuid.uuid4().hex[:6]}"
    first = await submit(producer, submission(f"{base}-1", officer, 2025, MODELS[3]))
    refused = await submit(producer, submission(f"{base}-2", officer, 2025, MODELS[4], field="forestry"))
    assert (await answer(topic_log, first)).type in ("nomination.accepted", "nomination.rejected")
    assert (await answer(topic_log, refused)).type == "nomination.rejected"
    withdrawal = new_event(NominationWithdrawn(nomination_id=f"{base}-1", unit_id="QLDD", requested_by=officer.staff_id,
                                               reason="Rút để bổ sung hồ sơ"), key=f"{base}-1", source="urn:unit:QLDD")
    await send(producer, topics.NOMINATIONS_INTAKE, [withdrawal])
    nominations = await topic_log(topics.NOMINATIONS)
    await nominations.wait_for(lambda: any(e.type in ("nomination.withdrawn", "nomination.withdrawal_rejected")
                                           and e.key == f"{base}-1" for e in nominations.events()),
                               what="the answer to the withdrawal")
    await caught_up(stack.config.bootstrap, "nominations")

    into = f"rebuilt_nominations_{uuid.uuid4().hex[:6]}"
    code, result, err = await rebuild_command(stack, "nominations", "--into", into)

    assert code == 0, f"{result.get('differences')} {result.get('divergent')} {err[-2000:]}"
    assert result["equal"] and not result["divergent"] and not result["differences"]
    assert result["documents"]["nominations"] == await mongo["exemplars_nominations"]["nominations"].count_documents({})
    live = await mongo["exemplars_nominations"]["nominations"].find_one({"_id": f"{base}-1"})
    rebuilt = await mongo[into]["nominations"].find_one({"_id": f"{base}-1"})
    assert rebuilt["status"] == live["status"] in ("withdrawn", "rejected")
    # Every input's answer is kept in `answers`, a refused withdrawal's too (it changes nothing else).
    assert await mongo[into]["answers"].count_documents({"_id": withdrawal.dedup_key}) == 1
    assert not result["switched"]


async def test_rebuild_refuses_a_database_in_use(own):
    stack = own[0]
    code, _, err = await rebuild_command(stack, "nominations", "--into", "exemplars_nominations")
    assert code == 2 and "fresh database" in err
