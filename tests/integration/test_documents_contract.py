"""One contract, two implementations: the services' MongoDB documents (on the session's
SecantusDB) and the rebuild's memory must keep the same promise to the unit of work, and
the unit of work must decide the same over either."""

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

from shared.documents import MemoryDocuments, MongoDocuments
from shared.envelope import Event, new_event
from shared.events import StaffRemoved
from shared.unit_of_work import (
    ANSWERS,
    QUERIES,
    REVISION,
    Conflict,
    Create,
    Decision,
    Delete,
    NotLoaded,
    Put,
    UnitOfWork,
    View,
    Where,
    Write,
)


@pytest.fixture(params=["memory", "mongo"])
async def documents(request, mongo):
    if request.param == "memory":
        yield MemoryDocuments()
        return
    name = f"contract_{uuid.uuid4().hex[:8]}"
    yield MongoDocuments(mongo[name])
    await mongo.drop_database(name)


def strip(doc: dict | None) -> dict | None:
    return {k: v for k, v in doc.items() if k != REVISION} if doc else doc


async def one(documents, collection: str, doc_id) -> dict | None:
    return (await documents.load({collection: {doc_id}})).get(collection, {}).get(doc_id)


# ---- the documents ---------------------------------------------------------------------


async def test_a_new_document_starts_at_revision_one_and_each_write_adds_one(documents):
    assert await documents.load({"things": {"a", "b"}}) == {"things": {}}
    await documents.commit([Write("things", "a", None, {"_id": "a", "n": 1})], [])
    assert (await one(documents, "things", "a")) == {"_id": "a", "n": 1, REVISION: 1}
    await documents.commit([Write("things", "a", 1, {"_id": "a", "n": 2})], [])
    assert (await one(documents, "things", "a")) == {"_id": "a", "n": 2, REVISION: 2}
    await documents.commit([Write("things", "a", 2, None)], [])
    assert await one(documents, "things", "a") is None


@pytest.mark.parametrize("stale", [
    Write("things", "a", None, {"_id": "a", "n": 9}),  # created meanwhile by someone else
    Write("things", "a", 5, {"_id": "a", "n": 9}),  # written since we read it
    Write("things", "a", 5, None),  # deleting a version that is gone
    Write("things", "zz", 1, {"_id": "zz"}),  # updating what does not exist
])
async def test_a_stale_write_is_a_conflict_and_nothing_of_the_commit_lands(documents, stale):
    await documents.commit([Write("things", "a", None, {"_id": "a", "n": 1})], [])
    before = await documents.load({"things": {"a", "b", "zz"}})
    with pytest.raises(Conflict):
        await documents.commit([Write("things", "b", None, {"_id": "b"}), stale],
                               [{"_id": "input-1", "output": []}])
    assert await documents.load({"things": {"a", "b", "zz"}}) == before
    assert await documents.answers(["input-1"]) == {}


async def test_answers_are_kept_once_per_input(documents):
    await documents.commit([], [{"_id": "in-1", "output": [{"x": 1}]}, {"_id": "in-2", "output": []}])
    assert {k: v["output"] for k, v in (await documents.answers(["in-1", "in-2", "in-3"])).items()} == {
        "in-1": [{"x": 1}], "in-2": []}
    with pytest.raises(Conflict):  # another instance answered it meanwhile
        await documents.commit([Write("things", "c", None, {"_id": "c"})], [{"_id": "in-1", "output": []}])
    assert await one(documents, "things", "c") is None


@pytest.mark.parametrize(("query", "expected"), [
    (Where("things"), ["a", "b", "c"]),
    (Where("things", "kind", ("x",)), ["a", "c"]),
    (Where("things", "tags", ("red", "blue")), ["a", "b"]),  # a list field: any of them
    (Where("things", "kind", ("nothing",)), []),
    # A dotted field reaches into subdocuments and lists of them, in both stores alike.
    (Where("things", "sheets.by", ("p1",)), ["a"]),
    (Where("things", "owner.id", ("p2", "p3")), ["b"]),
    (Where("things", "sheets.notes.by", ("p4",)), ["a"]),
])
async def test_a_query_is_one_field_holding_one_of_some_values(documents, query, expected):
    await documents.commit([Write("things", "a", None, {"_id": "a", "kind": "x", "tags": ["red"],
                                                        "sheets": [{"by": "p0"}, {"by": "p1", "notes": [{"by": "p4"}]}]}),
                            Write("things", "b", None, {"_id": "b", "kind": "y", "tags": ["green", "blue"],
                                                        "owner": {"id": "p2"}}),
                            Write("things", "c", None, {"_id": "c", "kind": "x", "tags": []})], [])
    [(asked, found)] = (await documents.query([query])).items()
    assert asked == query and sorted(d["_id"] for d in found) == expected
    assert all(d[REVISION] == 1 for d in found)


