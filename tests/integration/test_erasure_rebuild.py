"""A person's erasure in the evaluations and notifications services, against a rebuild from the log.

The live services run as in the rebuild tests beside this one (their real handlers in the unit
of work over the stack's SecantusDB, the real delivery worker), with every record sealed as the
producers seal it under a memory key store. Then two people are erased as `exemplars person
erase` does it: their keys deleted, and `person.erased` applied live. The log read again with
the keys the store now holds (every sealed field of theirs "đã xóa") must rebuild exactly the
live projections, which must hold none of their names, addresses, comments or reasons, and
still hold everybody else's. A second `person.erased` changes nothing.
"""

import asyncio
import datetime as dt
import json
import uuid

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from services.evaluations import domain
from services.evaluations.domain import exemplar_id
from services.evaluations.reminders import discussions_ended
from services.evaluations.store import EvaluationStore
from services.notifications.domain import RECIPIENT_ERASED
from services.notifications.rebuild import COMPARISON as NOTIFICATIONS_COMPARISON
from services.notifications.rebuild import rebuild as rebuild_notifications
from shared import topics
from shared.events import (
    CommentPosted,
    ConflictDeclared,
    CouncilDecisionRecorded,
    CriteriaSetRef,
    EvaluationReminder,
    EvaluatorReplaced,
    ExemplarRecognized,
    NominationAccepted,
    PanelAssigned,
    PersonErased,
    StaffRegistered,
    StaffRemoved,
)
from shared.events.base import ERASED
from shared.replay import compare
from shared.unit_of_work import ANSWERS
from shared.vault import MemoryVault
from shared.vocabulary import Field, NomineeKind, RecognitionLevel, Role
from tests.integration import test_notifications_rebuild as notifications
from tests.integration.test_evaluations_rebuild import (
    COMPARISON,
    HR,
    NOMINATIONS,
    OFFICER,
    UNITS,
    Live,
    documents,
    rebuilt_documents,
)

PRIVACY = "urn:exemplars:privacy"  # deploy/person_erase.py
EVALUATOR, NOMINEE = "CB-CHAM-XOA", "CB-DIEN-HINH"
EV_NAME, EV_EMAIL, EV_HOOK = "Trịnh Thị Chấm Xóa", "cham.xoa@monre.gov.vn", "https://chat.monre.gov.vn/hooks/cham-xoa"
NOMINEE_NAME, NOMINEE_POSITION = "Lương Văn Điển Hình", "Trưởng trạm Quan trắc Hồ Xóa"
NOMINEE_EMAIL = "dien.hinh@monre.gov.vn"
SHEET_COMMENT = "Nhận xét riêng của người chấm đã xin xóa"
CRITERION_COMMENT = "Lý do chấm tiêu chí hiệu quả của người chấm đã xin xóa"
DISCUSSION_COMMENT = "Ý kiến thảo luận của người chấm đã xin xóa"
RECUSAL_REASON = "Người chấm đã xin xóa là em họ của tác giả"
SECRETS = (EV_NAME, EV_EMAIL, EV_HOOK, NOMINEE_NAME, NOMINEE_POSITION, NOMINEE_EMAIL, SHEET_COMMENT,
           CRITERION_COMMENT, DISCUSSION_COMMENT, RECUSAL_REASON)
KEPT_COMMENT, KEPT_NAME = "Nhận xét của thành viên khác, được giữ lại", "Cán bộ b1"
CONGRATULATIONS = f"Chúc mừng: {ERASED} được công nhận điển hình tiên tiến cấp Bộ"


async def everything(db) -> dict[str, list[dict]]:
    return {name: await db[name].find().to_list() for name in await db.list_collection_names()}


def holding(docs: dict[str, list[dict]], needles) -> list[str]:
    """`collection/_id` of every document holding one of `needles`."""
    return [f"{name}/{doc['_id']}" for name, items in docs.items() for doc in items
            if any(n in json.dumps(doc, default=str, ensure_ascii=False) for n in needles)]


