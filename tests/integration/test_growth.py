"""No document grows with history: an exemplar followed for years, a nomination whose
withdrawal is refused again and again, a unit its HR system registers every night.

MongoDB refuses any update of a document that would pass 16 MB; a projection that keeps a
list per input in one document stops working for that aggregate once it gets there. The
real handlers take thousands of reports for one aggregate here, and on the real store (the
session's SecantusDB) everything still works, fast, with small documents.
"""

import collections
import contextlib
import datetime as dt
import os
import time
import uuid

import bson
import httpx
import pytest
from pymongo import AsyncMongoClient, monitoring

from deploy.demo_data import MODELS, StaffMember, submission
from deploy.ops.rebuild import write
from services.evaluations.api import HISTORY_SHOWN, create_api
from services.evaluations.handlers import Evaluations
from services.evaluations.store import EvaluationStore
from services.nominations.handlers import Nominations
from services.nominations.store import NominationStore
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import (
    CouncilDecisionRecorded,
    NominationWithdrawn,
    ReplicationReported,
    ReviewReported,
    StaffRegistered,
    UnitRegistered,
    VisitReported,
)
from shared.programme import load_programme
from shared.readers import ReadAccess, TokenFile, add_token
from shared.topics import EVALUATIONS_INTAKE as INTAKE
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import RecognitionLevel, Role, Trend, UnitKind
from tests.integration.test_evaluations_rebuild import (
    COUNCIL,
    CRITERIA,
    POLICY,
    PORTAL,
    SETTINGS,
    UNITS,
    Live,
)

# The size: 5,000 visits and 5,000 replications of one exemplar.
REPORTS = int(os.environ.get("GROWTH_REPORTS", 5_000))
# Past every bound a document keeps (10 answers, 64 markers) many times over.
REPEATS = 300
SMALL = 64 * 1024  # bytes: far from 16 MB, and what any one aggregate's document may reach here


@pytest.fixture
async def database(mongo):
    name = f"growth_{uuid.uuid4().hex[:8]}"
    yield mongo[name]
    await mongo.drop_database(name)


class Returned(monitoring.CommandListener):
    """Documents the server returned, by collection: what a read costs whatever the clock says."""

    def __init__(self) -> None:
        self.documents: collections.Counter[str] = collections.Counter()
        self._asked: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "aggregate"):
            self._asked[event.request_id] = event.command[event.command_name]
        elif event.command_name == "getMore":
            self._asked[event.request_id] = event.command["collection"]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if (name := self._asked.pop(event.request_id, None)) is not None:
            cursor = event.reply.get("cursor", {})
            self.documents[name] += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._asked.pop(event.request_id, None)


async def size(collection, doc_id: str) -> int:
    return len(bson.encode(await collection.find_one({"_id": doc_id})))


async def recognized_exemplar(live: Live) -> str:
    """EX-N1: accepted, scored by its whole panel, recognised by the council."""
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    for staff_id, unit_id in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D")):
        await live.staff(staff_id, unit_id, "2024-02-01")
    await live.accept("N1", "2024-03-01")
    for evaluator in await live.panel("N1"):
        await live.score("N1", evaluator, 0.9, "2024-03-05")
    decision = CouncilDecisionRecorded(nomination_id="N1", recognized=True, level=RecognitionLevel.MINISTRY,
                                       decision_ref="15/QĐ-BNNMT", decided_on=dt.date(2024, 4, 1))
    [recognized] = await live.intake(decision, "N1", "2024-04-01", COUNCIL)
    assert recognized.type == "exemplar.recognized"
    return recognized.data.exemplar_id


def report(data, n: int) -> Event:
    """A report as the consumer decodes it (no Kafka here: `received_at` is its `time`)."""
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    return new_event(data, key=data.exemplar_id, source=PORTAL, time=at)


