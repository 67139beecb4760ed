"""The operator tools over the wire: the `exemplars` command run as a process against the
real Tansu, SecantusDB and services, on dead letters the nominations service really wrote."""

import asyncio
import datetime as dt
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from deploy.dev_keys import OPERATOR_TOKEN_FILE
from deploy.ops import REPLAY_MARKER_TOPIC
from shared import envelope, topics
from shared.envelope import new_event
from shared.events import NominationAccepted
from shared.retention import DAY_MS
from shared.vocabulary import Role
from tests.conftest import wait_until
from tests.integration.test_topic_retention import reported_configs

ROOT = Path(__file__).resolve().parents[2]
INTAKE = topics.NOMINATIONS_INTAKE
DLQ = topics.dlq(INTAKE)


async def cli(*args: str, timeout: float = 90.0) -> tuple[int, str, str]:
    """`exemplars ARGS` as an operator types it."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "deploy.cli", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def cli_json(*args: str, expect: int = 0):
    code, out, err = await cli(*args, "--json")
    assert code == expect, (code, out, err)
    return json.loads(out)


@dataclass
class Poison:
    reason: str
    value: bytes
    headers: list[tuple[str, bytes]]
    source: tuple[int, int]  # where it landed on the intake topic
    event_id: str | None = None
    dlq_offset: int | None = None


@pytest.fixture(scope="module")
async def poison(stack, producer, nominations_service, topic_log) -> tuple[bytes, list[Poison]]:
    """Three records the nominations service must dead-letter, under a key of their own."""
    key = f"NOM-OPS-{uuid.uuid4().hex[:8]}".encode()
    officer = next(m for m in demo_data.staff() if m.unit_id == "QLDD" and Role.EMULATION_OFFICER in m.roles)
    good = submission(key.decode(), officer, 2024, MODELS[0])
    _, _, valid_headers = envelope.encode(new_event(good, key=key.decode(), source="urn:unit:QLDD"))
    garbage_headers = {**valid_headers, "ce_id": str(uuid.uuid4()), "x-unit-system": "Hệ thống một cửa QLDD"}
    cases = [Poison("undecodable", b"\xff\xfe\x00 kh\xc3\xb4ng ph\xe1\xba\xa3i JSON",
                    [(k, v.encode()) for k, v in garbage_headers.items()], (0, 0), garbage_headers["ce_id"])]
    # Directory events sent to the intake by mistake: identical copies of demo units, so
    # replaying one to the directory, where it belongs, changes nothing but its marker.
    for unit in (demo_data.units()[3], demo_data.units()[4]):
        event = new_event(unit, key=key.decode(), source="urn:hr:ops-test")
        _, value, headers = envelope.encode(event)
        cases.append(Poison("unexpected_type", value, [(k, v.encode()) for k, v in headers.items()], (0, 0), event.id))
    for case in cases:
        # Signed as their systems would (what the dead letter and a replay must keep, exactly).
        case.value, case.headers = stack.keyring.sign_record(case.value, case.headers)
        meta = await producer.unsigned.send_and_wait(INTAKE, case.value, key=key, headers=case.headers)
        case.source = (meta.partition, meta.offset)

    dlq = await topic_log(DLQ)
    mine = await dlq.wait_for(lambda: (found := [r for r in dlq.records if r.key == key]) and len(found) >= 3 and found,
                              timeout=30, what="three dead letters")
    by_source = {int(dict(r.headers)["x-dlq-offset"].decode()): r.offset for r in mine}
    for case in cases:
        case.dlq_offset = by_source[case.source[1]]
    return key, cases


async def test_list_names_each_dead_letter(stack, poison):
    key, cases = poison
    listed = await cli_json("deadletters", "list", "--bootstrap", stack.config.bootstrap, "--topic", INTAKE)
    mine = {e["offset"]: e for e in listed["topics"][DLQ] if e["key"] == key.decode()}
    for case in cases:
        entry = mine[case.dlq_offset]
        assert entry["reason"] == case.reason and entry["service"] == "nominations" and entry["error"]
        assert entry["source"] == {"topic": INTAKE, "partition": case.source[0], "offset": case.source[1]}
        assert entry["event"]["id"] == case.event_id
    assert mine[cases[1].dlq_offset]["event"]["type"] == "unit.registered"
    assert "is not accepted on" in mine[cases[1].dlq_offset]["error"]

    code, out, _ = await cli("deadletters", "list", "--bootstrap", stack.config.bootstrap, "--reason", "undecodable")
    assert code == 0 and out.startswith(f"{DLQ}: ") and "REASON" in out
    row = next(line for line in out.splitlines() if key.decode() in line)
    assert "undecodable" in row and f"[{cases[0].source[0]}]@{cases[0].source[1]}" in row and "nominations" in row
    assert all("unexpected_type" not in line for line in out.splitlines() if key.decode() in line)

    recent = await cli_json("deadletters", "list", "--bootstrap", stack.config.bootstrap, "--topic", INTAKE,
                            "--since", "1h")
    assert {e["offset"] for e in recent["topics"][DLQ] if e["key"] == key.decode()} == set(mine)
    future = await cli_json("deadletters", "list", "--bootstrap", stack.config.bootstrap, "--since", "2999-01-01")
    assert future["missing"] == [] and not any(future["topics"].values())


async def test_show_gives_the_original_bytes_headers_and_error(stack, poison):
    _, (garbage, *_) = poison
    where = [DLQ, "0", str(garbage.dlq_offset)]
    shown = await cli_json("deadletters", "show", "--bootstrap", stack.config.bootstrap, *where)
    import base64

    assert base64.b64decode(shown["value_base64"]) == garbage.value
    assert [(h["name"], base64.b64decode(h["base64"])) for h in shown["original_headers"]] == garbage.headers
    assert shown["reason"] == "undecodable" and "invalid nomination.submitted payload" in shown["error"]

    code, out, _ = await cli("deadletters", "show", "--bootstrap", stack.config.bootstrap, INTAKE, *where[1:])
    assert code == 0
    assert "\\xff\\xfe\\x00 không phải JSON" in out  # printable form
    assert "00000000  ff fe 00 20 6b 68 c3 b4" in out  # hex
    assert base64.b64encode(garbage.value).decode() in out
    assert "x-unit-system: Hệ thống một cửa QLDD" in out and "never replayed" in out
    code, _, err = await cli("deadletters", "show", "--bootstrap", stack.config.bootstrap, DLQ, "0", "999999")
    assert code == 2 and "no record" in err


async def test_selection_and_dry_run_publish_nothing(stack, poison):
    key, (garbage, *_) = poison
    bootstrap = ("--bootstrap", stack.config.bootstrap)
    plan = await cli_json("deadletters", "replay", *bootstrap, "--reason", "undecodable", "--key", key.decode(),
                          "--dry-run")
    assert [s["dead_letter"] for s in plan["steps"]] == [f"{DLQ}/0/{garbage.dlq_offset}"]
    assert plan["steps"][0]["to"] == {"topic": INTAKE, "partition": garbage.source[0]} and not plan["steps"][0]["refused"]
    code, _, err = await cli("deadletters", "replay", *bootstrap, "--topic", INTAKE)
    assert code == 2 and "choose what to replay" in err
    code, _, err = await cli("deadletters", "replay", *bootstrap, "--topic", INTAKE, "--offset", "99999999")
    assert code == 2 and "no dead letter at 0:99999999" in err
    listed = await cli_json("deadletters", "list", *bootstrap, "--topic", INTAKE)
    assert all(not e["replays"] for e in listed["topics"][DLQ] if e["key"] == key.decode())


async def test_replay_puts_the_exact_record_back_once(stack, poison, topic_log):
    key, (_, wrong, _) = poison
    bootstrap = ("--bootstrap", stack.config.bootstrap)
    intake = await topic_log(INTAKE)
    replay = ("deadletters", "replay", *bootstrap, "--topic", DLQ, "--offset", str(wrong.dlq_offset))

    async def record_at(partition: int, offset: int):
        return await intake.wait_for(lambda: next((r for r in intake.records if (r.partition, r.offset) ==
                                                   (partition, offset)), None), what=f"the replay at {offset}")

    first = await cli_json(*replay)
    [done] = first["replayed"]
    assert (done["topic"], done["partition"], done["forced"]) == (INTAKE, wrong.source[0], False)
    record = await record_at(done["partition"], done["offset"])
    assert (record.key, record.value, list(record.headers)) == (key, wrong.value, wrong.headers)

    again = await cli_json(*replay, expect=1)
    assert again["replayed"] == [] and "replayed before" in again["refused"][0]["why"]
    # A marker names who replayed: it is kept no longer than the dead letters it could name.
    markers = await reported_configs(stack.config.bootstrap, [REPLAY_MARKER_TOPIC])
    assert markers[REPLAY_MARKER_TOPIC]["retention.ms"] == str(30 * DAY_MS)

    forced = await cli_json(*replay, "--force")
    [done_again] = forced["replayed"]
    assert done_again["forced"] and done_again["offset"] > done["offset"]
    record = await record_at(done_again["partition"], done_again["offset"])
    assert (record.key, record.value, list(record.headers)) == (key, wrong.value, wrong.headers)

    # Still on the wrong topic, both copies are dead-lettered again, each traced to its origin.
    dlq = await topic_log(DLQ)
    await dlq.wait_for(lambda: len([r for r in dlq.records if r.key == key]) >= 5, what="the copies dead-lettered")
    listed = await cli_json("deadletters", "list", *bootstrap, "--topic", INTAKE)
    mine = [e for e in listed["topics"][DLQ] if e["key"] == key.decode()]
    original = next(e for e in mine if e["offset"] == wrong.dlq_offset)
    assert [r["forced"] for r in original["replays"]] == [False, True]
    copies = [e for e in mine if e["replay_of"] == f"{DLQ}/0/{wrong.dlq_offset}"]
    assert sorted(e["source"]["offset"] for e in copies) == [done["offset"], done_again["offset"]]


async def test_replay_to_the_topic_it_belonged_on_is_applied(stack, poison, mongo):
    _, (*_, misplaced) = poison
    done = await cli_json("deadletters", "replay", "--bootstrap", stack.config.bootstrap, "--topic", INTAKE,
                          "--offset", f"0:{misplaced.dlq_offset}", "--to", topics.DIRECTORY)
    assert done["replayed"][0]["topic"] == topics.DIRECTORY
    unit_id = demo_data.units()[4].unit_id

    async def applied():
        # Applied exactly when its answer is stored (shared/unit_of_work.py).
        db = mongo["exemplars_nominations"]
        answered = await db["answers"].find_one({"_id": f"urn:hr:ops-test/{misplaced.event_id}"})
        return answered is not None and await db["units"].find_one({"_id": unit_id}) is not None

    await wait_until(applied, what="the directory event to be applied")


# ---- status ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def evaluations(stack, directory, mongo):
    running = [p for p in stack.services.get("evaluations", []) if p.running]
    proc = running[0] if running else await stack.start_service("evaluations")
    evaluators = sum(1 for m in demo_data.staff() if Role.EVALUATOR in m.roles)

    async def ready():
        return await mongo["exemplars_evaluations"]["staff"].count_documents({"roles": "evaluator"}) >= evaluators

    await wait_until(ready, timeout=60, what="the evaluators")
    return proc


async def test_status_shows_lag_dead_letters_and_overdue_evaluations(stack, poison, evaluations, producer, topic_log):
    bootstrap = ("--bootstrap", stack.config.bootstrap)
    # An evaluation opened on 2024-03-01: its 30 scoring days end on 2024-03-31.
    officer = next(m for m in demo_data.staff() if m.unit_id == "QLTNN" and Role.EMULATION_OFFICER in m.roles)
    nid = f"NOM-OPS-{uuid.uuid4().hex[:8]}"
    accepted = NominationAccepted(**submission(nid, officer, 2024, MODELS[2]).model_dump(), accepted_in_year=1,
                                  yearly_maximum=2)
    await send(producer, topics.NOMINATIONS, [new_event(accepted, key=nid, source="urn:exemplars:nominations",
                                                         time=dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC))])
    log = await topic_log(topics.EVALUATIONS)
    [assigned] = await log.wait_for(lambda: [e for e in log.about(nid) if e.type == "evaluation.panel_assigned"],
                                    timeout=30, what="the panel")

    # Groups nobody ever committed for: everything on their topics is lag.
    nobody = await cli_json("status", *bootstrap, "--group-prefix", "ops-nobody-", "--evaluations-url", "http://127.0.0.1:9")
    intake = next(r for r in nobody["lag"] if r["group"] == "ops-nobody-nominations.intake")
    assert intake["committed"] == 0 and intake["lag"] == intake["end"] > 0
    assert {(r["service"], r["topic"]) for r in nobody["lag"]} >= {("nominations", INTAKE), ("evaluations", topics.NOMINATIONS)}
    assert nobody["overdue"]["error"]  # unreachable endpoint: said, not raised
    unread = await cli_json("status", *bootstrap, "--evaluations-url", f"http://127.0.0.1:{evaluations.http_port}")
    assert "401" in unread["overdue"]["error"]  # no operator's token: said too

    # The live groups drain to 0 once the services have read everything.
    async def drained():
        status = await cli_json("status", *bootstrap, "--evaluations-url", f"http://127.0.0.1:{evaluations.http_port}",
                                "--read-token-file", str(stack.keyring.directory / OPERATOR_TOKEN_FILE),
                                "--today", "2024-04-15")
        rows = [r for r in status["lag"] if r["service"] in ("nominations", "evaluations")]
        return all(r["lag"] == 0 for r in rows) and status

    status = await wait_until(drained, timeout=60, what="the lag to drain")
    nominations_intake = next(r for r in status["lag"] if r["group"] == "nominations.intake")
    assert nominations_intake["end"] > 0 and nominations_intake["committed"] == nominations_intake["end"]
    counts = {r["topic"]: r for r in status["dead_letters"]}
    assert counts[DLQ]["count"] >= 3 and {"undecodable", "unexpected_type"} <= set(counts[DLQ]["reasons"])
    assert set(counts) == {topics.dlq(spec.name) for spec in topics.TOPICS}

    [late] = [o for o in status["overdue"]["items"] if o["nomination_id"] == nid]
    assert (late["deadline"], late["days_overdue"], late["status"]) == ("2024-03-31", 15, "open")
    assert sorted(late["pending"]) == sorted(assigned.data.evaluators)

    from_db = await cli_json("status", *bootstrap, "--mongo-uri", stack.config.mongo_uri, "--today", "2024-04-15")
    [same] = [o for o in from_db["overdue"]["items"] if o["nomination_id"] == nid]
    assert same == late
    before = await cli_json("status", *bootstrap, "--mongo-uri", stack.config.mongo_uri, "--today", "2024-03-31")
    assert nid not in {o["nomination_id"] for o in before["overdue"]["items"]}

    code, out, _ = await cli("status", *bootstrap, "--mongo-uri", stack.config.mongo_uri, "--today", "2024-04-15")
    assert code == 0 and out.startswith("Consumer lag (total ")
    assert "Dead letters (total " in out and f"{DLQ}  " in out
    assert any(line.startswith(nid) and "2024-03-31" in line for line in out.splitlines())
