"""The evaluations service over the wire: real Tansu, real SecantusDB, the services as processes."""

import asyncio
import datetime as dt
import json
import uuid

import httpx
import pytest

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from services.evaluations.criteria import load_criteria
from shared import envelope, topics
from shared.envelope import Event, new_event
from shared.events import (
    CommentPosted,
    ConflictDeclared,
    CorrectionRecorded,
    CouncilDecisionRecorded,
    NominationAccepted,
    NominationWithdrawn,
    ReplicationReported,
    ReviewReported,
    RevocationRecorded,
    ScoreSubmitted,
    VisitReported,
)
from shared.vocabulary import Field, NomineeKind, RecognitionLevel, RevocationGround, Role, Trend
from tests.conftest import reads, wait_until

DB = "exemplars_evaluations"
NOMINATIONS_SOURCE = "urn:exemplars:nominations"
CRITERIA = load_criteria()
STAFF = {m.staff_id: m for m in demo_data.staff()}
OFFICERS = {m.unit_id: m for m in STAFF.values() if Role.EMULATION_OFFICER in m.roles}
EVALUATION_TYPES = topics.BY_NAME[topics.EVALUATIONS].event_types
TODAY = dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
async def service(stack, nominations_service, mongo):  # the session's one nominations instance
    # Our own frozen "today" (whatever the stack's): the reminder test places deadlines around it.
    proc = await stack.start_service("evaluations", REMINDER_CHECK_SECONDS="0.5", CLOCK_TODAY=TODAY.isoformat())
    evaluators = sum(1 for m in STAFF.values() if Role.EVALUATOR in m.roles)
    await wait_until(lambda: _count(mongo, "staff", {"roles": "evaluator"}, evaluators), what="the evaluators")
    await wait_until(lambda: _count(mongo, "units", {"valid_from": {"$exists": True}}, len(demo_data.UNITS)),
                     what="the units")
    return proc


async def _count(mongo, collection, query, at_least):
    return await mongo[DB][collection].count_documents(query) >= at_least


def http(service) -> httpx.AsyncClient:
    return reads(service)


def nid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sheet(field: Field, kind: NomineeKind, fraction: float) -> dict[str, float]:
    """Every criterion at `fraction` of its maximum: the evaluator's total is fraction x 100."""
    return {c.id: round(c.maximum * fraction, 4) for c in CRITERIA.for_(field, kind).criteria}


async def publish(producer, topic: str, data, key: str, source: str = "urn:evaluator-portal",
                  time: dt.datetime | None = None) -> Event:
    event = new_event(data, key=key, source=source, time=time)
    await send(producer, topic, [event])
    return event


async def accept(producer, nomination_id: str, unit_id: str = "QLDD", model=MODELS[0], year: int = 2025,
                 time: dt.datetime | None = None, **changes) -> NominationAccepted:
    """What the nominations service publishes on acceptance, sent directly: faster, and its time is ours."""
    sub = submission(nomination_id, OFFICERS[unit_id], year, model).model_copy(update=changes)
    accepted = NominationAccepted(**sub.model_dump(), accepted_in_year=1, yearly_maximum=2)
    await publish(producer, topics.NOMINATIONS, accepted, nomination_id, NOMINATIONS_SOURCE, time)
    return accepted


async def outputs(topic_log, key: str, type_: str, at_least: int = 1, timeout: float = 30.0) -> list[Event]:
    log = await topic_log(topics.EVALUATIONS)
    return await log.wait_for(lambda: (found := [e for e in log.about(key) if e.type == type_])
                              and len(found) >= at_least and found, timeout, what=f"{type_} for {key}")


async def answer(topic_log, event: Event, *parts: str, at_least: int = 1) -> list[Event]:
    """The service's answer to `event`: output ids derive from the input's id."""
    log = await topic_log(topics.EVALUATIONS)
    expected = {envelope.derived_id(event.dedup_key, t, *parts) for t in EVALUATION_TYPES}
    return await log.wait_for(lambda: (found := list({e.id: e for e in log.events() if e.id in expected}.values()))
                              and len(found) >= at_least and found, 30.0, what=f"the answer to {event.type}")


async def refused(topic_log, event: Event) -> set[str]:
    [reply] = await answer(topic_log, event)
    assert reply.type == "evaluation.input_rejected", reply
    assert reply.data.input_id == event.id and reply.data.input_type == event.type
    assert all(any(ch in r.message for ch in "ăâđêôơưạảấầậắặẹẻếềệịọỏốồộớờợụủứừựỳ") for r in reply.data.reasons)
    return {r.code for r in reply.data.reasons}


async def panel_of(topic_log, nomination_id: str) -> list[str]:
    [assigned] = await outputs(topic_log, nomination_id, "evaluation.panel_assigned")
    return list(assigned.data.evaluators)


async def score(producer, nomination_id: str, evaluator_id: str, scores: dict, **extra) -> Event:
    return await publish(producer, topics.EVALUATIONS_INTAKE,
                         ScoreSubmitted(nomination_id=nomination_id, evaluator_id=evaluator_id, scores=scores, **extra),
                         nomination_id)


