"""A person's erasure in the nominations service: the live projection, cleared by `person.erased`,
equals what a rebuild from the log (where the person's sealed fields no longer open) stores,
and no document keeps their name or position. The unit of work runs over memory; the log is
a list of records sealed with a memory key store, as the producers write them."""

import copy
import datetime as dt
import json
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from services.nominations.handlers import CLAIMS, NOMINATIONS, STAFF, Nominations, claim_id
from services.nominations.rebuild import COMPARISON, rebuild
from services.nominations.settings import NominationsSettings
from shared import topics
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import (
    Evidence,
    ExemplarRecognized,
    NominationSubmitted,
    Nominee,
    PersonErased,
    StaffRegistered,
    UnitRegistered,
)
from shared.events.base import ERASED
from shared.programme import load_programme
from shared.replay import Answers, compare
from shared.unit_of_work import ANSWERS, REVISION, UnitOfWork
from shared.vault import MemoryVault
from shared.vocabulary import EvidenceKind, Field, NomineeKind, RecognitionLevel, Role
from tests.sealed_log import SealedLog

PERSON, OTHER, SUBMITTER = "CB-0042", "CB-0043", "CB-0001"
NAME, POSITION, EMAIL = "Nguyễn Thị Xóa Mờ", "Phó trưởng phòng Dữ liệu", "xoa.mo@example.gov.vn"
WEBHOOK = "https://chat.example.gov.vn/hooks/xoa-mo"
TEAM = "Tổ công tác Dữ liệu nền"
OTHER_NAME, SUBMITTER_NAME = "Trần Văn Giữ Lại", "Lê Thị Gửi"
SECRETS = (NAME, POSITION, EMAIL, WEBHOOK)
@dataclass
class Live:
    """The live service: each input read from the log as it comes, its answers written to the log."""

    log: SealedLog
    documents: MemoryDocuments = field(default_factory=MemoryDocuments)

    def __post_init__(self) -> None:
        self.work = UnitOfWork(self.documents, Nominations(load_programme()))

    async def consume(self, topic: str, event: Event) -> None:
        [logged] = await self.log.read(await self.log.append(topic, event))
        for outcome in await self.work.run([logged.event]):
            assert outcome.error is None, outcome.error
            for answer in outcome.publish:
                await self.log.append(topics.NOMINATIONS, answer)


def directory(data) -> Event:
    return new_event(data, key=getattr(data, "staff_id", None) or data.unit_id, source="urn:hr")


def staff(staff_id: str, name: str, **more) -> Event:
    return directory(StaffRegistered(staff_id=staff_id, unit_id="U1", full_name=name,
                                     email=more.pop("email", f"{staff_id.lower()}@example.gov.vn"),
                                     roles=[Role.EMULATION_OFFICER], **more))


def submitted(nomination_id: str, nominee: Nominee, year: int = 2025) -> Event:
    sub = NominationSubmitted(
        nomination_id=nomination_id, unit_id="U1", year=year, nominee=nominee, field=Field.LAND.value,
        movement="Phong trào thi đua chung sức xây dựng nông thôn mới", title=f"Mô hình {nomination_id}",
        summary="Rút ngắn thời gian xử lý hồ sơ.", achievements=["Giảm 35% thời gian xử lý"],
        evidence=[Evidence(kind=EvidenceKind.ACHIEVEMENT_REPORT, title="Báo cáo thành tích",
                           url=f"https://vanban.example.gov.vn/{nomination_id}.pdf")],
        started_on=dt.date(year - 2, 3, 1), submitter_id=SUBMITTER)
    return new_event(sub, key=nomination_id, source="urn:unit-system:U1")


def individual(staff_id: str, name: str, position: str | None) -> Nominee:
    return Nominee(kind=NomineeKind.INDIVIDUAL, name=name, staff_id=staff_id, position=position)