# ---- the unit of work over them --------------------------------------------------------


SOURCE = "urn:test"


@dataclass
class Counter:
    """A tiny service: each StaffRemoved counts per unit and answers with nothing; a staff id
    starting with "boom" is a handler bug; one starting with "far-" reads a document its
    `needs` did not name."""

    def routes(self):
        return {"directory": {"staff.removed": self.removed}}

    def needs(self, event: Event):
        if event.data.staff_id.startswith("needless"):
            raise KeyError("a bug in needs()")
        return {"counts": [event.data.unit_id]}

    def decide(self, view: View, event: Event) -> Decision:
        return self.removed(view, event)

    def removed(self, view: View, event: Event) -> Decision:
        data: StaffRemoved = event.data
        if data.staff_id.startswith("boom"):
            raise ValueError("a bug")
        count = view.get("counts", data.unit_id) or {"_id": data.unit_id, "n": 0, "seen": []}
        changes = [Put("counts", {**count, "n": count["n"] + 1, "seen": [*count["seen"], data.staff_id]})]
        if data.staff_id.startswith("far-"):
            other = view.get("counts", "far")  # not in `needs`: loaded late
            changes.append(Put("counts", {"_id": "far", "n": (other or {"n": 0})["n"] + 1, "seen": []}))
        if data.staff_id.startswith("gone-"):
            changes.append(Delete("counts", data.unit_id))
        return Decision.of(*changes, publish=[new_event(data, key=data.unit_id, source=SOURCE, derived_from=event)])


@dataclass
class Census:
    """Counts, per event, the units whose count is at least one, through a query: later events
    of a batch see the documents earlier ones created."""

    def routes(self):
        return {"directory": {"staff.removed": self.decide}}

    def needs(self, event: Event):
        return {"counts": [event.data.unit_id], QUERIES: [Where("counts", "open", (True,))]}

    def decide(self, view: View, event: Event) -> Decision:
        data: StaffRemoved = event.data
        count = view.get("counts", data.unit_id) or {"_id": data.unit_id, "n": 0, "open": True}
        open_units = [d["_id"] for d in view.where(Where("counts", "open", (True,)))]
        closing = data.staff_id.startswith("close-")
        return Decision.of(Put("counts", {**count, "n": count["n"] + 1, "open": not closing, "saw": open_units}))


def removal(staff_id: str, unit_id: str = "U1") -> Event:
    return new_event(StaffRemoved(staff_id=staff_id, unit_id=unit_id), key=unit_id, source="urn:hr")


async def test_a_batch_sees_its_own_changes_and_commits_once(documents):
    unit = UnitOfWork(documents, Counter())
    outcomes = await unit.run([removal("s1"), removal("s2"), removal("s3", "U2"), removal("far-1")])
    assert [o.error for o in outcomes] == [None] * 4
    assert strip(await one(documents, "counts", "U1")) == {"_id": "U1", "n": 3, "seen": ["s1", "s2", "far-1"]}
    assert (await one(documents, "counts", "U1"))[REVISION] == 1  # one write for three changes
    assert strip(await one(documents, "counts", "far")) == {"_id": "far", "n": 1, "seen": []}
    assert len(await documents.answers([o.event.dedup_key for o in outcomes])) == 4


async def test_an_input_answered_before_is_answered_the_same_and_changes_nothing(documents):
    unit = UnitOfWork(documents, Counter())
    first = removal("s1")
    [done] = await unit.run([first])
    again = await unit.run([first, removal("s2"), first])
    assert [o.repeated for o in again] == [True, False, True]
    assert [e.id for e in again[0].publish] == [e.id for e in done.publish] == [e.id for e in again[2].publish]
    assert (await one(documents, "counts", "U1"))["n"] == 2


async def test_a_handler_error_is_that_input_s_fate_alone(documents):
    unit = UnitOfWork(documents, Counter())
    outcomes = await unit.run([removal("s1"), removal("boom"), removal("s2")])
    assert isinstance(outcomes[1].error, ValueError) and outcomes[0].error is outcomes[2].error is None
    assert (await one(documents, "counts", "U1"))["n"] == 2
    assert await documents.answers([outcomes[1].event.dedup_key]) == {}  # a replayed dead letter decides again