async def score_all(producer, topic_log, nomination_id: str, fraction: float, field=Field.LAND,
                    kind=NomineeKind.COLLECTIVE) -> Event:
    for member in await panel_of(topic_log, nomination_id):
        await score(producer, nomination_id, member, sheet(field, kind, fraction))
    [completed] = await outputs(topic_log, nomination_id, "evaluation.completed")
    return completed


async def decide(producer, nomination_id: str, recognized: bool, level=RecognitionLevel.MINISTRY) -> Event:
    return await publish(producer, topics.EVALUATIONS_INTAKE, CouncilDecisionRecorded(
        nomination_id=nomination_id, recognized=recognized, level=level, decision_ref="15/QĐ-BNNMT",
        decided_on=dt.date(2025, 12, 1)), nomination_id, "urn:council")


def review(exemplar_id: str, period: str = "2025-H2", **changes) -> ReviewReported:
    values = dict(exemplar_id=exemplar_id, period=period, influence=4, trend=Trend.GROWING, study_visits=1,
                  reported_by="QLDD-02") | changes
    return ReviewReported(**values)


# ---- the whole flow ------------------------------------------------------------------------


async def test_from_nomination_to_recognition_and_follow_up(service, stack, producer, topic_log):
    nomination_id = nid("NOM-E2E")
    sub = submission(nomination_id, OFFICERS["QLDD"], 2025, MODELS[0])
    await publish(producer, topics.NOMINATIONS_INTAKE, sub, nomination_id, "urn:unit:QLDD")

    panel = await panel_of(topic_log, nomination_id)
    assert len(set(panel)) == 3
    assert all(STAFF[m].unit_id != "QLDD" and Role.EVALUATOR in STAFF[m].roles for m in panel)
    assert all(Field.LAND in STAFF[m].fields for m in panel)  # enough land experts outside the unit
    async with http(service) as client:
        view = (await client.get(f"/evaluations/{nomination_id}")).json()
    assert view["status"] == "open" and view["criteria"]["set_id"] == "land.collective"
    assert [p["scored"] for p in view["panel"]] == [False, False, False]

    outsider = next(s for s, m in STAFF.items() if Role.EVALUATOR in m.roles and s not in panel)
    assert await refused(topic_log, await score(producer, nomination_id, outsider, sheet(Field.LAND, NomineeKind.COLLECTIVE, 1))) == {"NOT_ON_PANEL"}

    await score(producer, nomination_id, panel[0], sheet(Field.LAND, NomineeKind.COLLECTIVE, 0.6))
    await score(producer, nomination_id, panel[0], sheet(Field.LAND, NomineeKind.COLLECTIVE, 0.9))  # amended
    await score(producer, nomination_id, panel[1], sheet(Field.LAND, NomineeKind.COLLECTIVE, 0.8))
    await score(producer, nomination_id, panel[2], sheet(Field.LAND, NomineeKind.COLLECTIVE, 0.7),
                gates={"months_in_operation": True})
    [completed] = await outputs(topic_log, nomination_id, "evaluation.completed")
    result = completed.data
    assert result.total == 80.0 and result.outcome.value == "recognize"
    assert result.evaluator_totals == {panel[0]: 90.0, panel[1]: 80.0, panel[2]: 70.0}
    assert result.spread == 20.0 and not result.divergent
    assert [c.criterion_id for c in result.breakdown][:2] == ["effectiveness", "spread"]
    assert result.gates == {"complete_file": True, "no_disciplinary_record": True, "months_in_operation": True}
    assert (result.criteria.set_id, result.criteria.version) == ("land.collective", 1)

    [recognized] = await answer(topic_log, await decide(producer, nomination_id, True))
    exemplar_id = f"EX-{nomination_id}"
    assert recognized.type == "exemplar.recognized" and recognized.data.exemplar_id == exemplar_id
    assert recognized.data.level is RecognitionLevel.MINISTRY and recognized.data.total == 80.0

    async def nomination_recognized():
        async with reads(stack.services['nominations'][0]) as c:
            return (await c.get(f"/nominations/{nomination_id}")).json().get("status") == "recognized"
    await wait_until(nomination_recognized, what="the nominations service to learn the decision")

    # Follow-up: a declining review asks for support; replications count distinct units.
    reviewed = await answer(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, review(
        exemplar_id, trend=Trend.DECLINING, new_adopting_units=["KTTV"], difficulties="Thiếu kinh phí duy trì"),
        exemplar_id), at_least=2)
    by_type = {e.type: e.data for e in reviewed}
    assert by_type["exemplar.review_recorded"].adopting_units == 1 and by_type["exemplar.review_recorded"].needs_support
    assert by_type["exemplar.support_needed"].difficulties == "Thiếu kinh phí duy trì"
    counts, new = [], []
    for unit in ("VT", "VT", "KTTV", "BHD"):
        report = ReplicationReported(exemplar_id=exemplar_id, adopting_unit_id=unit, applied_on=dt.date(2025, 12, 5),
                                     reported_by=OFFICERS[unit].staff_id)
        [replicated] = await answer(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, report, exemplar_id))
        counts.append(replicated.data.distinct_units)
        new.append(replicated.data.new_unit)
    assert counts == [2, 2, 2, 3]
    assert new == [True, False, False, True]  # KTTV came in through the review
    visit = await publish(producer, topics.EVALUATIONS_INTAKE, VisitReported(
        exemplar_id=exemplar_id, visiting_unit_id="SNNMT-HN", visited_on=dt.date(2025, 12, 10), participants=12),
        exemplar_id)

    async with http(service) as client:
        async def visit_recorded():
            doc = (await client.get(f"/exemplars/{exemplar_id}")).json()
            # The page reads the exemplar (its totals) and its history apart: a read across the
            # visit's commit may list the visit before it is counted.
            return doc if doc.get("visits") and doc["totals"]["visits"] else None
        history = await wait_until(visit_recorded, what="the visit")
        listed = (await client.get("/exemplars", params={"year": 2025, "field": "land", "level": "ministry"})).json()
        evaluation = (await client.get(f"/evaluations/{nomination_id}")).json()
    assert history["visits"][0]["event_id"] == visit.id and history["visits"][0]["participants"] == 12
    assert history["adopting_units"] == 3 and len(history["replications"]) == 4 and not history["fostering"]
    assert [r["period"] for r in history["reviews"]] == ["2025-H2"] and history["study_visits"] == 1
    assert history["totals"] == {"reviews": 1, "replications": 4, "visits": 1}
    assert exemplar_id in {e["exemplar_id"] for e in listed}
    assert evaluation["status"] == "decided" and evaluation["result"]["total"] == 80.0
    assert all(p["scored"] for p in evaluation["panel"])
    # Who recorded the decision, as its signature proved, beside the sender's time and the broker's.
    council_key = stack.keyring.signer("council").keyid
    assert evaluation["decision"]["sender"] == {"producer": "council", "keyid": council_key}
    assert evaluation["decision"]["at"] and evaluation["decision"]["received_at"]
    assert history["decision_sender"] == {"producer": "council", "keyid": council_key}
    assert history["visits"][0]["sender"]["producer"] == "evaluator-portal"


