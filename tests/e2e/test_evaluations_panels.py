"""Panel life and schedule rules against the real SecantusDB, with a directory of our own.

The shared demo directory always has enough evaluators, so panels that wait for people,
vacancies, departures and version pinning are driven here through the service's own
handlers, each test in a fresh database of the stack's server.
"""

import asyncio
import datetime as dt
import shutil
import uuid

import pytest
import yaml

from deploy.demo_data import MODELS, StaffMember, submission
from services.evaluations.criteria import CRITERIA_DIR, load_criteria
from services.evaluations.domain import NO_LONGER_ELIGIBLE
from services.evaluations.handlers import Evaluations
from services.evaluations.reminders import discussions_ended, due_reminders
from services.evaluations.store import EvaluationStore
from shared.envelope import Event, new_event
from shared.events import (
    ConflictDeclared,
    NominationAccepted,
    ScoreSubmitted,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.programme import EvaluationPolicy
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import Field, NomineeKind, Role

POLICY = EvaluationPolicy(panel_size=3, scoring_days=30, reminder_days_before=(7, 2))
UNITS = {"U-NOM": None, "U-NOM-1": "U-NOM", "U-B": None, "U-C": None, "U-D": None, "U-E": None, "U-F": None}


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.UTC)


class Service:
    """The service's handlers in the unit of work on the test's database, one input per batch."""

    def __init__(self, store: EvaluationStore, registry=None) -> None:
        self.store = store
        self.work = UnitOfWork(store.documents, Evaluations(registry or load_criteria(), POLICY, replacement_min_days=7))

    async def handle(self, event: Event) -> list[Event]:
        [outcome] = await self.work.run([event])
        if outcome.error is not None:
            raise outcome.error
        return outcome.publish


@pytest.fixture
async def world(mongo):
    db = mongo[f"evaluations_rules_{uuid.uuid4().hex[:8]}"]
    store = EvaluationStore(db)
    await store.ensure_indexes()
    for unit_id, parent in UNITS.items():
        await Service(store).handle(new_event(UnitRegistered(unit_id=unit_id, name=f"Đơn vị {unit_id}", parent_id=parent,
                                                             valid_from=dt.date(2020, 1, 1)), key=unit_id, source="urn:hr"))
    yield store
    await mongo.drop_database(db.name)


def lifecycle(store, registry=None) -> Service:
    return Service(store, registry)


async def register(lc: Service, staff_id: str, unit_id: str, day: str, roles=(Role.EVALUATOR,)) -> tuple[Event, list[Event]]:
    event = new_event(StaffRegistered(staff_id=staff_id, unit_id=unit_id, full_name=f"Cán bộ {staff_id}",
                                      email=f"{staff_id.lower()}@monre.gov.vn", roles=list(roles), fields=[Field.LAND]),
                      key=unit_id, source="urn:hr", time=at(day))
    return event, await lc.handle(event)


async def remove(lc: Service, staff_id: str, unit_id: str, day: str) -> list[Event]:
    return await lc.handle(new_event(StaffRemoved(staff_id=staff_id, unit_id=unit_id), key=unit_id, source="urn:hr",
                                     time=at(day)))


async def accept(lc: Service, nomination_id: str, day: str) -> list[Event]:
    member = StaffMember("NOM-OFFICER", "U-NOM", "Lê Thị Lan", (Role.EMULATION_OFFICER,), ())
    sub = submission(nomination_id, member, 2024, MODELS[0])
    data = NominationAccepted(**sub.model_dump(), accepted_in_year=1, yearly_maximum=2)
    return await lc.handle(new_event(data, key=nomination_id, source="urn:exemplars:nominations", time=at(day)))


def sheet(fraction: float, registry=None) -> dict[str, float]:
    criteria = (registry or load_criteria()).for_(Field.LAND, NomineeKind.COLLECTIVE).criteria
    return {c.id: c.maximum * fraction for c in criteria}


async def score(lc: Service, nomination_id: str, evaluator_id: str, fraction: float, day: str = "2024-03-20") -> list[Event]:
    return await lc.handle(new_event(ScoreSubmitted(nomination_id=nomination_id, evaluator_id=evaluator_id,
                                                             scores=sheet(fraction)),
                                              key=nomination_id, source="urn:portal", time=at(day)))


def only(events: list[Event], type_: str):
    assert [e.type for e in events] == [type_], events
    return events[0].data


def recorded(events: list[Event]) -> bool:
    """The sheet was taken, and nothing else followed from it."""
    return [e.type for e in events] == ["evaluation.score_recorded"]


def completed(events: list[Event]):
    """The sheet was taken and completed the evaluation: the completion."""
    assert [e.type for e in events] == ["evaluation.score_recorded", "evaluation.completed"], events
    return events[1].data