async def test_an_exemplar_with_thousands_of_visits_and_replications_still_works(database, stack, tmp_path):
    # The exemplar is recognised live; its years of history go through the service's own
    # handlers in the unit of work over memory (the rebuild's `MemoryDocuments`, held equal to
    # MongoDB's by the contract suite), are written as the projection the way `exemplars
    # rebuild` writes one, and the live service carries on from it. On SecantusDB the same
    # 10,000 reports take minutes.
    live = Live(EvaluationStore(database))
    await live.store.ensure_indexes()
    exemplar_id = await recognized_exemplar(live)
    memory = MemoryDocuments()
    for name in await database.list_collection_names():
        memory.collections[name] = {doc["_id"]: doc async for doc in database[name].find()}
        await database.drop_collection(name)
    units = ["U-B", "U-C", "U-D", "U-E"]
    visits = [report(VisitReported(exemplar_id=exemplar_id, visiting_unit_id=units[n % 4],
                                   visited_on=dt.date(2024, 5, 1), participants=1 + n % 30), n) for n in range(REPORTS)]
    replications = [report(ReplicationReported(exemplar_id=exemplar_id, adopting_unit_id=units[n % 4],
                                               applied_on=dt.date(2024, 5, 1), reported_by="c1"), n)
                    for n in range(REPORTS)]

    started = time.perf_counter()
    handlers = Evaluations(CRITERIA, POLICY, SETTINGS.replacement_min_days)
    unit = UnitOfWork(memory, handlers)
    inputs = [e for pair in zip(visits, replications, strict=True) for e in pair]
    answers = {}
    for start in range(0, len(inputs), 1_000):
        for outcome in await unit.run(inputs[start:start + 1_000]):
            assert outcome.error is None
            answers[outcome.event.id] = outcome.publish
    elapsed = time.perf_counter() - started
    print(f"\n{2 * REPORTS} reports through the handlers in {elapsed:.1f} s ({2 * REPORTS / elapsed:.0f}/s)")
    assert all(answers[v.id] == [] for v in visits)
    assert all(answers[r.id][0].type == "exemplar.replicated" for r in replications)
    await write(database, memory.documents())
    await live.store.ensure_indexes()

    # Still answered: a review, one more visit and replication.
    review = report(ReviewReported(exemplar_id=exemplar_id, period="2025-H1", influence=5, trend=Trend.GROWING,
                                   study_visits=12, new_adopting_units=["U-F"], reported_by="NOM-OFFICER"), REPORTS)
    assert [e.type for e in await live._handle(INTAKE, review)] == ["exemplar.review_recorded"]
    assert await live._handle(INTAKE, report(VisitReported(
        exemplar_id=exemplar_id, visiting_unit_id="U-G", visited_on=dt.date(2024, 12, 31)), REPORTS + 1)) == []
    [last] = await live._handle(INTAKE, report(ReplicationReported(
        exemplar_id=exemplar_id, adopting_unit_id="U-G", applied_on=dt.date(2024, 12, 31), reported_by="c1"), REPORTS + 2))
    assert (last.type, last.data.distinct_units, last.data.new_unit) == ("exemplar.replicated", 6, True)

    # Duplicates of reports long past get the answers given then, and change nothing.
    store = live.store
    before = await store.exemplars.find_one({"_id": exemplar_id})
    assert await live._handle(INTAKE, visits[0]) == []
    assert await live._handle(INTAKE, replications[1]) == answers[replications[1].id]
    after = await store.exemplars.find_one({"_id": exemplar_id})
    assert after == before and (after["visits_count"], after["replications_count"]) == (REPORTS + 1, REPORTS + 1)
    assert await database["visits"].count_documents({"exemplar_id": exemplar_id}) == REPORTS + 1
    assert await size(store.exemplars, exemplar_id) < SMALL

    # The page shows the totals and the latest reports, reading no more than it shows of any
    # history however long (counted, not timed: its time is the benchmark's to measure); the
    # rest is paged.
    readers = tmp_path / "readers.yaml"
    token = add_token(readers, "ministry", ["ministry"])
    returned = Returned()
    watched = AsyncMongoClient(stack.config.mongo_uri, event_listeners=[returned], tz_aware=True)
    api = create_api(EvaluationStore(watched[database.name]), CRITERIA, ReadAccess([TokenFile(readers)]),
                     readiness=_ready, lifespan=_no_lifespan)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://evaluations",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            started = time.perf_counter()
            page = (await client.get(f"/exemplars/{exemplar_id}")).raise_for_status().json()
            print(f"the exemplar's page over {REPORTS + 1} visits and replications: {time.perf_counter() - started:.2f} s")
            read = dict(returned.documents)
            rest = (await client.get(f"/exemplars/{exemplar_id}/visits", params={"offset": 100, "limit": 50})).json()
    finally:
        await watched.close()
    assert read["visits"] == read["replications"] == HISTORY_SHOWN and read["exemplars"] == 1, read
    assert page["totals"] == {"reviews": 1, "replications": REPORTS + 1, "visits": REPORTS + 1}
    assert len(page["visits"]) == len(page["replications"]) == HISTORY_SHOWN
    assert page["visits"][-1]["visiting_unit_id"] == "U-G" and page["visits"][-1]["n"] == REPORTS + 1
    assert page["study_visits"] == REPORTS + 1 and page["adopting_units"] == 6
    assert [r["period"] for r in page["reviews"]] == ["2025-H1"]
    assert rest["total"] == REPORTS + 1 and [v["n"] for v in rest["visits"]] == list(range(101, 151))