async def test_keep_fostering_and_not_recognized(service, stack, producer, topic_log):
    fostered, rejected = nid("NOM-FOS"), nid("NOM-NOT")
    await accept(producer, fostered, unit_id="KTTV", model=MODELS[7])
    await accept(producer, rejected, unit_id="KTTV", model=MODELS[7])
    assert (await score_all(producer, topic_log, fostered, 0.6, Field.HYDROMETEOROLOGY)).data.outcome.value == "foster"
    assert (await score_all(producer, topic_log, rejected, 0.3, Field.HYDROMETEOROLOGY)).data.outcome.value == "not_recognized"

    [kept] = await answer(topic_log, await decide(producer, fostered, False, level=None))
    [dropped] = await answer(topic_log, await decide(producer, rejected, False, level=None))
    assert kept.type == dropped.type == "exemplar.not_recognized"
    assert kept.data.fostering and not dropped.data.fostering

    # The fostering record is followed by reviews, but nothing replicates a model not recognised.
    [recorded] = await answer(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE,
                                                       review(f"EX-{fostered}", reported_by="KTTV-02"), f"EX-{fostered}"))
    assert recorded.type == "exemplar.review_recorded"
    replication = ReplicationReported(exemplar_id=f"EX-{fostered}", adopting_unit_id="VT", applied_on=dt.date(2025, 1, 2),
                                      reported_by="VT-02")
    assert await refused(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, replication,
                                                  f"EX-{fostered}")) == {"EXEMPLAR_NOT_RECOGNIZED"}
    async with http(service) as client:
        assert (await client.get(f"/exemplars/{'EX-' + fostered}")).json()["fostering"] is True
        assert (await client.get(f"/exemplars/{'EX-' + rejected}")).status_code == 404
        listed = (await client.get("/exemplars", params={"status": "fostering", "field": "hydrometeorology"})).json()
    assert f"EX-{fostered}" in {e["exemplar_id"] for e in listed}

    # A fostering record is the unit's and the programme's, not another unit's.
    async with reads(service, stack.keyring.reader_token("kttv", "unit:KTTV")) as unit:
        assert (await unit.get(f"/exemplars/EX-{fostered}")).status_code == 200
        assert f"EX-{fostered}" in {e["exemplar_id"] for e in (await unit.get(
            "/exemplars", params={"status": "fostering"})).json()}
    async with reads(service, stack.keyring.reader_token("vt", "unit:VT")) as other:
        assert (await other.get(f"/exemplars/EX-{fostered}")).status_code == 403
        assert (await other.get(f"/exemplars/EX-{fostered}/reviews")).status_code == 403
        assert (await other.get(f"/exemplars/EX-{rejected}")).status_code == 403  # absent: the same answer
        assert f"EX-{fostered}" not in {e["exemplar_id"] for e in (await other.get(
            "/exemplars", params={"status": "fostering"})).json()}


