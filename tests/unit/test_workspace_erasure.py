"""A person's erasure in the workspace: the live projection, cleared by `person.erased`, equals
what the same records decoded once their key is gone (every sealed field of theirs "đã xóa")
project, and nothing the workspace keeps holds their name, position, comments or drafts.
The unit of work runs over memory; the log is a list of records sealed with a memory key
store, as the producers write them. The workspace has no rebuild module: the rebuild is its
handlers over the log in a fresh store, and the projection's collections are compared."""

import copy
import datetime as dt
import json
from dataclasses import dataclass, field


from services.workspace.handlers import (
    ASSIGNMENTS,
    DRAFTS,
    NOMINATIONS,
    REFUSALS,
    STAFF,
    SUBMISSIONS,
    UNITS,
    USED_LINKS,
    Workspace,
    erasure_queries,
)
from shared import topics
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import (
    CommentRecorded,
    CriteriaSetRef,
    DiscussionOpened,
    EvaluatorReplaced,
    Evidence,
    InputRejected,
    NominationAccepted,
    Nominee,
    PanelAssigned,
    PersonErased,
    Reason,
    ScoreRecorded,
    StaffRegistered,
    UnitRegistered,
)
from shared.events.base import ERASED
from shared.replay import Comparison, compare
from shared.unit_of_work import ANSWERS, QUERIES, Delete, UnitOfWork, View
from shared.vault import MemoryVault
from shared.vocabulary import EvidenceKind, Field, NomineeKind, Role
from tests.sealed_log import T0, SealedLog

PERSON, MEMBER_A, MEMBER_B, MEMBER_C, SUBMITTER = "CB-0042", "CB-0051", "CB-0052", "CB-0053", "CB-0001"
NAME, POSITION, EMAIL = "Nguyễn Thị Xóa Mờ", "Phó trưởng phòng Dữ liệu", "xoa.mo@example.gov.vn"
SHEET_COMMENT = "Hồ sơ của Xóa Mờ: số liệu chưa đối chiếu được với báo cáo quý."
CRITERION_COMMENT = "Xóa Mờ thấy tiêu chí này chưa đạt vì thiếu minh chứng."
SAID = "Xóa Mờ giữ nguyên điểm: hiệu quả chưa được chứng minh."
SAID_BEFORE_RECUSAL = "Xóa Mờ đề nghị xem lại biên bản bình xét."
RECUSAL = "Xóa Mờ có người thân công tác tại đơn vị"
DRAFT = "Bản nháp riêng của Xóa Mờ"
SECRETS = (NAME, POSITION, EMAIL, SHEET_COMMENT, CRITERION_COMMENT, SAID, SAID_BEFORE_RECUSAL, RECUSAL, DRAFT)
A_SAID, A_SHEET = "Thành viên A đồng ý với mức điểm.", "Nhận xét của thành viên A."
# The projection, which a rebuild makes again from the log; the web side's own collections are not in it.
PROJECTION = {name: Comparison() for name in (STAFF, UNITS, NOMINATIONS, ASSIGNMENTS, REFUSALS, ANSWERS)}
@dataclass
class Live:
    log: SealedLog
    documents: MemoryDocuments = field(default_factory=MemoryDocuments)

    def __post_init__(self) -> None:
        self.work = UnitOfWork(self.documents, Workspace())

    async def consume(self, topic: str, event: Event) -> None:
        for outcome in await self.work.run(await self.log.events(await self.log.append(topic, event))):
            assert outcome.error is None, outcome.error
            assert not outcome.publish


def hr(data) -> Event:
    return new_event(data, key=getattr(data, "staff_id", None) or data.unit_id, source="urn:hr")


def evaluations(data) -> Event:
    return new_event(data, key=getattr(data, "nomination_id", None) or data.subject, source="urn:exemplars:evaluations")


def staff(staff_id: str, name: str, **more) -> Event:
    return hr(StaffRegistered(staff_id=staff_id, unit_id="U1", full_name=name,
                              email=more.pop("email", f"{staff_id.lower()}@example.gov.vn"),
                              roles=[Role.EVALUATOR], fields=[Field.LAND], **more))


