"""The nominations service over the wire: real Tansu, real SecantusDB, the service as a process."""

import base64
import datetime as dt
import json
import uuid


from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, StaffMember, submission
from shared import envelope, topics
from shared.envelope import new_event
from shared.events import ExemplarRecognized, NominationWithdrawn
from shared.vocabulary import Field, RecognitionLevel
from tests.conftest import reads, wait_until

DB = "exemplars_nominations"
YEAR = 2025


def people() -> dict[str, dict[str, StaffMember]]:
    """Per unit: its emulation officer, leader, and a staff member with no role."""
    result: dict[str, dict[str, StaffMember]] = {}
    for member in demo_data.staff():
        slot = member.roles[0].value if member.roles else "plain"
        result.setdefault(member.unit_id, {}).setdefault(slot, member)
    return result


async def submit(producer, sub, source=None, structured=False):
    event = new_event(sub, key=sub.nomination_id, source=source or f"urn:unit:{sub.unit_id}")
    await send(producer, topics.NOMINATIONS_INTAKE, [event], structured_every=1 if structured else 0)
    return event


async def answer(topic_log, event, timeout=20.0):
    """The service's answer to `event`: its id is derived from the input's, whatever the type."""
    log = await topic_log(topics.NOMINATIONS)
    expected = {envelope.derived_id(event.dedup_key, t, ) for t in topics.BY_NAME[topics.NOMINATIONS].event_types}
    return await log.wait_for(lambda: next((e for e in log.events() if e.id in expected), None), timeout,
                              what=f"the answer to {event.data.nomination_id}")


def codes(event) -> set[str]:
    return {r.code for r in event.data.reasons}