async def test_each_reader_sees_only_their_part_of_an_evaluation(service, stack, producer, topic_log):
    nomination_id = nid("NOM-READ")
    await accept(producer, nomination_id, unit_id="QLDD")
    panel = await panel_of(topic_log, nomination_id)
    ministry = stack.keyring.reader_token("vu-thi-dua", "ministry")
    unit = stack.keyring.reader_token("qldd-officer", "unit:QLDD")
    other = stack.keyring.reader_token("ddbd-officer", "unit:DDBD")
    seat = stack.keyring.reader_token(panel[0], f"evaluator:{panel[0]}")
    path = f"/evaluations/{nomination_id}"

    async def seen(token: str | None, where: str = path, **params) -> httpx.Response:
        async with reads(service, token) as client:
            return await client.get(where, params=params)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as anonymous:
        nobody = await anonymous.get(path)
        forged = await anonymous.get(path, headers={"Authorization": "Bearer exr_guessed"})
    assert nobody.status_code == forged.status_code == 401
    assert nobody.json() == {"detail": "a valid bearer token is required"} and nomination_id not in forged.text

    # While the panel scores: its names to operators only, and each evaluator their own seat.
    assert len((await seen(None)).json()["panel"]) == 3
    for token in (ministry, unit):
        view = (await seen(token)).json()
        assert view["status"] == "open" and view["panel"] is None and view["recused"] is None
    assert [m["evaluator_id"] for m in (await seen(seat)).json()["panel"]] == [panel[0]]
    assert nomination_id in {e["nomination_id"] for e in (await seen(seat, "/assignments")).json()}
    assignments = await seen(seat, "/assignments")
    assert all(m["evaluator_id"] == panel[0] for e in assignments.json() if e["status"] == "open" for m in e["panel"])

    # Another unit's evaluation, or one that does not exist: the same 403, nothing else said.
    missing = await seen(other, "/evaluations/NOM-NO-SUCH")
    for refused_ in (await seen(other), missing, await seen(other, "/evaluations", unit_id="QLDD"),
                     await seen(seat, "/evaluations"), await seen(unit, "/assignments")):
        assert refused_.status_code == 403 and refused_.json() == {"detail": "outside the scope of your token"}
    listed = (await seen(unit, "/evaluations", year=2025)).json()
    assert nomination_id in {e["nomination_id"] for e in listed} and {e["unit_id"] for e in listed} == {"QLDD"}
    assert (await seen(None, "/evaluations/NOM-NO-SUCH")).status_code == 404  # an operator may know it is absent

    for member, fraction in zip(panel, (0.9, 0.8, 0.7), strict=True):
        await score(producer, nomination_id, member, sheet(Field.LAND, NomineeKind.COLLECTIVE, fraction))
    await outputs(topic_log, nomination_id, "evaluation.completed")

    # Once complete: the programme and the panel see who gave what; the unit the totals alone.
    for token in (ministry, seat):
        view = (await seen(token)).json()
        assert view["status"] == "completed" and {m["evaluator_id"] for m in view["panel"]} == set(panel)
        assert view["result"]["evaluator_totals"] == {panel[0]: 90.0, panel[1]: 80.0, panel[2]: 70.0}
    mine = await seen(unit)
    assert mine.json()["panel"] is None and mine.json()["result"]["evaluator_totals"] == [70.0, 80.0, 90.0]
    assert not any(member in mine.text for member in panel)


async def test_a_divergent_panel_discusses_and_completes_once_it_agrees(service, stack, producer, topic_log):
    nomination_id = nid("NOM-DISC")
    await accept(producer, nomination_id, unit_id="QLDD")
    panel = await panel_of(topic_log, nomination_id)
    for member, fraction in zip(panel, (0.9, 0.85, 0.5), strict=True):
        await score(producer, nomination_id, member, sheet(Field.LAND, NomineeKind.COLLECTIVE, fraction))
    [opened] = await outputs(topic_log, nomination_id, "evaluation.discussion_opened")
    assert opened.data.evaluators == panel and opened.data.spread == 40 and opened.data.threshold == 25
    recorded = await outputs(topic_log, nomination_id, "evaluation.score_recorded", at_least=3)
    assert {(e.data.evaluator_id, e.data.total) for e in recorded} == {(panel[0], 90), (panel[1], 85), (panel[2], 50)}

    said = await publish(producer, topics.EVALUATIONS_INTAKE, CommentPosted(
        nomination_id=nomination_id, evaluator_id=panel[2], comment="Tôi chưa thấy số liệu lan tỏa; xin xem lại."),
        nomination_id)
    [comment] = await answer(topic_log, said)
    assert comment.type == "evaluation.comment_recorded" and comment.data.number == 1
    unit = stack.keyring.reader_token("qldd-officer", "unit:QLDD")
    async with reads(service, unit) as client:
        during = (await client.get(f"/evaluations/{nomination_id}")).json()
    assert during["status"] == "discussion" and during["discussion"]["comment_count"] == 1
    assert during["discussion"]["comments"] == []  # what members say stays among them until they are done

    amended = await score(producer, nomination_id, panel[2], sheet(Field.LAND, NomineeKind.COLLECTIVE, 0.8))
    [completed] = await outputs(topic_log, nomination_id, "evaluation.completed")
    assert completed.data.spread == 10 and not completed.data.divergent
    assert completed.data.discussion.closed_by == "agreement" and completed.data.discussion.comments == 1
    assert completed.data.discussion.spread_at_opening == 40
    assert {e.type for e in await answer(topic_log, amended, at_least=2)} == {"evaluation.score_recorded",
                                                                              "evaluation.completed"}
    async with reads(service, unit) as client:
        after = (await client.get(f"/evaluations/{nomination_id}")).json()
    [seen] = after["discussion"]["comments"]
    assert seen["evaluator_id"] is None and "số liệu lan tỏa" in seen["comment"]  # the unit: what, not who
    assert after["discussion"]["closed_by"] == "agreement"
    assert await refused(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, CommentPosted(
        nomination_id=nomination_id, evaluator_id=panel[0], comment="Muộn."), nomination_id)) == {"EVALUATION_CLOSED"}


