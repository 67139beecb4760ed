"""`exemplars rebuild` against the session's live services: the projection rebuilt from the log
equals the live one. The session's databases hold everything the other end-to-end tests did
(refusals, withdrawals, races, kills), which is the point: a rebuild must reproduce all of it.

The switch is exercised by the fault suite, which owns its stack.
"""

import asyncio
import json
import sys
import uuid

from deploy.demo import send
from deploy.demo_data import MODELS, submission
from shared import groups, topics
from shared.envelope import new_event
from shared.events import NominationWithdrawn
from shared.lag import LagProbe
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
        "--mongo-uri", stack.config.mongo_uri, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode, json.loads(out) if out.strip() else {}, err.decode()


async def test_nominations_rebuilt_from_the_log_equal_the_live_projection(nominations_service, stack, producer,
                                                                        topic_log, mongo):
    officer = people()["QLDD"]["emulation_officer"]
    base = f"NOM-RB-{uuid.uuid4().hex[:6]}"
    accepted = await submit(producer, submission(f"{base}-1", officer, 2025, MODELS[3]))
    refused = await submit(producer, submission(f"{base}-2", officer, 2025, MODELS[4], field="forestry"))
    assert (await answer(topic_log, accepted)).type == "nomination.accepted"
    assert (await answer(topic_log, refused)).type == "nomination.rejected"
    withdrawal = new_event(NominationWithdrawn(nomination_id=f"{base}-1", unit_id="QLDD", requested_by=officer.staff_id,
                                               reason="Rút để bổ sung hồ sơ"), key=f"{base}-1", source="urn:unit:QLDD")
    await send(producer, topics.NOMINATIONS_INTAKE, [withdrawal])
    nominations = await topic_log(topics.NOMINATIONS)
    await nominations.wait_for(lambda: any(e.type == "nomination.withdrawn" and e.key == f"{base}-1"
                                           for e in nominations.events()), what="the withdrawal")
    await caught_up(stack.config.bootstrap, "nominations")

    into = f"rebuilt_nominations_{uuid.uuid4().hex[:6]}"
    code, result, err = await rebuild_command(stack, "nominations", "--into", into)

    assert code == 0, f"{result.get('differences')} {result.get('divergent')} {err[-2000:]}"
    assert result["equal"] and not result["divergent"] and not result["differences"]
    assert result["documents"]["nominations"] == await mongo["exemplars_nominations"]["nominations"].count_documents({})
    rebuilt = await mongo[into]["nominations"].find_one({"_id": f"{base}-1"})
    assert rebuilt["status"] == "withdrawn" and len(rebuilt["outbox"]) == 2
    assert not result["switched"]


async def test_rebuild_refuses_a_database_in_use(nominations_service, stack):
    code, _, err = await rebuild_command(stack, "nominations", "--into", "exemplars_nominations")
    assert code == 2 and "fresh database" in err