async def test_submission_is_accepted_and_projected(nominations_service, stack, producer, topic_log):
    staff = people()["DDBD"]
    sub = submission(f"NOM-A-{uuid.uuid4().hex[:8]}", staff["emulation_officer"], YEAR, MODELS[9])
    event = await submit(producer, sub)

    reply = await answer(topic_log, event)
    assert reply.type == "nomination.accepted"
    assert reply.key == sub.nomination_id
    assert reply.data.title == sub.title and reply.data.accepted_in_year == 1 and reply.data.yearly_maximum == 2

    async with reads(nominations_service) as http:
        doc = (await http.get(f"/nominations/{sub.nomination_id}")).json()
        assert doc["status"] == "accepted" and doc["unit_id"] == "DDBD" and doc["year"] == YEAR
        listed = (await http.get("/nominations", params={"unit_id": "DDBD", "year": YEAR, "status": "accepted"})).json()
        assert sub.nomination_id in {n["nomination_id"] for n in listed}
        quota = (await http.get(f"/units/DDBD/quota/{YEAR}")).json()
        assert quota["accepted"] == 1 and quota["remaining"] == 1

    # A unit reads its own nominations and quota; another unit's, or none at all, is 403.
    async with reads(nominations_service, stack.keyring.reader_token("ddbd", "unit:DDBD")) as own:
        assert (await own.get(f"/nominations/{sub.nomination_id}")).json()["status"] == "accepted"
        assert {n["unit_id"] for n in (await own.get("/nominations", params={"year": YEAR})).json()} == {"DDBD"}
        assert (await own.get(f"/units/DDBD/quota/{YEAR}")).status_code == 200
    async with reads(nominations_service, stack.keyring.reader_token("bhd", "unit:BHD")) as other:
        for refused in [await other.get(f"/nominations/{sub.nomination_id}"), await other.get("/nominations/NOM-NONE"),
                        await other.get("/nominations", params={"unit_id": "DDBD"}),
                        await other.get(f"/units/DDBD/quota/{YEAR}")]:
            assert refused.status_code == 403 and refused.json() == {"detail": "outside the scope of your token"}
        assert sub.nomination_id not in (await other.get("/nominations", params={"year": YEAR})).text
    expired = stack.keyring.reader_token("late", "operator", expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    async with reads(nominations_service, expired) as late:
        assert (await late.get(f"/nominations/{sub.nomination_id}")).status_code == 401
        assert (await late.get("/health/ready")).status_code == 200  # health stays open


async def test_structured_mode_is_accepted(nominations_service, producer, topic_log):
    staff = people()["BHD"]
    sub = submission(f"NOM-S-{uuid.uuid4().hex[:8]}", staff["emulation_officer"], YEAR, MODELS[10])
    reply = await answer(topic_log, await submit(producer, sub, structured=True))
    assert reply.type == "nomination.accepted"


async def test_every_submission_refusal_code(nominations_service, producer, topic_log):
    staff = people()
    officer = staff["QLTNN"]["emulation_officer"]
    base = f"NOM-R-{uuid.uuid4().hex[:6]}"
    cases = {
        "UNIT_NOT_REGISTERED": submission(f"{base}-1", officer, YEAR, MODELS[2], unit_id="KHONG-CO"),
        "UNIT_NOT_ACTIVE": submission(f"{base}-2", officer, 2026, MODELS[2], unit_id="STNMT-HN"),  # merged in 2025
        "YEAR_NOT_OPEN": submission(f"{base}-3", officer, 2019, MODELS[2]),
        "FIELD_UNKNOWN": submission(f"{base}-4", officer, YEAR, MODELS[2], field="lam_nghiep"),
        "SUBMITTER_NOT_IN_UNIT": submission(f"{base}-5", officer, YEAR, MODELS[2], submitter=staff["VT"]["plain"].staff_id),
        "NOMINEE_NOT_IN_UNIT": submission(f"{base}-6", officer, YEAR, MODELS[2], individual=staff["VT"]["plain"]),
    }
    for expected, sub in cases.items():
        reply = await answer(topic_log, await submit(producer, sub))
        assert reply.type == "nomination.rejected", expected
        assert expected in codes(reply), (expected, codes(reply))
        assert all(r.message and any(ch in r.message for ch in "ăâđêôơưạảấầẩậắằặẹẻếềệịọỏốồộớờợụủứừựỳ") for r in reply.data.reasons)

    # Quota: two accepted, the third refused; the same nominee twice refused; a reused id refused.
    unit = staff["KTTV"]
    first = submission(f"{base}-q1", unit["emulation_officer"], 2023, MODELS[7])
    second = submission(f"{base}-q2", unit["emulation_officer"], 2023, MODELS[8], individual=unit["plain"])
    third = submission(f"{base}-q3", unit["emulation_officer"], 2023, MODELS[3])
    replies = [await answer(topic_log, await submit(producer, s)) for s in (first, second, third)]
    assert [r.type for r in replies[:2]] == ["nomination.accepted"] * 2
    assert replies[2].type == "nomination.rejected" and "QUOTA_EXCEEDED" in codes(replies[2])

    other = staff["BDKH"]
    once = submission(f"{base}-n1", other["emulation_officer"], 2023, MODELS[8], individual=other["plain"])
    twice = submission(f"{base}-n2", other["emulation_officer"], 2023, MODELS[4], individual=other["plain"])
    assert (await answer(topic_log, await submit(producer, once))).type == "nomination.accepted"
    reply = await answer(topic_log, await submit(producer, twice))
    assert codes(reply) == {"NOMINEE_ALREADY_NOMINATED"}

    reused = submission(once.nomination_id, other["emulation_officer"], 2023, MODELS[5])
    reply = await answer(topic_log, await submit(producer, reused))
    assert "NOMINATION_ID_REUSED" in codes(reply)

    # Every reason is listed, not only the first.
    many = submission(f"{base}-m", officer, 2019, MODELS[2], field="lam_nghiep", submitter=staff["VT"]["plain"].staff_id)
    assert {"YEAR_NOT_OPEN", "FIELD_UNKNOWN", "SUBMITTER_NOT_IN_UNIT"} <= codes(await answer(topic_log, await submit(producer, many)))


async def test_withdrawal_frees_the_quota_and_is_checked(nominations_service, producer, topic_log):
    staff = people()
    unit = staff["DCKS"]
    officer = unit["emulation_officer"]
    base = f"NOM-W-{uuid.uuid4().hex[:6]}"
    a = submission(f"{base}-a", officer, 2026, MODELS[3])
    b = submission(f"{base}-b", officer, 2026, MODELS[4])
    c = submission(f"{base}-c", officer, 2026, MODELS[0])
    for sub in (a, b):
        assert (await answer(topic_log, await submit(producer, sub))).type == "nomination.accepted"
    assert "QUOTA_EXCEEDED" in codes(await answer(topic_log, await submit(producer, c)))

    async def withdraw(nomination_id, unit_id, requester):
        req = NominationWithdrawn(nomination_id=nomination_id, unit_id=unit_id, requested_by=requester,
                                  reason="Bổ sung hồ sơ")
        return await answer(topic_log, await submit(producer, req))

    foreign = await withdraw(a.nomination_id, "VT", staff["VT"]["emulation_officer"].staff_id)
    assert foreign.type == "nomination.withdrawal_rejected" and {"NOT_OWN_UNIT", "REQUESTER_NOT_IN_UNIT"} <= codes(foreign)
    assert codes(await withdraw(f"{base}-nothing", "DCKS", officer.staff_id)) == {"NOMINATION_UNKNOWN"}
    refused_one = await withdraw(c.nomination_id, "DCKS", officer.staff_id)
    assert codes(refused_one) == {"NOT_WITHDRAWABLE"}

    done = await withdraw(a.nomination_id, "DCKS", officer.staff_id)
    assert done.type == "nomination.withdrawn" and done.data.year == 2026 and done.data.title == a.title
    again = submission(f"{base}-c2", officer, 2026, MODELS[0])
    assert (await answer(topic_log, await submit(producer, again))).type == "nomination.accepted"

    # After the council's decision a nomination can no longer be withdrawn.
    decided = ExemplarRecognized(exemplar_id=f"EX-{b.nomination_id}", nomination_id=b.nomination_id, unit_id="DCKS",
                                 year=2026, field=Field.MINERALS, nominee_name=b.nominee.name, title=b.title,
                                 level=RecognitionLevel.MINISTRY, decision_ref="12/QĐ-BNNMT", total=82.0)
    await send(producer, topics.EVALUATIONS, [new_event(decided, key=b.nomination_id, source="urn:exemplars:evaluations")])
    await wait_until(lambda: _status_is(nominations_service, b.nomination_id, "recognized"), what="the decision to be applied")
    assert codes(await withdraw(b.nomination_id, "DCKS", officer.staff_id)) == {"ALREADY_DECIDED"}


async def _status_is(nominations_service, nomination_id, status):
    async with reads(nominations_service) as http:
        return (await http.get(f"/nominations/{nomination_id}")).json().get("status") == status


async def test_poison_goes_to_the_dead_letter_topic_and_the_stream_goes_on(nominations_service, producer, topic_log):
    dlq = await topic_log(topics.dlq(topics.NOMINATIONS_INTAKE))
    key = f"NOM-P-{uuid.uuid4().hex[:8]}".encode()
    garbage = b"\xff\xfe\x00 not json"
    good = submission(key.decode(), people()["VKTTV"]["emulation_officer"], 2023, MODELS[7])
    _, valid_value, valid_headers = envelope.encode(new_event(good, key=good.nomination_id, source="urn:unit:VKTTV"))
    unknown = {**valid_headers, "ce_type": "vn.gov.monre.exemplars.nomination.teleported.v1", "ce_id": str(uuid.uuid4())}
    invalid_value = json.dumps({**json.loads(valid_value), "year": "hai nghìn"}).encode()
    # A valid event of a type that belongs on another topic.
    _, unit_value, wrong_topic = envelope.encode(new_event(demo_data.units()[3], key=key.decode(), source="urn:hr"))
    foreign = {**valid_headers, "ce_id": str(uuid.uuid4()), "ce_source": b"urn:unit:\xff\xfe"}  # not UTF-8
    poison = [
        ("undecodable", valid_value, foreign),  # first: FastStream would have failed the whole batch on it
        ("undecodable", garbage, {**valid_headers, "ce_id": str(uuid.uuid4())}),
        ("undecodable", valid_value, unknown),
        ("undecodable", invalid_value, {**valid_headers, "ce_id": str(uuid.uuid4())}),
        ("unexpected_type", unit_value, wrong_topic),
    ]
    for _, value, headers in poison:
        await producer.send_and_wait(topics.NOMINATIONS_INTAKE, value, key=key,
                                     headers=[(k, v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()])
    reply = await answer(topic_log, await submit(producer, good))  # the same partition goes on
    assert reply.type == "nomination.accepted"

    letters = await dlq.wait_for(lambda: [r for r in dlq.records if r.key == key] if len(
        [r for r in dlq.records if r.key == key]) >= len(poison) else None, what="five dead letters")
    assert [r.value for r in letters] == [value for _, value, _ in poison]  # original bytes, in order
    for letter, (reason, _, headers) in zip(letters, poison, strict=True):
        meta = dict((k, v.decode()) for k, v in letter.headers if k.startswith("x-dlq"))
        assert meta["x-dlq-reason"] == reason and meta["x-dlq-service"] == "nominations"
        assert meta["x-dlq-topic"] == topics.NOMINATIONS_INTAKE and meta["x-dlq-error"]
        original = {k: base64.b64decode(v) for k, v in json.loads(meta["x-dlq-original-headers"])}
        assert original["ce_id"].decode() == headers["ce_id"]
        assert original["ce_source"] == (headers["ce_source"] if isinstance(headers["ce_source"], bytes)
                                         else headers["ce_source"].encode())  # exactly, even when not UTF-8


async def test_duplicate_delivery_changes_nothing(nominations_service, producer, topic_log, mongo):
    staff = people()["TTDL"]
    sub = submission(f"NOM-D-{uuid.uuid4().hex[:8]}", staff["emulation_officer"], 2023, MODELS[11])
    event = new_event(sub, key=sub.nomination_id, source="urn:unit:TTDL")
    await send(producer, topics.NOMINATIONS_INTAKE, [event])
    first = await answer(topic_log, event)
    await send(producer, topics.NOMINATIONS_INTAKE, [event])  # the unit system retried
    log = await topic_log(topics.NOMINATIONS)
    await log.wait_for(lambda: len(log.about(sub.nomination_id)) >= 2, what="the repeated answer")
    answers = log.about(sub.nomination_id)
    assert {a.id for a in answers} == {first.id} and {a.type for a in answers} == {"nomination.accepted"}
    assert await mongo[DB]["nominations"].count_documents({"_id": sub.nomination_id}) == 1
    quota = await mongo[DB]["quotas"].find_one({"_id": f"{sub.unit_id}:{sub.year}"})
    assert quota["holders"].count(sub.nomination_id) == 1