async def test_conflict_of_interest_replaces_the_evaluator(service, producer, topic_log):
    nomination_id = nid("NOM-COI")
    await accept(producer, nomination_id, unit_id="DCKS", model=MODELS[3])
    panel = await panel_of(topic_log, nomination_id)
    declared = await publish(producer, topics.EVALUATIONS_INTAKE, ConflictDeclared(
        nomination_id=nomination_id, evaluator_id=panel[1], reason="Từng công tác tại đơn vị được đề cử"), nomination_id)
    [replaced] = await answer(topic_log, declared, nomination_id, panel[1])
    assert replaced.type == "evaluation.evaluator_replaced"
    newcomer = replaced.data.replacement_id
    assert replaced.data.recused_id == panel[1] and newcomer not in panel and STAFF[newcomer].unit_id != "DCKS"
    assert await refused(topic_log, await score(producer, nomination_id, panel[1],
                                                sheet(Field.GEOLOGY, NomineeKind.COLLECTIVE, 1))) == {"EVALUATOR_RECUSED"}
    async with http(service) as client:
        view = (await client.get(f"/evaluations/{nomination_id}")).json()
    assert [p["evaluator_id"] for p in view["panel"]] == [panel[0], panel[2], newcomer]
    assert view["recused"][0]["evaluator_id"] == panel[1] and view["recused"][0]["replacement_id"] == newcomer


async def test_every_refusal_is_answered_with_a_code(service, producer, topic_log):
    a, gated, withdrawn = nid("NOM-REF"), nid("NOM-GATE"), nid("NOM-WD")
    await accept(producer, a, unit_id="QLTNN", model=MODELS[2])
    await accept(producer, gated, unit_id="QLTNN", model=MODELS[2], disciplinary_record=True)
    await accept(producer, withdrawn, unit_id="QLTNN", model=MODELS[2])
    field, kind = Field.WATER_RESOURCES, NomineeKind.COLLECTIVE
    panel = await panel_of(topic_log, a)
    good = sheet(field, kind, 0.9)
    outsider = next(s for s, m in STAFF.items() if Role.EVALUATOR in m.roles and s not in panel and m.unit_id != "QLTNN")

    async def code(data, key=a):
        return await refused(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, data, key))

    missing = {k: v for k, v in good.items() if k != "novelty"}
    assert await code(ScoreSubmitted(nomination_id="NOM-NONE-1", evaluator_id=panel[0], scores=good),
                      "NOM-NONE-1") == {"UNKNOWN_NOMINATION"}
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=outsider, scores=good)) == {"NOT_ON_PANEL"}
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=panel[0], scores=missing)) == {"MISSING_CRITERIA"}
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=panel[0], scores=good | {"beauty": 1})) == {"UNKNOWN_CRITERIA"}
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=panel[0], scores=good | {"spread": 21})) == {"SCORE_OUT_OF_RANGE"}
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=panel[0], scores=good, gates={"vip": True})) == {"UNKNOWN_GATE"}
    assert await code(ConflictDeclared(nomination_id=a, evaluator_id=outsider, reason="Không rõ")) == {"NOT_ON_PANEL"}
    council = CouncilDecisionRecorded(nomination_id=a, recognized=True, level=RecognitionLevel.UNIT,
                                      decision_ref="1/QĐ", decided_on=dt.date(2025, 12, 1))
    assert await code(council) == {"EVALUATION_NOT_COMPLETED"}
    assert await code(CommentPosted(nomination_id=a, evaluator_id=panel[0], comment="Sớm")) == {"NOT_IN_DISCUSSION"}

    await score_all(producer, topic_log, a, 0.9, field, kind)
    assert await code(ScoreSubmitted(nomination_id=a, evaluator_id=panel[0], scores=good)) == {"EVALUATION_CLOSED"}
    assert await code(council.model_copy(update={"level": None})) == {"LEVEL_REQUIRED"}
    assert (await answer(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, council, a)))[0].type == "exemplar.recognized"
    assert await code(council) == {"ALREADY_DECIDED"}  # another decision, not a redelivery

    assert (await score_all(producer, topic_log, gated, 0.95, field, kind)).data.gates["no_disciplinary_record"] is False
    assert await code(council.model_copy(update={"nomination_id": gated}), gated) == {"GATE_FAILED"}

    await panel_of(topic_log, withdrawn)
    await publish(producer, topics.NOMINATIONS, NominationWithdrawn(
        nomination_id=withdrawn, unit_id="QLTNN", requested_by=OFFICERS["QLTNN"].staff_id, year=2025, title="Rút"),
        withdrawn, NOMINATIONS_SOURCE)
    [cancelled] = await outputs(topic_log, withdrawn, "evaluation.cancelled")
    assert cancelled.data.reason == "Đơn vị đã rút đề cử."
    assert await code(ScoreSubmitted(nomination_id=withdrawn, evaluator_id=panel[0], scores=good), withdrawn) == {"EVALUATION_CANCELLED"}

    exemplar_id = f"EX-{a}"
    assert await code(review("EX-NOM-NONE"), "EX-NOM-NONE") == {"UNKNOWN_EXEMPLAR"}
    assert await code(review(exemplar_id, period="2025-H5"), exemplar_id) == {"INVALID_PERIOD"}
    assert await code(review(exemplar_id, period="2024"), exemplar_id) == {"PERIOD_BEFORE_NOMINATION"}
    for unit, day, expected in (("QLTNN", dt.date(2025, 12, 2), "OWN_UNIT"), ("CUC-MA", dt.date(2025, 12, 2), "UNKNOWN_UNIT"),
                                ("STNMT-HN", dt.date(2025, 6, 1), "UNIT_NOT_ACTIVE"),
                                ("VT", dt.date.today() + dt.timedelta(days=30), "DATE_IN_FUTURE")):
        report = ReplicationReported(exemplar_id=exemplar_id, adopting_unit_id=unit, applied_on=day, reported_by="x")
        assert await code(report, exemplar_id) == {expected}, unit