def erased(n: int = 0) -> Event:
    return new_event(PersonErased(staff_id=PERSON, erased_on=dt.date.today()), key=PERSON,
                     source="urn:exemplars:privacy", id_parts=(PERSON, *(["again"] * n)))


async def live_world() -> tuple[MemoryVault, SealedLog, Live]:
    vault = MemoryVault()
    log = SealedLog(vault)
    live = Live(log)
    await live.consume(topics.DIRECTORY, directory(UnitRegistered(unit_id="U1", name="Phòng Dữ liệu",
                                                                  valid_from=dt.date(2020, 1, 1))))
    await live.consume(topics.DIRECTORY, staff(PERSON, NAME, position=POSITION, email=EMAIL, webhook_url=WEBHOOK))
    await live.consume(topics.DIRECTORY, staff(OTHER, OTHER_NAME, position="Chuyên viên"))
    await live.consume(topics.DIRECTORY, staff(SUBMITTER, SUBMITTER_NAME))
    await live.consume(topics.NOMINATIONS_INTAKE, submitted("N1", individual(PERSON, NAME, POSITION)))
    await live.consume(topics.NOMINATIONS_INTAKE, submitted("N2", individual(OTHER, OTHER_NAME, "Chuyên viên")))
    # Refused (the person is nominated that year already, the places are taken): stored with the file.
    await live.consume(topics.NOMINATIONS_INTAKE, submitted("N3", individual(PERSON, NAME, POSITION)))
    # A collective names nobody: its name stays in clear, and an erasure leaves it.
    await live.consume(topics.NOMINATIONS_INTAKE, submitted(
        "N4", Nominee(kind=NomineeKind.COLLECTIVE, name=TEAM, members=6), year=2026))
    await live.consume(topics.EVALUATIONS, new_event(ExemplarRecognized(
        exemplar_id="EX-N1", nomination_id="N1", unit_id="U1", year=2025, field=Field.LAND, nominee_name=NAME,
        nominee_staff_id=PERSON, title="Mô hình N1", level=RecognitionLevel.MINISTRY, decision_ref="12/QĐ-BNNMT",
        total=88), key="N1", source="urn:exemplars:evaluations"))
    return vault, log, live


async def erase(vault: MemoryVault, live: Live) -> None:
    assert await vault.erase(PERSON, dt.datetime.now(dt.UTC))
    await live.consume(topics.DIRECTORY, erased())


def dumped(documents: dict[str, list[dict]]) -> str:
    return json.dumps(documents, default=str, ensure_ascii=False)


async def test_the_live_projection_after_the_erasure_is_what_a_rebuild_from_the_log_stores():
    vault, log, live = await live_world()
    before = dumped(live.documents.documents())
    assert all(secret in before for secret in (NAME, POSITION))
    await erase(vault, live)

    inputs = await log.read(*log.of(topics.DIRECTORY, topics.NOMINATIONS_INTAKE, topics.EVALUATIONS))
    answers = Answers.of(logged.event for logged in await log.read(*log.of(topics.NOMINATIONS)))
    assert any(e.type == "nomination.accepted" and e.data.nominee.name == ERASED for e in answers.by_id.values())
    rebuilt = await rebuild(inputs, answers, NominationsSettings())
    assert not answers.divergent
    assert compare(live.documents.documents(), rebuilt, COMPARISON) == []

    for documents in (live.documents.documents(), rebuilt):
        text = dumped(documents)
        assert not [secret for secret in SECRETS if secret in text]
    docs = live.documents.collections
    assert docs[STAFF][PERSON]["full_name"] == ERASED
    for nomination_id in ("N1", "N3"):
        nominee = docs[NOMINATIONS][nomination_id]["submission"]["nominee"]
        assert (nominee["name"], nominee["staff_id"]) == (ERASED, PERSON)
    assert docs[NOMINATIONS]["N1"]["submission"]["nominee"]["position"] == ERASED
    assert docs[NOMINATIONS]["N3"]["status"] == "rejected" and docs[NOMINATIONS]["N1"]["status"] == "recognized"