async def test_a_bug_in_needs_costs_a_late_read_not_the_batch(documents):
    unit = UnitOfWork(documents, Counter())
    outcomes = await unit.run([removal("s1"), removal("needless-1", "U7"), removal("s2")])
    assert [o.error for o in outcomes] == [None] * 3
    assert (await one(documents, "counts", "U7"))["n"] == 1


async def test_created_and_deleted_in_one_batch_writes_nothing(documents):
    unit = UnitOfWork(documents, Counter())
    await unit.run([removal("s1", "U9"), removal("gone-1", "U9")])
    assert await one(documents, "counts", "U9") is None


async def test_the_pin_hook_replaces_what_is_published_and_stored(documents):
    def pin(event: Event) -> Event:  # the rebuild's: the copy the log holds, here an older time
        return dataclasses.replace(event, time=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    unit = UnitOfWork(documents, Counter(), pin=pin)
    [outcome] = await unit.run([removal("s1")])
    assert outcome.publish[0].time.year == 2020
    stored = await documents.answers([outcome.event.dedup_key])
    assert stored[outcome.event.dedup_key]["output"][0]["time"].year == 2020


async def test_a_handler_reading_beyond_the_view_is_told_so():
    view = View()
    with pytest.raises(NotLoaded):
        view.get("counts", "nobody-asked")


def _names(docs: list[dict]) -> list[str]:
    _names.calls += 1
    return sorted(d["name"] for d in docs)


_names.calls = 0


async def test_what_is_derived_from_a_query_is_derived_again_only_after_its_collection_changed():
    view = View()
    everyone = Where("units")
    view.add_query(everyone, [{"_id": "U1", "name": "Alpha"}, {"_id": "U2", "name": "Beta"}])
    calls = _names.calls
    assert view.derived(everyone, _names) == ["Alpha", "Beta"]
    assert view.derived(everyone, _names) == ["Alpha", "Beta"] and _names.calls == calls + 1
    view.apply([Put("units", {"_id": "U3", "name": "Gamma"})])  # the batch's own change is seen
    assert view.derived(everyone, _names) == ["Alpha", "Beta", "Gamma"] and _names.calls == calls + 2
    view.add({"other": {"x"}}, {"other": {"x": {"_id": "x"}}})
    view.apply([Put("other", {"_id": "x", "n": 1})])  # another collection's change recomputes nothing
    assert view.derived(everyone, _names) == ["Alpha", "Beta", "Gamma"] and _names.calls == calls + 2


async def test_two_instances_on_one_database_conflict_and_the_second_decides_again(mongo):
    name = f"contract_{uuid.uuid4().hex[:8]}"
    try:
        a = UnitOfWork(MongoDocuments(mongo[name]), Counter())
        b = UnitOfWork(MongoDocuments(mongo[name]), Counter())
        await a.run([removal("s0")])

        class Interleaved(MongoDocuments):
            """b reads, then a commits, then b commits: b's read is stale."""

            async def commit(self, writes, answers):
                await a.run([removal("s-a")])
                await super().commit(writes, answers)

        b.documents = Interleaved(mongo[name])
        with pytest.raises(Conflict):
            await b.run([removal("s-b")])
        b.documents = MongoDocuments(mongo[name])
        await b.run([removal("s-b")])
        doc = await mongo[name]["counts"].find_one({"_id": "U1"})
        assert doc["n"] == 3 and doc["seen"] == ["s0", "s-a", "s-b"]
        assert await mongo[name][ANSWERS].count_documents({}) == 3
    finally:
        await mongo.drop_database(name)


async def test_queries_see_the_batch_s_own_changes(documents):
    unit = UnitOfWork(documents, Census())
    await unit.run([removal("s1", "U1")])
    await unit.run([removal("s2", "U2"), removal("close-3", "U1"), removal("s4", "U3")])
    saw = {d["_id"]: d["saw"] for d in (await documents.query([Where("counts")]))[Where("counts")]}
    assert saw == {"U1": ["U1", "U2"], "U2": ["U1"], "U3": ["U2"]}
    assert unit.loads <= 2 + 3  # per batch: one query and one read by id, and nothing late


@dataclass
class Registry:
    """Reads the whole `counts` collection: a unit it does not hold is known to be new,
    without a read by id."""

    def routes(self):
        return {"directory": {"staff.removed": self.decide}}

    def needs(self, event: Event):
        return {QUERIES: [Where("counts")]}

    def decide(self, view: View, event: Event) -> Decision:
        count = view.get("counts", event.data.unit_id) or {"_id": event.data.unit_id, "n": 0}
        return Decision.of(Put("counts", {**count, "n": count["n"] + 1}))


async def test_a_collection_read_whole_answers_for_the_ids_it_did_not_hold(documents):
    unit = UnitOfWork(documents, Registry())
    await unit.run([removal("s1", "U1")])
    loads = unit.loads
    await unit.run([removal("s2", "U1"), removal("s3", "U2"), removal("s4", "U2")])
    assert unit.loads - loads == 1  # the one query; U2, new, needed no read of its own
    counts = {d["_id"]: d["n"] for d in (await documents.query([Where("counts")]))[Where("counts")]}
    assert counts == {"U1": 2, "U2": 2}


@dataclass
class Roll:
    """Names nothing in `needs`, then reads a dozen counts and a query it can only name once it
    has the event: asked together, they cost one late load, whatever their number."""

    def routes(self):
        return {"directory": {"staff.removed": self.decide}}

    def needs(self, event: Event):
        return {}

    def decide(self, view: View, event: Event) -> Decision:
        ids = [f"U{n}" for n in range(12)]
        closed = Where("counts", "open", (False,))
        view.need({"counts": [*ids, "roll"], QUERIES: [closed]})
        total = sum((view.get("counts", i) or {"n": 0})["n"] for i in ids)
        return Decision.of(Put("counts", {"_id": "roll", "n": total, "closed": len(view.where(closed))}))


async def test_what_a_handler_needs_late_is_loaded_in_one_go(documents):
    await documents.commit([Write("counts", f"U{n}", None, {"_id": f"U{n}", "n": n, "open": n % 2 == 0})
                            for n in range(12)], [])
    unit = UnitOfWork(documents, Roll())
    [outcome] = await unit.run([removal("s1")])
    assert outcome.error is None
    assert strip(await one(documents, "counts", "roll")) == {"_id": "roll", "n": 66, "closed": 6}
    assert unit.loads == 2  # one late load: the query, and thirteen documents by id


@dataclass
class Ledger:
    """Creates one entry per input, under an id derived from it, without reading it first;
    per unit, a query on the entries' `unit` field (each input naming its own unit)."""

    def routes(self):
        return {"directory": {"staff.removed": self.decide}}

    def needs(self, event: Event):
        return {QUERIES: [Where("entries", "unit", (event.data.unit_id,))]}

    def decide(self, view: View, event: Event) -> Decision:
        data: StaffRemoved = event.data
        before = [d["_id"] for d in view.where(Where("entries", "unit", (data.unit_id,)))]
        entry_id = "twin" if data.staff_id.startswith("twin") else f"entry-{data.staff_id}"
        return Decision.of(Create("entries", {"_id": entry_id, "unit": data.unit_id, "before": before}))


async def test_created_documents_need_no_read_and_queries_on_one_field_are_asked_once(documents):
    unit = UnitOfWork(documents, Ledger())
    outcomes = await unit.run([removal("s1", "U1"), removal("s2", "U2"), removal("s3", "U1")])
    assert [o.error for o in outcomes] == [None] * 3
    assert unit.loads == 1  # three queries on `unit`, asked as one; nothing read by id
    entries = {d["_id"]: strip(d) for d in (await documents.query([Where("entries")]))[Where("entries")]}
    assert entries["entry-s3"]["before"] == ["entry-s1"]  # the batch's own creation, U1's only
    assert entries["entry-s2"]["before"] == [] and entries["entry-s1"]["unit"] == "U1"


async def test_creating_what_exists_is_that_input_s_error_or_a_conflict(documents):
    unit = UnitOfWork(documents, Ledger())
    first, second = await unit.run([removal("twin-1", "U1"), removal("twin-2", "U1")])
    assert first.error is None and isinstance(second.error, ValueError)  # seen in the view: a bug of its own
    with pytest.raises(Conflict):  # not in the view (another unit's query): the commit refuses it
        await unit.run([removal("twin-3", "U2")])
    assert strip(await one(documents, "entries", "twin")) == {"_id": "twin", "unit": "U1", "before": []}