# ---- schedule, duplicates, poison, crash ----------------------------------------------------


async def test_reminders_then_overdue_once_each_on_the_clock(service, producer, topic_log):
    # Today is 2024-06-01. Accepted on 05-05: deadline 06-04, T-7 passed. On 04-20: overdue.
    soon, late = nid("NOM-REM"), nid("NOM-LATE")
    await accept(producer, soon, unit_id="BDKH", model=MODELS[8], year=2024, time=dt.datetime(2024, 5, 5, 8, tzinfo=dt.UTC))
    await accept(producer, late, unit_id="BDKH", model=MODELS[8], year=2024, time=dt.datetime(2024, 4, 20, 8, tzinfo=dt.UTC))
    panel = await panel_of(topic_log, soon)

    reminders = await outputs(topic_log, soon, "evaluation.reminder", at_least=3)
    overdue = await outputs(topic_log, late, "evaluation.overdue", at_least=3)
    assert sorted(r.data.evaluator_id for r in reminders) == sorted(panel)
    assert {(r.data.days_left, r.data.deadline) for r in reminders} == {(3, dt.date(2024, 6, 4))}
    assert {o.data.days_overdue for o in overdue} == {12}
    await asyncio.sleep(3)  # six more passes of the schedule
    log = await topic_log(topics.EVALUATIONS)
    for key, type_, n in ((soon, "evaluation.reminder", 3), (late, "evaluation.overdue", 3)):
        sent = [e for e in log.about(key) if e.type == type_]
        assert len(sent) == n and len({e.id for e in sent}) == n


async def test_redelivered_inputs_change_nothing(service, producer, topic_log, mongo):
    nomination_id = nid("NOM-DUP")
    await accept(producer, nomination_id, unit_id="VT", model=MODELS[11])
    panel = await panel_of(topic_log, nomination_id)
    scores = [new_event(ScoreSubmitted(nomination_id=nomination_id, evaluator_id=m,
                                       scores=sheet(Field.REMOTE_SENSING, NomineeKind.COLLECTIVE, 0.75)),
                        key=nomination_id, source="urn:evaluator-portal") for m in panel]
    decision = new_event(CouncilDecisionRecorded(nomination_id=nomination_id, recognized=True, level=RecognitionLevel.UNIT,
                                                 decision_ref="9/QĐ-VT", decided_on=dt.date(2025, 12, 1)),
                         key=nomination_id, source="urn:council")
    await send(producer, topics.EVALUATIONS_INTAKE, scores + [decision])
    await outputs(topic_log, nomination_id, "exemplar.recognized")
    before = await mongo[DB]["evaluations"].find_one({"_id": nomination_id})

    await send(producer, topics.EVALUATIONS_INTAKE, scores + [decision] + scores)  # a unit system retrying
    await outputs(topic_log, nomination_id, "exemplar.recognized", at_least=2)
    await outputs(topic_log, nomination_id, "evaluation.completed", at_least=3)
    after = await mongo[DB]["evaluations"].find_one({"_id": nomination_id})
    assert after["_rev"] == before["_rev"] and after["sheets"] == before["sheets"] and after["status"] == "decided"
    log = await topic_log(topics.EVALUATIONS)
    answers = [e for e in log.about(nomination_id) if e.type in ("evaluation.completed", "exemplar.recognized")]
    assert len({e.id for e in answers}) == 2  # the same two events, republished
    assert not [e for e in log.about(nomination_id) if e.type == "evaluation.input_rejected"]
    assert await mongo[DB]["exemplars"].count_documents({"nomination_id": nomination_id}) == 1


