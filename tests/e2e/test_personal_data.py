"""Personal data over the wire: what a person's fields look like in the log, that deleting their
key (crypto-shredding) leaves every record about them unreadable, in the services' topics as in
the intake and directory topics (shared/personal.py, shared/vault.py), and that
`exemplars person erase` clears them from every projection, read endpoint and report. That a
rebuild after an erasure equals the live projection is shown per service, where the log is
the test's own (tests/integration/test_erasure_rebuild.py, tests/unit/test_*_erasure.py): the
session's shared log holds the fault suites' races, which no rebuild repeats."""

import asyncio
import datetime as dt
import json
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, StaffMember, staff_event, submission
from deploy.person_erase import SOURCE as PRIVACY_SOURCE
from shared import envelope, topics
from shared.envelope import new_event
from shared.events import PersonErased, UnitRegistered
from shared.events.base import ERASED
from shared.vault import keys_to_open
from shared.vocabulary import Role, UnitKind
from tests.conftest import reads, wait_until
from tests.e2e.test_nominations import answer


# A unit of the module's own, registered by its HR system: the session's other tests fill the
# demo units' yearly places, and a person here nominates (themselves) for 2026.
UNIT = f"PD-{uuid.uuid4().hex[:6].upper()}"


@pytest.fixture(scope="module")
async def own_unit(producer):
    unit = UnitRegistered(unit_id=UNIT, name=f"Sở Nông nghiệp và Môi trường thử nghiệm {UNIT[-6:]}",
                          kind=UnitKind.PROVINCIAL_DEPARTMENT, valid_from=dt.date(2020, 1, 1))
    await send(producer, topics.DIRECTORY, [new_event(unit, key=UNIT, source=demo_data.SOURCE)])
    return UNIT


async def records_about(bootstrap: str, topic: str, person: str) -> list:
    """Every record of `topic` whose key or value names `person` (read from offset 0)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for r in records if person.encode() in (r.value or b"")]
        return found
    finally:
        await consumer.stop()


def decode(record, keys):
    return envelope.decode(record.key, record.value, record.headers, keys=keys)


async def test_a_persons_fields_are_sealed_in_the_log_and_unreadable_once_their_key_is_deleted(
        nominations_service, stack, producer, topic_log, mongo, own_unit):
    unit = own_unit
    person = StaffMember(f"{unit}-P{uuid.uuid4().hex[:4]}", unit, "Phạm Thị Thu Hằng", (Role.EMULATION_OFFICER,), ())
    registered = staff_event(person)
    await send(producer, topics.DIRECTORY, [new_event(registered, key=unit, source=demo_data.SOURCE)])

    sub = submission(f"NOM-PD-{uuid.uuid4().hex[:8]}", person, 2026, MODELS[9], individual=person,
                     position="Phó trưởng phòng")
    submitted = new_event(sub, key=sub.nomination_id, source=f"urn:unit:{unit}")

    async def applied():  # the directory and the intake are different partitions
        return await mongo["exemplars_nominations"]["staff"].count_documents({"_id": person.staff_id}) == 1
    await wait_until(applied, what="the nominations service to know the person")
    await send(producer, topics.NOMINATIONS_INTAKE, [submitted])
    reply = await answer(topic_log, submitted)
    assert reply.type == "nomination.accepted", reply
    assert reply.data.nominee.name == person.full_name  # opened with the key, as the services open it

    in_log = {topic: await records_about(stack.config.bootstrap, topic, person.staff_id)
              for topic in (topics.DIRECTORY, topics.NOMINATIONS_INTAKE, topics.NOMINATIONS)}
    assert all(in_log.values()), {t: len(r) for t, r in in_log.items()}
    secrets = [person.full_name.encode(), registered.email.encode(), "Phó trưởng phòng".encode()]
    for topic, records in in_log.items():
        assert not any(s in r.value for r in records for s in secrets), f"personal data in clear on {topic}"
        assert all(f"@{person.staff_id}".encode() in r.value for r in records)  # sealed under their key

    vault = stack.vault()
    try:
        keys = await keys_to_open(vault, [r.value for rs in in_log.values() for r in rs])
        assert decode(in_log[topics.DIRECTORY][-1], keys).data.email == registered.email
        assert await vault.erase(person.staff_id, dt.datetime.now(dt.UTC))
        keys = await keys_to_open(vault, [r.value for rs in in_log.values() for r in rs])
        assert keys == {person.staff_id: None}
        staff = decode(in_log[topics.DIRECTORY][-1], keys).data
        assert (staff.full_name, staff.email, staff.position) == (ERASED, ERASED, ERASED)
        assert staff.staff_id == person.staff_id and staff.unit_id == unit  # what names nobody stays
        for record in in_log[topics.NOMINATIONS_INTAKE] + in_log[topics.NOMINATIONS]:
            nominee = decode(record, keys).data.nominee
            assert (nominee.name, nominee.position) == (ERASED, ERASED)
        # Another person's data in the same topics is untouched.
        other = next(m for m in demo_data.staff() if Role.EVALUATOR in m.roles)
        assert (await vault.keys([other.staff_id]))[other.staff_id] is not None
    finally:
        await vault.close()
    # As `exemplars person erase` does after deleting the key: the services clear their projections.
    erased = PersonErased(staff_id=person.staff_id, erased_on=dt.date.today())
    await send(producer, topics.DIRECTORY, [new_event(erased, key=person.staff_id, source=PRIVACY_SOURCE,
                                                      id_parts=(person.staff_id,))])


# ---- `exemplars person erase`: the key, then every projection ----------------------------------

DATABASES = ("exemplars_nominations", "exemplars_evaluations", "exemplars_notifications")


@pytest.fixture(scope="module")
async def services(stack, nominations_service, mongo, own_unit):
    """The evaluations and notifications services beside the session's nominations one (an
    instance of the session's own when an earlier module left one running)."""
    started = []
    for name, env in (("evaluations", {}), ("notifications", {"NOTIFY_AFTER": dt.datetime.now(dt.UTC).isoformat()})):
        if not [p for p in stack.services.get(name, []) if p.running]:
            started.append(await stack.start_service(name, **env))
    yield {name: next(p for p in stack.services[name] if p.running)
           for name in ("nominations", "evaluations", "notifications")}
    for proc in started:
        proc.stop()
        stack.services[proc.name.rsplit("-", 1)[0]].remove(proc)


