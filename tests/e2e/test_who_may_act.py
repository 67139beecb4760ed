"""Who may act, over the wire: a record whose sender is not proven is dead-lettered as
`unauthenticated` and answered to nobody; a proven one is handled, signed in either
content mode, under a key the registry adds or rotates while the service runs."""

import datetime as dt
import uuid

import pytest
import yaml

from deploy.demo import send
from deploy.demo_data import MODELS, submission
from shared import envelope, keys, topics
from shared.credentials import Signer
from shared.envelope import new_event
from shared.trust import key_entry
from shared.events import ExemplarRecognized, StaffRegistered
from shared.vocabulary import Field, RecognitionLevel, Role
from tests.conftest import reads, wait_until
from tests.e2e.test_nominations import answer, people

UNIT = "VKTTV"
SUBMITTED = "vn.gov.monre.exemplars.nomination.submitted.v1"
NOW = dt.datetime.now(dt.UTC)


def nomination(tag: str):
    sub = submission(f"NOM-{tag}-{uuid.uuid4().hex[:8]}", people()[UNIT]["emulation_officer"], 2024, MODELS[3],
                     team=f"Tổ {tag} {uuid.uuid4().hex[:6]}")
    return new_event(sub, key=sub.nomination_id, source=f"urn:unit:{UNIT}")


def handled(reply) -> bool:
    """Decided on its merits (the unit's quota may be full): not refused for who sent it."""
    return reply.type == "nomination.accepted" or (
        reply.type == "nomination.rejected" and "NOT_AUTHORIZED" not in {r.code for r in reply.data.reasons})


def record(event, signer: Signer | None) -> tuple[bytes, bytes, list]:
    key, value, headers = envelope.encode(event)
    if signer is not None:
        headers = signer.headers(headers, value)
    return key, value, [(name, text.encode()) for name, text in headers.items()]


async def letters_for(topic_log, topic: str, key: bytes, count: int) -> list[dict[str, str]]:
    dlq = await topic_log(topics.dlq(topic))
    found = await dlq.wait_for(lambda: (lambda rs: rs if len(rs) >= count else None)(
        [r for r in dlq.records if r.key == key]), what=f"{count} dead letters for {key!r}")
    return [{k: v.decode() for k, v in r.headers if k.startswith("x-dlq")} | {"value": r.value} for r in found]


def add_producers(stack, *entries: dict) -> None:
    """Edit the running stack's trust file as an operator would: the services re-read it."""
    path = stack.keyring.trust_file
    registry = yaml.safe_load(path.read_text(encoding="utf-8"))
    registry["producers"] = [p for p in registry["producers"] if p["name"] not in {e["name"] for e in entries}]
    registry["producers"].extend(entries)
    staged = path.with_suffix(".edit")
    staged.write_text(yaml.safe_dump(registry, sort_keys=False, allow_unicode=True), encoding="utf-8")
    staged.replace(path)


async def test_an_unproven_sender_is_dead_lettered_and_never_answered(nominations_service, stack, producer, topic_log):
    stranger = keys.generate_signing_key()
    unsigned, tampered, unknown_key, other_producer = (nomination(t) for t in ("UNS", "TMP", "UNK", "OTH"))
    cases = [
        ("unsigned", record(unsigned, None)),
        ("unknown_key", record(unknown_key, Signer(stranger))),
        # The HR system's key is real, but not for a unit's source.
        ("unknown_key", record(other_producer, stack.keyring.signer("hr"))),
    ]
    key, value, headers = record(tampered, stack.keyring.signer_for(tampered.source))
    cases.append(("digest_mismatch", (key, value.replace(b"2024", b"2025"), headers)))
    for _, (key, value, headers) in cases:
        await producer.unsigned.send_and_wait(topics.NOMINATIONS_INTAKE, value, key=key, headers=headers)
    signed = nomination("OK")
    await send(producer, topics.NOMINATIONS_INTAKE, [signed])
    assert handled(await answer(topic_log, signed))

    for why, (key, value, _) in cases:
        (letter,) = await letters_for(topic_log, topics.NOMINATIONS_INTAKE, key, 1)
        assert letter["x-dlq-reason"] == "unauthenticated" and letter["x-dlq-service"] == "nominations"
        assert letter["x-dlq-error"].startswith(why), letter["x-dlq-error"]
        assert letter["value"] == value  # the original bytes
    log = await topic_log(topics.NOMINATIONS)
    refused = {c[1][0].decode() for c in cases}
    assert not [e for e in log.events() if e.key in refused], "an unproven sender got an answer"


async def test_a_structured_mode_event_signed_as_the_sdk_would_is_handled(nominations_service, producer, topic_log):
    event = nomination("STR")
    await send(producer, topics.NOMINATIONS_INTAKE, [event], structured_every=1)  # signed in its JSON body
    assert handled(await answer(topic_log, event))


async def test_a_forged_decision_on_a_service_topic_changes_nothing(nominations_service, stack, producer, topic_log):
    # A unit system's key, claiming to be the evaluations service.
    event = nomination("FRG")
    await send(producer, topics.NOMINATIONS_INTAKE, [event])
    before = (await answer(topic_log, event)).type.split(".")[1]
    forged = new_event(ExemplarRecognized(
        exemplar_id=f"EX-{event.key}", nomination_id=event.key, unit_id=UNIT, year=2024, field=Field.LAND,
        nominee_name="Giả mạo", title="Giả mạo", level=RecognitionLevel.MINISTRY, decision_ref="1/QĐ-GIA", total=99.0),
        key=event.data.nomination_id, source="urn:exemplars:evaluations")
    key, value, headers = record(forged, stack.keyring.signer("unit-systems"))
    await producer.unsigned.send_and_wait(topics.EVALUATIONS, value, key=key, headers=headers)

    (letter,) = await letters_for(topic_log, topics.EVALUATIONS, key, 1)
    assert letter["x-dlq-reason"] == "unauthenticated" and letter["x-dlq-service"] == "nominations"
    assert await _status(nominations_service, event.data.nomination_id) == before != "recognized"