async def test_a_nomination_refused_again_and_again_keeps_a_small_document(database):
    programme = load_programme(None)
    store = NominationStore(database)
    await store.ensure_indexes()
    unit_of_work = UnitOfWork(store.documents, Nominations(programme))

    async def answers_to(events: list[Event], batch: int = 100) -> list[Event]:
        """Through the unit of work as the consumer runs it, a batch at a time."""
        published = []
        for start in range(0, len(events), batch):
            outcomes = await unit_of_work.run(events[start:start + batch])
            assert not [o.error for o in outcomes if o.error]
            published += [e for o in outcomes for e in o.publish]
        return published

    hr = "urn:hr"
    year = programme.open_years[0]
    unit = UnitRegistered(unit_id="U-GROW", name="Đơn vị tăng trưởng", kind=UnitKind.DEPARTMENT,
                          valid_from=dt.date(2020, 1, 1))
    registrations = [new_event(unit, key="U-GROW", source=hr) for _ in range(REPEATS)]
    await answers_to(registrations)  # an HR system re-sending its whole directory every night
    renamed = unit.model_copy(update={"name": "Đơn vị đã đổi tên"})
    await answers_to([new_event(renamed, key="U-GROW", source=hr)])
    await answers_to([registrations[0]])  # a very late duplicate: no going back
    doc = await store.units.find_one({"_id": "U-GROW"})
    assert [v["name"] for v in doc["history"]] == [unit.name, renamed.name] and doc["name"] == renamed.name
    assert await size(store.units, "U-GROW") < SMALL

    officer = StaffRegistered(staff_id="GROW-OFFICER", unit_id="U-GROW", full_name="Cán bộ thi đua",
                              email="grow@monre.gov.vn", roles=[Role.EMULATION_OFFICER])
    await answers_to([new_event(officer, key="U-GROW", source=hr)])
    member = StaffMember(officer.staff_id, officer.unit_id, officer.full_name, tuple(officer.roles), ())
    sub = submission("N-GROW", member, year, MODELS[0])
    [accepted] = await answers_to([new_event(sub, key="N-GROW", source="urn:unit:U-GROW")])
    assert accepted.type == "nomination.accepted"

    # Withdrawals by someone outside the unit: each one refused, none changing the nomination.
    requests = [new_event(NominationWithdrawn(nomination_id="N-GROW", unit_id="U-GROW", requested_by="NOBODY"),
                          key="N-GROW", source="urn:unit:U-GROW") for _ in range(REPEATS)]
    refusals = {r.id: a for r, a in zip(requests, await answers_to(requests), strict=True)}
    assert {r.type for r in refusals.values()} == {"nomination.withdrawal_rejected"}
    nomination = await store.nomination("N-GROW")
    assert nomination["status"] == "accepted"
    assert await size(store.nominations, "N-GROW") < SMALL
    [again] = await answers_to([requests[0]])  # long after: the stored answer, same id
    assert (again.id, again.data) == (refusals[requests[0].id].id, refusals[requests[0].id].data)
    assert await store.answers.count_documents({}) == 2 * REPEATS + 3


async def _ready() -> dict[str, bool]:
    return {"mongo": True}


@contextlib.asynccontextmanager
async def _no_lifespan(_api):
    yield