async def held_anywhere(mongo, needles: list[str]) -> list[str]:
    """`database.collection/_id` of every document of the services' databases that holds one of `needles`."""
    found = []
    for name in DATABASES:
        db = mongo[name]
        for collection in await db.list_collection_names():
            async for doc in db[collection].find({}):
                text = json.dumps(doc, default=str, ensure_ascii=False)
                if any(needle in text for needle in needles):
                    found.append(f"{name}.{collection}/{doc['_id']}")
    return found


async def test_erasing_a_person_clears_every_projection_read_endpoint_and_report(
        services, stack, producer, topic_log, mongo, tmp_path, own_unit):
    unit = own_unit
    person = StaffMember(f"{unit}-E{uuid.uuid4().hex[:4]}", unit, "Đỗ Minh Khuê", (Role.EMULATION_OFFICER,), ())
    registered = staff_event(person)
    await send(producer, topics.DIRECTORY, [new_event(registered, key=unit, source=demo_data.SOURCE)])

    async def known():  # each service, from its own copy of the directory
        return all([await mongo[db]["staff"].count_documents({"_id": person.staff_id}) for db in DATABASES])
    await wait_until(known, timeout=30, what="every service to know the person")
    # They nominate themselves: the submitter is mailed (address, name), the nominee is in every projection.
    sub = submission(f"NOM-ER-{uuid.uuid4().hex[:8]}", person, 2026, MODELS[4], individual=person,
                     position="Trưởng trạm")
    submitted = new_event(sub, key=sub.nomination_id, source=f"urn:unit:{unit}")
    await send(producer, topics.NOMINATIONS_INTAKE, [submitted])
    assert (await answer(topic_log, submitted)).type == "nomination.accepted"

    async def projected():
        evaluation = await mongo["exemplars_evaluations"]["evaluations"].find_one({"_id": sub.nomination_id})
        mailed = await mongo["exemplars_notifications"]["deliveries"].count_documents(
            {"recipient_id": person.staff_id})
        return evaluation is not None and mailed
    await wait_until(projected, timeout=30, what="the evaluation and the mail to the submitter")
    needles = [person.full_name, registered.email, "Trưởng trạm"]
    assert await held_anywhere(mongo, needles), "the person is in the projections before the erasure"

    erase = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "person", "erase", person.staff_id, "--yes",
        "--bootstrap", stack.config.bootstrap, "--mongo-uri", stack.config.mongo_uri,
        "--keys", str(stack.keyring.directory), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await erase.communicate()
    assert erase.returncode == 0, err.decode()
    assert b"key deleted" in out

    async def cleared():
        return not await held_anywhere(mongo, needles)
    await wait_until(cleared, timeout=60, what="every projection to clear the person")

    async with reads(services["nominations"]) as client:
        nominee = (await client.get(f"/nominations/{sub.nomination_id}")).json()["submission"]["nominee"]
    async with reads(services["evaluations"]) as client:
        evaluation = (await client.get(f"/evaluations/{sub.nomination_id}")).json()
    assert (nominee["name"], nominee["position"], evaluation["nominee_name"]) == (ERASED, ERASED, ERASED)
    assert evaluation["status"] == "open" and nominee["staff_id"] == person.staff_id  # the figures stay

    report_dir = tmp_path / "report"
    made = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "report", "--from", "2026", "--out", str(report_dir),
        "--mongo-uri", stack.config.mongo_uri, stdout=asyncio.subprocess.DEVNULL)
    assert await made.wait() == 0
    report = "".join(f.read_text(encoding="utf-8-sig") for f in sorted(report_dir.iterdir()))
    assert unit in report and not any(needle in report for needle in needles)  # counted, never named