def accepted(nomination_id: str, nominee: Nominee) -> Event:
    return new_event(NominationAccepted(
        nomination_id=nomination_id, unit_id="U1", year=2025, nominee=nominee, field=Field.LAND.value,
        movement="Phong trào thi đua chung sức xây dựng nông thôn mới", title=f"Mô hình {nomination_id}",
        summary="Rút ngắn thời gian xử lý hồ sơ.", achievements=["Giảm 35% thời gian xử lý"],
        evidence=[Evidence(kind=EvidenceKind.ACHIEVEMENT_REPORT, title="Báo cáo thành tích",
                           url=f"https://vanban.example.gov.vn/{nomination_id}.pdf")],
        started_on=dt.date(2023, 3, 1), submitter_id=SUBMITTER, accepted_in_year=1, yearly_maximum=2),
        key=nomination_id, source="urn:exemplars:nominations")


def collective(name: str) -> Nominee:
    return Nominee(kind=NomineeKind.COLLECTIVE, name=name, members=8)


def panel(nomination_id: str) -> Event:
    return evaluations(PanelAssigned(
        nomination_id=nomination_id, unit_id="U1", year=2025, field=Field.LAND, nominee_kind=NomineeKind.COLLECTIVE,
        title=f"Mô hình {nomination_id}", criteria=CriteriaSetRef(set_id="land.collective", version=1),
        evaluators=[PERSON, MEMBER_A, MEMBER_B], deadline=dt.date(2025, 7, 1)))


def sheet(nomination_id: str, member: str, total: float, comment: str | None, **criterion_comments: str) -> Event:
    return evaluations(ScoreRecorded(nomination_id=nomination_id, evaluator_id=member, scores={"c1": total / 10},
                                     total=total, comment=comment, criterion_comments=criterion_comments))


def opened(nomination_id: str) -> Event:
    return evaluations(DiscussionOpened(
        nomination_id=nomination_id, unit_id="U1", title=f"Mô hình {nomination_id}",
        evaluators=[PERSON, MEMBER_A, MEMBER_B], evaluator_totals={PERSON: 40, MEMBER_A: 90, MEMBER_B: 85},
        spread=50, threshold=25, closes_on=dt.date(2025, 7, 8)))


def said(nomination_id: str, member: str, text: str, number: int) -> Event:
    return evaluations(CommentRecorded(nomination_id=nomination_id, evaluator_id=member, comment=text, number=number))


def erased(again: bool = False) -> Event:
    return new_event(PersonErased(staff_id=PERSON, erased_on=dt.date.today()), key=PERSON,
                     source="urn:exemplars:privacy", id_parts=(PERSON, *(["again"] if again else [])))