async def test_a_panel_waits_for_evaluators_and_every_seat_is_refilled(world):
    store, lc = world, lifecycle(world)
    await register(lc, "a1", "U-NOM-1", "2024-02-01")  # below the nominee's unit: never on its panel
    await register(lc, "b1", "U-B", "2024-02-01")

    waiting = only(await accept(lc, "N1", "2024-03-01"), "evaluation.panel_incomplete")
    assert (waiting.required, waiting.assigned) == (3, ["b1"])
    assert only((await register(lc, "c1", "U-C", "2024-03-05"))[1], "evaluation.panel_incomplete").assigned == ["b1", "c1"]
    assert (await register(lc, "x1", "U-E", "2024-03-06", roles=(Role.EMULATION_OFFICER,)))[1] == []
    assert (await register(lc, "a2", "U-NOM", "2024-03-06"))[1] == []

    event, output = await register(lc, "d1", "U-D", "2024-03-10")
    assigned = only(output, "evaluation.panel_assigned")
    assert assigned.evaluators == ["b1", "c1", "d1"] and assigned.deadline == dt.date(2024, 3, 31)
    rev = (await store.evaluations.find_one({"_id": "N1"}))["_rev"]
    assert await lc.handle(event) == output  # redelivered: the same answer, nothing changes
    assert (await store.evaluations.find_one({"_id": "N1"}))["_rev"] == rev

    recusal = new_event(ConflictDeclared(nomination_id="N1", evaluator_id="c1", reason="Vợ công tác tại đơn vị"),
                        key="N1", source="urn:portal", time=at("2024-03-12"))
    nobody = only(await lc.handle(recusal), "evaluation.evaluator_replaced")
    assert (nobody.recused_id, nobody.replacement_id, nobody.deadline) == ("c1", None, dt.date(2024, 3, 31))
    doc = await store.evaluation("N1")
    assert doc["status"] == "panel_incomplete" and doc["panel"] == ["b1", "d1"] and len(doc["vacancies"]) == 1
    assert recorded(await score(lc, "N1", "b1", 0.8))  # members go on scoring while a seat is empty

    filled = only((await register(lc, "e1", "U-E", "2024-03-28"))[1], "evaluation.evaluator_replaced")
    assert (filled.recused_id, filled.replacement_id, filled.reason) == ("c1", "e1", "Vợ công tác tại đơn vị")
    assert filled.deadline == dt.date(2024, 4, 4)  # the newcomer gets a week
    assert (await store.evaluation("N1"))["status"] == "open"

    gone = only(await remove(lc, "d1", "U-D", "2024-03-29"), "evaluation.evaluator_replaced")
    assert (gone.recused_id, gone.replacement_id, gone.reason) == ("d1", None, NO_LONGER_ELIGIBLE)
    refill = only((await register(lc, "f1", "U-F", "2024-03-30"))[1], "evaluation.evaluator_replaced")
    assert (refill.recused_id, refill.replacement_id) == ("d1", "f1")

    # Losing the evaluator role counts as leaving: the member's sheet goes with them.
    assert only((await register(lc, "b1", "U-B", "2024-03-30", roles=()))[1],
                "evaluation.evaluator_replaced").recused_id == "b1"
    await register(lc, "g1", "U-C", "2024-03-31")
    doc = await store.evaluation("N1")
    assert doc["panel"] == ["e1", "f1", "g1"] and doc["sheets"] == [] and doc["status"] == "open"
    assert [r["evaluator_id"] for r in doc["recused"]] == ["c1", "d1", "b1"]

    assert recorded(await score(lc, "N1", "e1", 0.9)) and recorded(await score(lc, "N1", "f1", 0.8))
    done = completed(await score(lc, "N1", "g1", 0.7))
    assert done.total == 80.0 and set(done.evaluator_totals) == {"e1", "f1", "g1"}


async def test_load_is_balanced_across_panels(world):
    store, lc = world, lifecycle(world)
    for n, unit in enumerate(["U-B", "U-C", "U-D", "U-E", "U-F", "U-B"]):
        await register(lc, f"s{n}", unit, "2024-02-01")
    panels = [only(await accept(lc, f"L{i}", "2024-03-01"), "evaluation.panel_assigned").evaluators for i in range(4)]
    load = {}
    for panel in panels:
        for member in panel:
            load[member] = load.get(member, 0) + 1
    assert sorted(load.values(), reverse=True)[0] - sorted(load.values())[0] <= 1, load  # 12 seats over 6 people
    assert await store.open_assignments() == load