def without_answers(docs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {name: items for name, items in docs.items() if name != ANSWERS}


def erased(person: str) -> PersonErased:
    return PersonErased(staff_id=person, erased_on=dt.date(2024, 5, 1))


# ---- evaluations -------------------------------------------------------------------------------


@pytest.fixture
async def databases(mongo):
    names = [f"erasure_rebuild_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield [mongo[name] for name in names]
    for name in names:
        await mongo.drop_database(name)


async def evaluator(live: Live, staff_id: str, unit_id: str, day: str, name: str | None = None,
                    email: str | None = None) -> list:
    return await live.send(topics.DIRECTORY, StaffRegistered(
        staff_id=staff_id, unit_id=unit_id, full_name=name or f"Cán bộ {staff_id}",
        email=email or f"{staff_id.lower()}@monre.gov.vn", roles=[Role.EVALUATOR], fields=[Field.LAND]),
        unit_id, HR, day)


async def test_the_evaluations_projection_after_an_erasure_is_the_one_the_log_rebuilds(databases):
    live_db, rebuilt_db = databases
    vault = MemoryVault()
    live = Live(EvaluationStore(live_db), vault)
    await live.store.ensure_indexes()
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    await evaluator(live, "b1", "U-B", "2024-02-01")
    await evaluator(live, EVALUATOR, "U-C", "2024-02-01", EV_NAME, EV_EMAIL)
    await evaluator(live, "d1", "U-D", "2024-02-01")
    await live.send(topics.DIRECTORY, StaffRegistered(
        staff_id=NOMINEE, unit_id="U-NOM", full_name=NOMINEE_NAME, position=NOMINEE_POSITION, email=NOMINEE_EMAIL),
        "U-NOM", HR, "2024-02-01")

    # An individual nominee (N1) and a collective one (N2), both on the three evaluators' panels.
    nominee = StaffMember(NOMINEE, "U-NOM", NOMINEE_NAME, (), ())
    individual = submission("N1", OFFICER, 2024, MODELS[0], individual=nominee, position=NOMINEE_POSITION)
    for accepted in (NominationAccepted(**individual.model_dump(), accepted_in_year=1, yearly_maximum=2),
                     NominationAccepted(**submission("N2", OFFICER, 2024, MODELS[1]).model_dump(),
                                        accepted_in_year=2, yearly_maximum=2)):
        [panel] = await live.send(topics.NOMINATIONS, accepted, accepted.nomination_id, NOMINATIONS, "2024-03-01")
        assert sorted(panel.data.evaluators) == sorted(["b1", EVALUATOR, "d1"])
    await evaluator(live, "e1", "U-E", "2024-03-02")

    # N1: the evaluator's sheet and comments; the panel diverges, discusses, and the time box ends it.
    assert len(await live.score("N1", EVALUATOR, 0.95, "2024-03-03", comment=SHEET_COMMENT,
                                criterion_comments={"effectiveness": CRITERION_COMMENT},
                                gates={"months_in_operation": True})) == 1
    assert len(await live.score("N1", "b1", 0.65, "2024-03-04", comment=KEPT_COMMENT)) == 1
    assert (await live.score("N1", "d1", 0.65, "2024-03-05"))[-1].type == "evaluation.discussion_opened"
    for member, text in ((EVALUATOR, DISCUSSION_COMMENT), ("b1", KEPT_COMMENT)):
        await live.intake(CommentPosted(nomination_id="N1", evaluator_id=member, comment=text), "N1", "2024-03-06")
    # N2: they step down, with their reason; e1 takes the seat.
    [replaced] = await live.intake(ConflictDeclared(nomination_id="N2", evaluator_id=EVALUATOR,
                                                    reason=RECUSAL_REASON), "N2", "2024-03-07")
    assert replaced.data.replacement_id == "e1"
    [time_up] = await discussions_ended(live.store, dt.date(2024, 3, 20))
    [completed] = await live.intake(time_up.data, "N1", "2024-03-20", "urn:exemplars:evaluations")
    assert completed.data.outcome.value == "recognize"
    [recognized] = await live.intake(CouncilDecisionRecorded(
        nomination_id="N1", recognized=True, level=RecognitionLevel.MINISTRY, decision_ref="15/QĐ-BNNMT",
        decided_on=dt.date(2024, 4, 1)), "N1", "2024-04-01", "urn:council")
    assert recognized.type == "exemplar.recognized" and recognized.data.nominee_name == NOMINEE_NAME
    # N3: they leave the directory while on its panel: the service's own reason, not theirs.
    accepted = NominationAccepted(**submission("N3", OFFICER, 2024, MODELS[2]).model_dump(), accepted_in_year=3,
                                  yearly_maximum=3)
    [panel] = await live.send(topics.NOMINATIONS, accepted, "N3", NOMINATIONS, "2024-04-02")
    assert EVALUATOR in panel.data.evaluators
    await live.send(topics.DIRECTORY, StaffRemoved(staff_id=EVALUATOR, unit_id="U-C"), "U-C", HR, "2024-04-03")
    before = await everything(live_db)
    assert set(holding(before, SECRETS)) >= {f"staff/{EVALUATOR}", f"staff/{NOMINEE}", "evaluations/N1",
                                             "evaluations/N2", f"exemplars/{exemplar_id('N1')}"}

    # The erasure: the keys first, then `person.erased` (as deploy/person_erase.py does).
    for person in (EVALUATOR, NOMINEE):
        assert await vault.erase(person, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
        assert await live.send(topics.DIRECTORY, erased(person), person, PRIVACY, "2024-05-01") == []
    after = await everything(live_db)
    assert holding(after, SECRETS) == []
    assert {"evaluations/N1", "staff/b1"} <= set(holding(after, (KEPT_COMMENT, KEPT_NAME)))  # others stay
    n1, n2, n3 = [await live.store.evaluation(n) for n in ("N1", "N2", "N3")]
    sheet = next(s for s in n1["sheets"] if s["evaluator_id"] == EVALUATOR)
    assert (sheet["comment"], sheet["criterion_comments"]) == (ERASED, {"effectiveness": ERASED})
    assert [(c["evaluator_id"], c["comment"]) for c in n1["discussion"]["comments"]] == [
        (EVALUATOR, ERASED), ("b1", KEPT_COMMENT)]
    assert (n1["nominee_name"], n1["nominee_staff_id"]) == (ERASED, NOMINEE)
    assert [(r["evaluator_id"], r["reason"]) for r in n2["recused"]] == [(EVALUATOR, ERASED)]
    assert [(r["evaluator_id"], r["reason"]) for r in n3["recused"]] == [(EVALUATOR, domain.NO_LONGER_ELIGIBLE)]
    assert (await live.store.exemplar(exemplar_id("N1")))["nominee_name"] == ERASED
    assert n1["result"] == before_doc(before, "evaluations", "N1")["result"]  # the figures stay

    # Taking it again changes nothing (revisions included): only its own answer is new.
    await live.send(topics.DIRECTORY, erased(EVALUATOR), EVALUATOR, PRIVACY, "2024-05-02")
    again = await everything(live_db)
    assert without_answers(again) == without_answers(after) and len(again[ANSWERS]) == len(after[ANSWERS]) + 1

    inputs, answers = await live.reread()
    rebuilt = await rebuilt_documents(rebuilt_db, inputs, answers)
    assert answers.divergent == []
    assert compare(await documents(live_db), rebuilt, COMPARISON) == []
    assert holding(rebuilt, SECRETS) == []


def before_doc(docs: dict[str, list[dict]], collection: str, doc_id: str) -> dict:
    return next(d for d in docs[collection] if d["_id"] == doc_id)


# ---- notifications -----------------------------------------------------------------------------


async def notified(live: notifications.Live, tag: str) -> dict[str, object]:
    """The directory, a panel with the evaluator, their recusal, and the nominee's recognition."""
    a, b = f"A{tag}", f"B{tag}"
    d, e = topics.DIRECTORY, topics.EVALUATIONS
    live.log(d, 0, notifications.unit(a, "Cục Đo đạc Alpha"), a, HR)
    live.log(d, 1, notifications.unit(b, "Cục Viễn thám Beta"), b, HR)
    live.log(d, 0, StaffRegistered(staff_id=EVALUATOR, unit_id=a, full_name=EV_NAME, email=EV_EMAIL,
                                   webhook_url=EV_HOOK, roles=[Role.EVALUATOR]), a, HR)
    live.log(d, 1, StaffRegistered(staff_id=NOMINEE, unit_id=b, full_name=NOMINEE_NAME, email=NOMINEE_EMAIL,
                                   position=NOMINEE_POSITION, roles=[Role.EMULATION_OFFICER]), b, HR)
    for staff_id, unit_id, name, role in ((f"{a}-EV", a, "Phạm Văn Chấm", Role.EVALUATOR),
                                          (f"{a}-OFF", a, "Trần Thị Thi", Role.EMULATION_OFFICER),
                                          (f"{b}-LEAD", b, "Nguyễn Văn Trưởng", Role.UNIT_LEADER)):
        live.log(d, {a: 0, b: 1}[unit_id], notifications.staff(staff_id, unit_id, name, role), unit_id, HR)
    nom = f"NOM-{tag}"
    title = notifications.TITLE
    events = {"panel": live.log(e, 0, PanelAssigned(
        nomination_id=nom, unit_id=b, year=2025, field=Field.LAND, nominee_kind=NomineeKind.INDIVIDUAL, title=title,
        criteria=CriteriaSetRef(set_id="land.individual", version=1), evaluators=[EVALUATOR, f"{a}-EV"],
        deadline=dt.date(2025, 12, 15)), nom, notifications.EVALUATIONS)}
    events["replaced"] = live.log(e, 0, EvaluatorReplaced(
        nomination_id=nom, title=title, recused_id=EVALUATOR, replacement_id=None, reason=RECUSAL_REASON,
        deadline=dt.date(2025, 12, 15)), nom, notifications.EVALUATIONS)
    events["reminder"] = live.log(e, 1, EvaluationReminder(
        nomination_id=f"NOM-X-{tag}", evaluator_id=EVALUATOR, title="Hồ sơ khác", deadline=dt.date(2025, 12, 1),
        days_left=3), f"NOM-X-{tag}", notifications.EVALUATIONS)
    events["recognized"] = live.log(e, 2, ExemplarRecognized(
        exemplar_id=f"EX-{tag}", nomination_id=nom, unit_id=b, year=2025, field=Field.LAND,
        nominee_name=NOMINEE_NAME, nominee_staff_id=NOMINEE, title=title, level=RecognitionLevel.MINISTRY,
        decision_ref="12/QĐ-BNNMT", total=88.5), f"EX-{tag}", notifications.EVALUATIONS)
    await live.process()
    return {"a": a, "b": b, **events}


async def notified_world(live_db):
    """A live notifications service over `live_db`, sealing with a memory key store, after `notified`
    (its tag and events)."""
    settings = notifications.settings_for(live_db.name)
    vault = MemoryVault()
    live = notifications.Live(live_db, settings, vault=vault)
    await live.store.ensure_indexes()
    tag = uuid.uuid4().hex[:6].upper()
    return settings, vault, live, tag, await notified(live, tag)


async def test_the_notifications_projection_after_an_erasure_is_the_one_the_log_rebuilds(databases):
    live_db, rebuilt_db = databases
    settings, vault, live, tag, events = await notified_world(live_db)
    reminder = events["reminder"].id
    # Sent before the erasure, but for the reminder to the evaluator (pending) and the paced publicity.
    await live.work(skip=lambda doc: doc["publicity"] or doc["event_id"] == reminder)
    before = await everything(live_db)
    assert set(holding(before, SECRETS)) >= {f"staff/{EVALUATOR}", f"staff/{NOMINEE}"}
    assert EV_EMAIL in live.mail.sent and EV_HOOK in live.hooks.called and NOMINEE_EMAIL in live.mail.sent
    congratulated = [d for d in before["deliveries"] if d["event_id"] == events["recognized"].id
                     and d["status"] == "sent"]
    assert len(congratulated) >= 3 and all(NOMINEE_NAME in d["subject"] for d in congratulated)

    for person in (EVALUATOR, NOMINEE):
        await vault.erase(person, dt.datetime.now(dt.UTC))
        live.log(topics.DIRECTORY, 3, erased(person), person, PRIVACY)
    await live.process()
    after = await everything(live_db)
    assert holding(after, SECRETS) == []
    others = {f"staff/{events['a']}-OFF", f"staff/{events['b']}-LEAD"}
    assert others <= set(holding(after, ("Trần Thị Thi", "Nguyễn Văn Trưởng")))  # others stay
    staff = {d["_id"]: d for d in after["staff"]}
    assert {k: staff[EVALUATOR][k] for k in ("full_name", "email", "webhook_url")} == dict.fromkeys(
        ("full_name", "email", "webhook_url"), ERASED)
    theirs = [d for d in after["deliveries"] if d["recipient_id"] == EVALUATOR]
    assert {(d["channel"], d["address"], d["recipient_name"]) for d in theirs} == {
        ("email", ERASED, ERASED), ("webhook", ERASED, ERASED)}
    subjects = {d["_id"]: d["subject"] for d in after["deliveries"] if d["_id"] in {c["_id"] for c in congratulated}}
    assert subjects == {d["_id"]: CONGRATULATIONS for d in congratulated}

    # After the erasure: the evaluator is still planned for (a new reminder), and nothing reaches them.
    sent_before = (list(live.mail.sent), list(live.hooks.called))
    live.log(topics.EVALUATIONS, 1, EvaluationReminder(
        nomination_id=f"NOM-Y-{tag}", evaluator_id=EVALUATOR, title="Hồ sơ sau khi xóa", deadline=dt.date(2025, 12, 1),
        days_left=2), f"NOM-Y-{tag}", notifications.EVALUATIONS)
    await live.process()
    await asyncio.sleep(0.2)  # the publicity slot comes due
    await live.work()
    mailed = (live.mail.sent[len(sent_before[0]):], live.hooks.called[len(sent_before[1]):])
    assert EV_EMAIL not in mailed[0] and ERASED not in mailed[0] and not set(mailed[1]) & {EV_HOOK, ERASED}
    done = await everything(live_db)
    theirs = [d for d in done["deliveries"] if d["recipient_id"] == EVALUATOR]
    assert theirs and all(d["status"] in ("sent", "failed") for d in theirs)
    failed = [d for d in theirs if d["status"] == "failed"]
    assert {d["last_error"] for d in failed} == {RECIPIENT_ERASED} and len(failed) == 4  # 2 reminders x 2 channels
    assert all(d["address"] == ERASED and d["outcome"]["data"]["address"] == ERASED for d in theirs)
    publicity = [d for d in done["deliveries"] if d["publicity"]]
    assert publicity and all(d["status"] == "sent" and NOMINEE_NAME not in d["subject"] for d in publicity)
    assert holding(done, SECRETS) == []

    # Taking it again changes nothing.
    live.log(topics.DIRECTORY, 3, erased(EVALUATOR), EVALUATOR, PRIVACY)
    await live.process()
    again = await everything(live_db)
    assert without_answers(again) == without_answers(done) and len(again[ANSWERS]) == len(done[ANSWERS]) + 1

    inputs, answers = await live.reread()
    rebuilt = await rebuild_notifications(inputs, answers, settings)
    assert answers.divergent == []
    live_docs = await notifications.read(live_db)
    assert compare(live_docs, rebuilt, NOTIFICATIONS_COMPARISON) == []
    assert compare(live_docs, await notifications.written(rebuilt_db, rebuilt), NOTIFICATIONS_COMPARISON) == []
    assert holding(rebuilt, SECRETS) == []


async def test_a_delivery_in_flight_at_the_erasure_records_nothing_and_is_tried_again(databases):
    live_db, _ = databases
    settings, vault, live, tag, events = await notified_world(live_db)
    # Claimed before the erasure, tried after it (the worker's copy predates it).
    flying = {(EVALUATOR, events["reminder"].id), (f"{events['b']}-LEAD", events["recognized"].id)}
    claimed = [d for channel in ("email", "webhook") for d in await live.store.claim_due(
        channel, live.worker.now(), 100, settings.delivery_lease_seconds, "flying:1")
        if (d["recipient_id"], d["event_id"]) in flying]
    assert len(claimed) == 3  # the evaluator's mail and webhook, the unit leader's mail
    for person in (EVALUATOR, NOMINEE):
        await vault.erase(person, dt.datetime.now(dt.UTC))
        live.log(topics.DIRECTORY, 3, erased(person), person, PRIVACY)
    await live.process()
    in_flight = [d for d in await live_db["deliveries"].find({"_id": {"$in": [c["_id"] for c in claimed]}}).to_list()]
    assert {(d["status"], d["claimed_by"]) for d in in_flight} == {("sending", None)}  # the claims taken back
    outcomes = len(live.outcomes)
    for delivery in claimed:
        await live.worker.attempt(delivery)
    assert len(live.outcomes) == outcomes  # nothing recorded, nothing published
    assert EV_EMAIL not in live.mail.sent and EV_HOOK not in live.hooks.called
    assert holding(await everything(live_db), SECRETS) == []

    # Once their lease runs out they are tried again, with what the log now reads.
    later = live.worker.now() + dt.timedelta(seconds=settings.delivery_lease_seconds + 1)
    for channel in ("email", "webhook"):
        for delivery in await live.store.claim_due(channel, later, 100, settings.delivery_lease_seconds, "again:1"):
            await live.worker.attempt(delivery)
    docs = {d["_id"]: d for d in await live_db["deliveries"].find().to_list()}
    assert {(docs[c["_id"]]["status"], docs[c["_id"]]["last_error"]) for c in claimed} == {
        ("failed", RECIPIENT_ERASED), ("sent", None)}
    leader = next(docs[c["_id"]] for c in claimed if c["recipient_id"] != EVALUATOR)
    assert leader["subject"] == CONGRATULATIONS and EV_EMAIL not in live.mail.sent
    assert holding(await everything(live_db), SECRETS) == []

    inputs, answers = await live.reread()
    rebuilt = await rebuild_notifications(inputs, answers, settings)
    assert answers.divergent == []
    assert compare(await notifications.read(live_db), rebuilt, NOTIFICATIONS_COMPARISON) == []