async def live_world() -> tuple[MemoryVault, SealedLog, Live]:
    vault = MemoryVault()
    log = SealedLog(vault)
    live = Live(log)
    inputs = [
        (topics.DIRECTORY, hr(UnitRegistered(unit_id="U1", name="Phòng Dữ liệu", valid_from=dt.date(2020, 1, 1)))),
        (topics.DIRECTORY, staff(PERSON, NAME, position=POSITION, email=EMAIL)),
        (topics.DIRECTORY, staff(MEMBER_A, "Thành viên A", position="Chuyên viên")),
        (topics.DIRECTORY, staff(MEMBER_B, "Thành viên B")),
        (topics.DIRECTORY, staff(MEMBER_C, "Thành viên C")),
        (topics.NOMINATIONS, accepted("N1", Nominee(kind=NomineeKind.INDIVIDUAL, name=NAME, staff_id=PERSON,
                                                    position=POSITION))),
        (topics.NOMINATIONS, accepted("N2", collective("Tổ đo đạc số 2"))),
        (topics.NOMINATIONS, accepted("N3", collective("Tổ đo đạc số 3"))),
        # N2: the person sits on the panel, scores with comments and speaks in the discussion.
        (topics.EVALUATIONS, panel("N2")),
        (topics.EVALUATIONS, sheet("N2", PERSON, 40, SHEET_COMMENT, c1=CRITERION_COMMENT)),
        (topics.EVALUATIONS, sheet("N2", MEMBER_A, 90, A_SHEET)),
        (topics.EVALUATIONS, sheet("N2", MEMBER_B, 85, None)),
        (topics.EVALUATIONS, opened("N2")),
        (topics.EVALUATIONS, said("N2", PERSON, SAID, 1)),
        (topics.EVALUATIONS, said("N2", MEMBER_A, A_SAID, 2)),
        # N3: they speak, then step down: their sheet goes, what they said stays.
        (topics.EVALUATIONS, panel("N3")),
        (topics.EVALUATIONS, sheet("N3", PERSON, 40, "")),
        (topics.EVALUATIONS, sheet("N3", MEMBER_A, 90, A_SHEET)),
        (topics.EVALUATIONS, sheet("N3", MEMBER_B, 85, None)),
        (topics.EVALUATIONS, opened("N3")),
        (topics.EVALUATIONS, said("N3", PERSON, SAID_BEFORE_RECUSAL, 1)),
        (topics.EVALUATIONS, evaluations(EvaluatorReplaced(
            nomination_id="N3", title="Mô hình N3", recused_id=PERSON, replacement_id=MEMBER_C, reason=RECUSAL,
            deadline=dt.date(2025, 7, 15)))),
        (topics.EVALUATIONS, evaluations(InputRejected(
            input_type="evaluation.score_submitted", input_id="sheet-of-person", subject="N2", sender_id=PERSON,
            reasons=[Reason(code="EVALUATION_CLOSED", message="Đã hết hạn chấm điểm đề cử N2.")]))),
    ]
    for topic, event in inputs:
        await live.consume(topic, event)
    # The web side's own, written beside the projection.
    at = T0 + dt.timedelta(hours=1)
    for doc in ({"_id": f"N2|{PERSON}", "nomination_id": "N2", "person": PERSON, "scores": {"c1": "4"},
                 "comment": DRAFT, "saved_at": at},
                {"_id": f"N2|{MEMBER_A}", "nomination_id": "N2", "person": MEMBER_A, "comment": "Nháp của A",
                 "saved_at": at}):
        live.documents.put(DRAFTS, doc)
    for person, event_id in ((PERSON, "sheet-of-person"), (MEMBER_A, "sheet-of-a")):
        live.documents.put(SUBMISSIONS, {"_id": event_id, "kind": "score", "nomination_id": "N2", "person": person,
                                         "at": at, "published": True})
    live.documents.put(USED_LINKS, {"_id": "link-1", "person": PERSON, "at": at})
    return vault, log, live


async def erase(vault: MemoryVault, live: Live) -> None:
    assert await vault.erase(PERSON, dt.datetime.now(dt.UTC))
    await live.consume(topics.DIRECTORY, erased())


def dumped(documents) -> str:
    return json.dumps(documents, default=str, ensure_ascii=False)


async def test_the_live_projection_after_the_erasure_is_what_the_log_now_projects():
    vault, log, live = await live_world()
    kept = set(SECRETS) - {EMAIL, RECUSAL}  # an address and a recusal's reason are never kept here
    assert all(secret in dumped(live.documents.documents()) for secret in kept)
    loads = live.work.loads
    await erase(vault, live)
    assert live.work.loads - loads == len(erasure_queries(PERSON)) + 1  # `needs` named all it reads: no late load

    rebuilt = MemoryDocuments()
    for outcome in await UnitOfWork(rebuilt, Workspace()).run(await log.events(*log.records)):
        assert outcome.error is None
    assert compare(live.documents.documents(), rebuilt.documents(), PROJECTION) == []

    for documents in (live.documents.documents(), rebuilt.documents()):
        text = dumped({name: docs for name, docs in documents.items() if name in PROJECTION})
        assert not [secret for secret in SECRETS if secret in text]
    docs = live.documents.collections
    assert (docs[STAFF][PERSON]["name"], docs[STAFF][PERSON]["position"]) == (ERASED, ERASED)
    assert docs[NOMINATIONS]["N1"]["nominee"] == {"kind": "individual", "name": ERASED, "staff_id": PERSON,
                                                  "position": ERASED, "members": None}
    n2 = docs[ASSIGNMENTS]["N2"]
    assert n2["sheets"][PERSON]["comment"] == ERASED and n2["sheets"][PERSON]["criterion_comments"] == {"c1": ERASED}
    assert n2["sheets"][PERSON]["total"] == 40  # a score is not a personal field
    assert [(c["evaluator_id"], c["comment"]) for c in n2["discussion"]["comments"]] == [(PERSON, ERASED),
                                                                                         (MEMBER_A, A_SAID)]
    n3 = docs[ASSIGNMENTS]["N3"]
    assert PERSON not in n3["sheets"] and n3["recused"] == [PERSON]
    assert n3["discussion"]["comments"][0]["comment"] == ERASED


