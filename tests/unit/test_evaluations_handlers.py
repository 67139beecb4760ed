"""The evaluations handlers as pure decisions, in the unit of work over memory: what a batch
reads, what a refusal writes, and the loads moved in the same commit."""

import datetime as dt

from deploy.demo_data import MODELS, StaffMember, submission
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import EVALUATIONS, LOADS
from services.evaluations.handlers import Evaluations
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import (
    ConflictDeclared,
    NominationAccepted,
    ScoreSubmitted,
    StaffRegistered,
    UnitRegistered,
)
from shared.programme import EvaluationPolicy
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import Field, Role

POLICY = EvaluationPolicy(panel_size=3, scoring_days=30, reminder_days_before=(7, 2))
OFFICER = StaffMember("NOM-OFFICER", "U-NOM", "Lê Thị Lan", (Role.EMULATION_OFFICER,), ())


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.UTC)


def unit(unit_id: str) -> Event:
    return new_event(UnitRegistered(unit_id=unit_id, name=f"Đơn vị {unit_id}", valid_from=dt.date(2020, 1, 1)),
                     key=unit_id, source="urn:hr", time=at("2024-01-02"))


def staff(staff_id: str, unit_id: str) -> Event:
    return new_event(StaffRegistered(staff_id=staff_id, unit_id=unit_id, full_name=staff_id, email=f"{staff_id}@x.vn",
                                     roles=[Role.EVALUATOR], fields=[Field.LAND]),
                     key=unit_id, source="urn:hr", time=at("2024-02-01"))


def accepted(nomination_id: str) -> Event:
    sub = submission(nomination_id, OFFICER, 2024, MODELS[0])
    return new_event(NominationAccepted(**sub.model_dump(), accepted_in_year=1, yearly_maximum=2), key=nomination_id,
                     source="urn:exemplars:nominations", time=at("2024-03-01"))


async def world() -> tuple[MemoryDocuments, UnitOfWork]:
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Evaluations(load_criteria(), POLICY, replacement_min_days=7))
    units = ["U-NOM", "U-B", "U-C", "U-D", "U-E"]
    await work.run([unit(u) for u in units] + [staff(f"s-{u}", u) for u in units[1:]])
    return documents, work


async def test_a_batch_reads_each_collection_once_and_sees_its_own_changes():
    documents, work = await world()
    await work.run([accepted("N0"), accepted("N00")])  # every evaluator's first seat creates their load
    before = work.loads
    outcomes = await work.run([accepted(f"N{n}") for n in range(1, 5)])
    # the evaluations by id, then the evaluators, the loads and the units: one query each
    assert work.loads - before == 4
    assert all(o.publish[0].type == "evaluation.panel_assigned" for o in outcomes)
    load = sorted(len(d["open"]) for d in documents.collections[LOADS].values())
    assert load == [4, 4, 5, 5]  # 18 seats over 4 people: later panels saw the seats earlier ones took


async def test_a_refusal_changes_no_document():
    documents, work = await world()
    await work.run([accepted("N1")])
    before = {name: dict(docs) for name, docs in documents.collections.items() if name != "answers"}
    sheet = new_event(ScoreSubmitted(nomination_id="N1", evaluator_id="nobody", scores={}), key="N1", source="urn:portal")
    [outcome] = await work.run([sheet])
    assert [e.type for e in outcome.publish] == ["evaluation.input_rejected"]
    assert outcome.publish[0].data.reasons[0].code == "NOT_ON_PANEL"
    assert {name: docs for name, docs in documents.collections.items() if name != "answers"} == before
    assert sheet.dedup_key in documents.collections["answers"]


async def test_a_recusal_moves_the_load_in_the_same_commit():
    documents, work = await world()
    [opened] = await work.run([accepted("N1")])
    leaving, *staying = opened.publish[0].data.evaluators
    [spare] = {"s-U-B", "s-U-C", "s-U-D", "s-U-E"} - {leaving, *staying}
    recusal = new_event(ConflictDeclared(nomination_id="N1", evaluator_id=leaving, reason="Thân nhân"), key="N1",
                        source="urn:portal", time=at("2024-03-02"))
    [outcome] = await work.run([recusal])
    replaced = outcome.publish[0].data
    assert (replaced.recused_id, replaced.replacement_id) == (leaving, spare)
    loads = documents.collections[LOADS]
    assert loads[leaving]["open"] == [] and loads[spare]["open"] == ["N1"]
    assert documents.collections[EVALUATIONS]["N1"]["panel"] == [*staying, spare]