@pytest.mark.parametrize("when", ["expired", "rotated"])
async def test_keys_are_judged_at_the_receive_time_and_reloaded_without_a_restart(
        when, nominations_service, stack, producer, topic_log):
    old, new = keys.generate_signing_key(), keys.generate_signing_key()
    name = f"unit-{when}"
    source = f"urn:unit:{UNIT}"
    add_producers(stack, {"name": name, "source": source, "keys": [
        key_entry(old, NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=1)),
        key_entry(new, NOW - dt.timedelta(days=2))],  # overlapping validity: the rotation
        "grants": [{"types": [SUBMITTED], "units": [UNIT], "on_behalf_of": "unit_staff"}]})
    too_late = nomination("EXP")
    k, v, h = record(too_late, Signer(old))
    await producer.unsigned.send_and_wait(topics.NOMINATIONS_INTAKE, v, key=k, headers=h)
    (letter,) = await letters_for(topic_log, topics.NOMINATIONS_INTAKE, k, 1)
    assert letter["x-dlq-reason"] == "unauthenticated" and letter["x-dlq-error"].startswith("unknown_key")
    if when == "rotated":
        current = nomination("ROT")
        k, v, h = record(current, Signer(new))
        await producer.unsigned.send_and_wait(topics.NOMINATIONS_INTAKE, v, key=k, headers=h)
        assert handled(await answer(topic_log, current))


async def _status(nominations_service, nomination_id: str) -> str | None:
    async with reads(nominations_service) as http:
        return (await http.get(f"/nominations/{nomination_id}")).json().get("status")


@pytest.mark.parametrize("grant, why", [
    ({"types": ["vn.gov.monre.exemplars.nomination.withdrawn.v1"], "units": [UNIT]}, "không được phép gửi sự kiện loại"),
    ({"types": [SUBMITTED], "units": ["QLDD"]}, f"cho đơn vị “{UNIT}”"),
])
async def test_a_proven_sender_outside_its_grants_is_refused_in_vietnamese(grant, why, nominations_service, stack,
                                                                          producer, topic_log, mongo):
    key = keys.generate_signing_key()
    add_producers(stack, {"name": f"unit-narrow-{len(why)}", "source": f"urn:unit:{UNIT}",
                          "keys": [key_entry(key, NOW - dt.timedelta(days=1))], "grants": [grant]})
    event = nomination("NAU")
    k, v, h = record(event, Signer(key))
    await producer.unsigned.send_and_wait(topics.NOMINATIONS_INTAKE, v, key=k, headers=h)

    reply = await answer(topic_log, event)
    (reason,) = reply.data.reasons
    assert reply.type == "nomination.rejected" and reason.code == "NOT_AUTHORIZED" and why in reason.message
    # Answered, and nothing else: no nomination is kept under that id, no quota place taken.
    assert await mongo["exemplars_nominations"]["nominations"].find_one({"_id": event.key}) is None
    stored = await mongo["exemplars_nominations"]["answers"].find_one({"_id": event.dedup_key})
    assert stored["sender"]["producer"] == f"unit-narrow-{len(why)}" and stored["sender"]["keyid"] == keys.key_id(key)


async def test_a_directory_change_from_a_system_not_managing_that_unit_is_dead_lettered(
        nominations_service, stack, producer, topic_log, mongo):
    key = keys.generate_signing_key()
    add_producers(stack, {"name": "hr-qldd", "source": "urn:hr:qldd", "keys": [key_entry(key, NOW - dt.timedelta(days=1))],
                          "grants": [{"types": ["vn.gov.monre.exemplars.staff.*"], "units": ["QLDD"]}]})
    # Its own unit goes through; another unit's staff is none of its business.
    own = StaffRegistered(staff_id=f"QLDD-HR-{uuid.uuid4().hex[:6]}", unit_id="QLDD", full_name="Phan Thị Hoà",
                          position="Chuyên viên", email="hoa@qldd.example.vn", roles=[])
    other = StaffRegistered(staff_id=f"TTDL-HR-{uuid.uuid4().hex[:6]}", unit_id=UNIT, full_name="Giả Mạo",
                            position="Chuyên viên", email="gia@example.vn", roles=[Role.EVALUATOR])
    for staff in (other, own):
        k, v, h = record(new_event(staff, key=staff.unit_id, source="urn:hr:qldd"), Signer(key))
        await producer.unsigned.send_and_wait(topics.DIRECTORY, v, key=k, headers=h)

    staff_of = mongo["exemplars_nominations"]["staff"]

    async def own_applied():
        return await staff_of.find_one({"_id": own.staff_id})
    await wait_until(own_applied, what="the unit's own staff change")
    dlq = await topic_log(topics.dlq(topics.DIRECTORY))
    letter = await dlq.wait_for(lambda: next((r for r in dlq.records if other.staff_id.encode() in r.value), None),
                                what="the dead letter")
    meta = {k: v.decode() for k, v in letter.headers if k.startswith("x-dlq")}
    assert meta["x-dlq-reason"] == "not_authorized" and UNIT in meta["x-dlq-error"]
    assert await staff_of.find_one({"_id": other.staff_id}) is None