async def test_refusals_and_used_links_stay():
    vault, log, live = await live_world()
    await erase(vault, live)
    docs = live.documents.collections
    assert docs[USED_LINKS]["link-1"] == {"_id": "link-1", "person": PERSON, "at": T0 + dt.timedelta(hours=1)}
    assert docs[REFUSALS]["sheet-of-person"]["sender_id"] == PERSON


async def test_the_erasure_decides_to_delete_the_drafts_and_submissions_of_the_person():
    vault, log, live = await live_world()
    assert await vault.erase(PERSON, dt.datetime.now(dt.UTC))
    [event] = await log.events(await log.append(topics.DIRECTORY, erased()))
    view = View()
    handlers = Workspace()
    for query in handlers.needs(event)[QUERIES]:
        view.add_query(query, (await live.documents.query([query]))[query])
    view.add({STAFF: {PERSON}}, await live.documents.load({STAFF: {PERSON}}))
    deleted = [(c.collection, c.id) for c in handlers.decide(view, event).changes if isinstance(c, Delete)]
    assert deleted == [(DRAFTS, f"N2|{PERSON}"), (SUBMISSIONS, "sheet-of-person")]


async def test_drafts_and_submissions_of_the_person_are_deleted():
    vault, log, live = await live_world()
    await erase(vault, live)
    docs = live.documents.collections
    assert list(docs[DRAFTS]) == [f"N2|{MEMBER_A}"] and list(docs[SUBMISSIONS]) == ["sheet-of-a"]
    assert not [secret for secret in SECRETS if secret in dumped(live.documents.documents())]


async def test_other_people_are_untouched():
    vault, log, live = await live_world()
    docs = live.documents.collections
    theirs = copy.deepcopy({STAFF: {k: v for k, v in docs[STAFF].items() if k != PERSON},
                            NOMINATIONS: {k: v for k, v in docs[NOMINATIONS].items() if k != "N1"},
                            DRAFTS: docs[DRAFTS][f"N2|{MEMBER_A}"], SUBMISSIONS: docs[SUBMISSIONS]["sheet-of-a"],
                            "sheets": {n: {m: s for m, s in docs[ASSIGNMENTS][n]["sheets"].items() if m != PERSON}
                                       for n in ("N2", "N3")}})
    await erase(vault, live)
    assert {STAFF: {k: v for k, v in docs[STAFF].items() if k != PERSON},
            NOMINATIONS: {k: v for k, v in docs[NOMINATIONS].items() if k != "N1"},
            DRAFTS: docs[DRAFTS][f"N2|{MEMBER_A}"], SUBMISSIONS: docs[SUBMISSIONS]["sheet-of-a"],
            "sheets": {n: {m: s for m, s in docs[ASSIGNMENTS][n]["sheets"].items() if m != PERSON}
                       for n in ("N2", "N3")}} == theirs
    assert docs[ASSIGNMENTS]["N2"]["sheets"][MEMBER_A]["comment"] == A_SHEET
    assert docs[STAFF][MEMBER_A]["name"] == "Thành viên A"


async def test_a_second_erasure_changes_nothing():
    vault, log, live = await live_world()
    await erase(vault, live)
    before = copy.deepcopy(live.documents.collections)
    [again] = await live.work.run([erased(again=True)])
    assert again.error is None and not again.publish
    after = live.documents.collections
    assert {n: d for n, d in after.items() if n != ANSWERS} == {n: d for n, d in before.items() if n != ANSWERS}
    assert {k: v for k, v in after[ANSWERS].items() if k != again.event.dedup_key} == before[ANSWERS]
    [repeated] = await live.work.run([erased()])
    assert repeated.repeated


async def test_the_answers_say_whose_fields_they_hold():
    vault, log, live = await live_world()
    await erase(vault, live)
    answers = live.documents.collections[ANSWERS]
    # The workspace publishes nothing: its answers hold nobody's fields.
    assert answers and all(a["persons"] == [] and a["output"] == [] for a in answers.values())