async def test_poison_goes_to_the_dead_letter_topic(service, producer, topic_log):
    dlq = await topic_log(topics.dlq(topics.EVALUATIONS_INTAKE))
    key = nid("NOM-POISON").encode()
    valid = new_event(ScoreSubmitted(nomination_id=key.decode(), evaluator_id="X", scores={"a": 1}),
                      key=key.decode(), source="urn:evaluator-portal")
    _, value, headers = envelope.encode(valid)
    # A well-formed event of a type this topic does not carry (a directory event).
    _, unit_value, unit_headers = envelope.encode(new_event(demo_data.units()[0], key=key.decode(), source="urn:hr"))
    negative = json.dumps({**json.loads(value), "scores": "nhiều"}).encode()
    poison = [("undecodable", b"\x00\xff", headers), ("undecodable", negative, {**headers, "ce_id": str(uuid.uuid4())}),
              ("unexpected_type", unit_value, unit_headers)]
    for _, raw, hdrs in poison:
        await producer.send_and_wait(topics.EVALUATIONS_INTAKE, raw, key=key, headers=[(k, v.encode()) for k, v in hdrs.items()])
    letters = await dlq.wait_for(lambda: (found := [r for r in dlq.records if r.key == key]) and len(found) >= 3 and found,
                                 what="three dead letters")
    assert [r.value for r in letters] == [raw for _, raw, _ in poison]
    reasons = [dict((k, v.decode()) for k, v in r.headers)["x-dlq-reason"] for r in letters]
    assert reasons == [reason for reason, _, _ in poison]
    assert all(dict(r.headers)["x-dlq-service"] == b"evaluations" for r in letters)


@pytest.mark.fault
async def test_kill_9_in_a_stream_of_scores_loses_and_duplicates_nothing(service, stack, producer, topic_log, mongo):
    ids = [nid("NOM-KILL") for _ in range(8)]
    for nomination_id in ids:
        await accept(producer, nomination_id, unit_id="KSONMT", model=MODELS[5])
    panels = {n: await panel_of(topic_log, n) for n in ids}
    stream = [new_event(ScoreSubmitted(nomination_id=n, evaluator_id=m, scores=sheet(Field.ENVIRONMENT, NomineeKind.COLLECTIVE, 0.5 + i / 20)),
                        key=n, source="urn:evaluator-portal") for n in ids for i, m in enumerate(panels[n])]
    sender = asyncio.create_task(_trickle(producer, stream))
    await outputs(topic_log, ids[0], "evaluation.completed")  # mid-stream
    service.kill()
    await sender
    # Killed inside a commit, its transaction holds documents for up to 20 s here (stack.restart).
    # The promise is no loss, no duplicate.
    await stack.restart(service)

    for n in ids:
        completed = await outputs(topic_log, n, "evaluation.completed", timeout=150)
        assert len({e.id for e in completed}) == 1, n
        assert completed[0].data.total == pytest.approx(55.0)
    docs = await mongo[DB]["evaluations"].find({"_id": {"$in": ids}}).to_list()
    assert len(docs) == 8 and all(d["status"] == "completed" and len(d["sheets"]) == 3 for d in docs)
    assert all(len({s["evaluator_id"] for s in d["sheets"]}) == 3 for d in docs)
    log = await topic_log(topics.EVALUATIONS)
    assert not [e for n in ids for e in log.about(n) if e.type == "evaluation.input_rejected"]


async def _trickle(producer, events: list[Event]) -> None:
    for event in events:
        await send(producer, topics.EVALUATIONS_INTAKE, [event])
        await asyncio.sleep(0.02)


async def test_a_unit_system_can_neither_score_nor_decide_and_nothing_changes(service, producer, topic_log, mongo):
    nomination_id = nid("NOM-FORGE")
    await accept(producer, nomination_id, unit_id="QLDD", model=MODELS[2])
    panel = await panel_of(topic_log, nomination_id)
    # The unit's own system, properly signed, speaking as the panel and as the council.
    as_evaluator = await publish(producer, topics.EVALUATIONS_INTAKE, ScoreSubmitted(
        nomination_id=nomination_id, evaluator_id=panel[0], scores=sheet(Field.LAND, NomineeKind.COLLECTIVE, 1.0)),
        nomination_id, source="urn:unit:QLDD")
    as_council = await publish(producer, topics.EVALUATIONS_INTAKE, CouncilDecisionRecorded(
        nomination_id=nomination_id, recognized=True, level=RecognitionLevel.MINISTRY, decision_ref="99/QĐ-GIẢ",
        decided_on=dt.date(2025, 12, 1)), nomination_id, source="urn:unit:QLDD")

    for forged in (as_evaluator, as_council):
        assert await refused(topic_log, forged) == {"NOT_AUTHORIZED"}
    doc = await mongo["exemplars_evaluations"]["evaluations"].find_one({"_id": nomination_id})
    assert doc["sheets"] == [] and doc["decision"] is None and doc["status"] == "open"