async def test_a_new_criteria_version_never_changes_a_running_evaluation(world, tmp_path):
    store, lc = world, lifecycle(world)
    for staff_id, unit in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D")):
        await register(lc, staff_id, unit, "2024-02-01")
    only(await accept(lc, "V1", "2024-03-01"), "evaluation.panel_assigned")

    directory = tmp_path / "criteria"
    shutil.copytree(CRITERIA_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    revised = yaml.safe_load((directory / "land.collective.yaml").read_text(encoding="utf-8"))
    revised["version"] = 2
    revised["criteria_overrides"].update(novelty={"weight": 25}, economic_value={"weight": 5},
                                         social_environmental={"weight": 5})
    (directory / "land.collective.yaml").write_text(yaml.safe_dump(revised, allow_unicode=True), encoding="utf-8")
    v2 = load_criteria(directory)
    upgraded = lifecycle(store, v2)

    for member in ("b1", "c1"):
        assert recorded(await upgraded.handle(new_event(ScoreSubmitted(
            nomination_id="V1", evaluator_id=member, scores=sheet(1.0)), key="V1", source="urn:portal")))
    low_novelty = sheet(1.0) | {"novelty": 0}
    done = completed(await upgraded.handle(new_event(ScoreSubmitted(
        nomination_id="V1", evaluator_id="d1", scores=low_novelty), key="V1", source="urn:portal")))
    assert (done.criteria.set_id, done.criteria.version) == ("land.collective", 1)
    assert {c.criterion_id: c.weight for c in done.breakdown}["novelty"] == 15
    assert done.total == 95.0  # novelty at weight 15: 100 - 15/3

    assigned = only(await accept(upgraded, "V2", "2024-03-02"), "evaluation.panel_assigned")
    assert assigned.criteria.version == 2


async def test_a_discussion_ends_on_the_clock_the_day_after_its_last_day(world):
    store, lc = world, lifecycle(world)
    for staff_id, unit in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D")):
        await register(lc, staff_id, unit, "2024-02-01")
    only(await accept(lc, "D1", "2024-03-01"), "evaluation.panel_assigned")
    assert recorded(await score(lc, "D1", "b1", 0.9)) and recorded(await score(lc, "D1", "c1", 0.8))
    _, opening = await score(lc, "D1", "d1", 0.5, day="2024-03-20")
    opened = opening.data
    assert opening.type == "evaluation.discussion_opened" and opened.closes_on == dt.date(2024, 3, 25)

    assert await discussions_ended(store, dt.date(2024, 3, 25)) == []  # its last day: still discussing
    [ended] = await discussions_ended(store, dt.date(2024, 3, 26))
    assert ended.type == "evaluation.discussion_time_up" and ended.data.closes_on == opened.closes_on
    # Until it is handled, every run sends the same input again, which the intake takes once.
    assert [e.id for e in await discussions_ended(store, dt.date(2024, 3, 27))] == [ended.id]

    done = only(await lc.handle(ended), "evaluation.completed")
    assert done.divergent and done.spread == 40 and done.total == 73.33
    assert (done.discussion.closed_by, done.discussion.opened_on) == ("time_box", dt.date(2024, 3, 20))
    assert await discussions_ended(store, dt.date(2024, 3, 27)) == []
    assert (await store.evaluation("D1"))["status"] == "completed"


async def test_reminders_are_decided_once_even_by_two_instances(world):
    store, lc = world, lifecycle(world)
    for staff_id, unit in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D")):
        await register(lc, staff_id, unit, "2024-02-01")
    only(await accept(lc, "R1", "2024-03-01"), "evaluation.panel_assigned")  # deadline 2024-03-31
    await score(lc, "R1", "b1", 0.8)

    async def tick(day: str) -> list[Event]:
        today = dt.date.fromisoformat(day)
        first, second = await asyncio.gather(due_reminders(store, POLICY, today), due_reminders(store, POLICY, today))
        pending = {e.id: e for e in first + second}
        await store.mark_notices_published(list(pending.values()))
        return sorted(pending.values(), key=lambda e: e.data.evaluator_id)

    assert await tick("2024-03-23") == []
    week = await tick("2024-03-24")
    assert [(e.type, e.data.evaluator_id, e.data.days_left) for e in week] == [
        ("evaluation.reminder", "c1", 7), ("evaluation.reminder", "d1", 7)]
    assert await tick("2024-03-25") == []
    await score(lc, "R1", "c1", 0.8, day="2024-03-28")
    assert [(e.data.evaluator_id, e.data.days_left) for e in await tick("2024-03-30")] == [("d1", 1)]
    assert await tick("2024-03-31") == []
    late = await tick("2024-04-02")
    assert [(e.type, e.data.evaluator_id, e.data.days_overdue) for e in late] == [("evaluation.overdue", "d1", 2)]
    assert await tick("2024-04-10") == []
    assert await store.notices.count_documents({}) == 4