async def test_a_collective_and_the_claims_are_untouched():
    vault, log, live = await live_world()
    docs = live.documents.collections
    before = copy.deepcopy((docs[NOMINATIONS]["N4"], docs[CLAIMS]))
    await erase(vault, live)
    assert (docs[NOMINATIONS]["N4"], docs[CLAIMS]) == before
    assert docs[NOMINATIONS]["N4"]["submission"]["nominee"]["name"] == TEAM
    assert claim_id(2025, f"staff:{PERSON}") in docs[CLAIMS]  # an individual's key is their id


def test_a_collective_carries_no_staff_id():
    """Its name would be one person's data, sealed under their key and erased with them."""
    for extra in ({"staff_id": PERSON}, {"position": POSITION}):
        with pytest.raises(ValidationError, match="collective nominee has no staff_id"):
            Nominee(kind=NomineeKind.COLLECTIVE, name=TEAM, members=6, **extra)


async def test_other_people_are_untouched():
    vault, log, live = await live_world()
    docs = live.documents.collections
    others = copy.deepcopy({STAFF: {k: docs[STAFF][k] for k in (OTHER, SUBMITTER, "U1") if k in docs[STAFF]},
                            NOMINATIONS: {"N2": docs[NOMINATIONS]["N2"]}})
    await erase(vault, live)
    assert {STAFF: {k: docs[STAFF][k] for k in others[STAFF]}, NOMINATIONS: {"N2": docs[NOMINATIONS]["N2"]}} == others
    assert docs[NOMINATIONS]["N2"]["submission"]["nominee"]["name"] == OTHER_NAME
    assert (docs[STAFF][OTHER]["full_name"], docs[STAFF][SUBMITTER]["full_name"]) == (OTHER_NAME, SUBMITTER_NAME)
    n2 = next(a for a in docs[ANSWERS].values() if a["output"] and a["output"][0]["key"] == "N2")
    assert n2["output"][0]["data"]["nominee"]["name"] == OTHER_NAME


async def test_the_answers_name_whose_fields_they_hold_and_are_cleared():
    vault, log, live = await live_world()
    by_nomination = {a["output"][0]["key"]: a for a in live.documents.collections[ANSWERS].values()
                     if a["output"] and a["output"][0]["type"].startswith("nomination.")}
    assert by_nomination["N1"]["persons"] == [PERSON] and by_nomination["N2"]["persons"] == [OTHER]
    assert by_nomination["N3"]["persons"] == []  # a refusal names the nominee by staff id only
    assert f"Cán bộ mã {PERSON}" in dumped(by_nomination["N3"])
    assert NAME not in dumped(by_nomination["N3"])
    await erase(vault, live)
    n1 = live.documents.collections[ANSWERS][by_nomination["N1"]["_id"]]
    assert n1["output"][0]["data"]["nominee"]["name"] == ERASED and n1["persons"] == [PERSON]


async def test_a_second_erasure_changes_nothing():
    vault, log, live = await live_world()
    await erase(vault, live)
    before = copy.deepcopy(live.documents.collections)
    [again] = await live.work.run([erased(1)])
    assert again.error is None and not again.publish
    after = live.documents.collections
    assert {n: d for n, d in after.items() if n != ANSWERS} == {n: d for n, d in before.items() if n != ANSWERS}
    assert {k: v for k, v in after[ANSWERS].items() if k != again.event.dedup_key} == before[ANSWERS]
    # The same record read again is the same input: answered once.
    [repeated] = await live.work.run([erased()])
    assert repeated.repeated


async def test_an_erasure_of_someone_the_service_never_saw_writes_nothing_but_its_answer():
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Nominations(load_programme()))
    [outcome] = await work.run([erased()])
    assert outcome.error is None
    assert set(documents.collections) == {ANSWERS}
    assert all(REVISION not in a for a in documents.collections[ANSWERS].values())