# ---- after the council: revocation and correction ---------------------------------------------


async def test_a_revoked_recognition_leaves_the_lists_and_keeps_its_history(service, stack, producer, topic_log):
    nomination_id, exemplar_id = nid("NOM-REV"), None
    sub = submission(nomination_id, OFFICERS["VT"], 2026, MODELS[3])
    await publish(producer, topics.NOMINATIONS_INTAKE, sub, nomination_id, "urn:unit:VT")
    await score_all(producer, topic_log, nomination_id, 0.85, field=sub.field, kind=sub.nominee.kind)
    [recognized] = await answer(topic_log, await decide(producer, nomination_id, True))
    exemplar_id = recognized.data.exemplar_id

    async def council(payload) -> Event:
        return await publish(producer, topics.EVALUATIONS_INTAKE, payload, nomination_id, "urn:council")

    # A correction of the level: the history keeps what it replaced.
    [corrected] = await answer(topic_log, await council(CorrectionRecorded(
        nomination_id=nomination_id, level=RecognitionLevel.UNIT, corrected_on=dt.date(2025, 12, 3),
        reason="Quyết định ghi nhầm cấp công nhận.")))
    assert corrected.type == "exemplar.decision_corrected"
    assert (corrected.data.previous_level, corrected.data.level) == (RecognitionLevel.MINISTRY, RecognitionLevel.UNIT)

    for unit, applied in (("KTTV", dt.date(2025, 12, 20)), ("BHD", dt.date(2026, 2, 10))):
        await answer(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, ReplicationReported(
            exemplar_id=exemplar_id, adopting_unit_id=unit, applied_on=applied,
            reported_by=OFFICERS[unit].staff_id), exemplar_id))
    revocation = RevocationRecorded(nomination_id=nomination_id, revocation_ref="45/QĐ-BNNMT",
                                    revoked_on=dt.date(2026, 1, 15), ground=RevocationGround.FALSE_DOCUMENTS,
                                    reason="Biên bản bình xét được lập sau ngày họp.")
    [revoked] = await answer(topic_log, await council(revocation))
    assert revoked.type == "exemplar.revoked" and revoked.data.distinct_units == 1  # BHD came after the day
    assert revoked.data.level is RecognitionLevel.UNIT

    # Refused, each with its code: a second revocation, a correction of a revoked title, a replication.
    assert await refused(topic_log, await council(revocation.model_copy(update={"revocation_ref": "46/QĐ-BNNMT"}))) \
        == {"ALREADY_REVOKED"}
    assert await refused(topic_log, await council(CorrectionRecorded(
        nomination_id=nomination_id, decision_ref="15A/QĐ-BNNMT", corrected_on=dt.date(2026, 1, 20),
        reason="Sửa số quyết định."))) == {"ALREADY_REVOKED"}
    assert await refused(topic_log, await publish(producer, topics.EVALUATIONS_INTAKE, ReplicationReported(
        exemplar_id=exemplar_id, adopting_unit_id="QLDD", applied_on=dt.date(2026, 3, 1),
        reported_by=OFFICERS["QLDD"].staff_id), exemplar_id)) == {"EXEMPLAR_REVOKED"}

    async with http(service) as client:
        recognised = (await client.get("/exemplars", params={"year": 2026})).json()
        listed = (await client.get("/exemplars", params={"status": "revoked", "year": 2026})).json()
        history = (await client.get(f"/exemplars/{exemplar_id}")).json()
        evaluation = (await client.get(f"/evaluations/{nomination_id}")).json()
    assert exemplar_id not in {e["exemplar_id"] for e in recognised}
    assert exemplar_id in {e["exemplar_id"] for e in listed}
    assert history["revoked"] and history["status"] == "revoked" and history["adopting_units"] == 1
    assert history["revocation"]["revocation_ref"] == "45/QĐ-BNNMT" and history["revocation"]["uncounted"] == ["BHD"]
    assert history["revocation"]["sender"]["producer"] == "council"
    assert history["totals"]["replications"] == 2 and history["level"] == "unit"
    decision = evaluation["decision"]
    assert decision["recognized"] and decision["revocation"]["ground"] == "false_documents"
    assert [(c["previous_level"], c["level"]) for c in decision["corrections"]] == [("ministry", "unit")]
    # Another unit still reads what was revoked, as it read the recognition.
    async with reads(service, stack.keyring.reader_token("qldd", "unit:QLDD")) as other:
        assert (await other.get(f"/exemplars/{exemplar_id}")).json()["revoked"] is True

    async def nomination_revoked():
        async with reads(stack.services["nominations"][0]) as c:
            doc = (await c.get(f"/nominations/{nomination_id}")).json()
            return doc if doc.get("status") == "revoked" else None
    shown = await wait_until(nomination_revoked, what="the nominations service to learn the revocation")
    assert shown["decision"]["level"] == "unit" and shown["decision"]["revocation"]["ref"] == "45/QĐ-BNNMT"
