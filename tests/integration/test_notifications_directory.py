"""Which directory record is current, decided by the notifications service's handlers in one
unit of work over the real documents (SecantusDB) and over the rebuild's memory, which must
agree: the log's order decides, never the sender's clock.

Every scenario runs twice: one `run` per event (each its own batch, as records arriving one
by one), and all its events in one `run` (one batch, later events seeing earlier ones'
changes). A redelivered input (same source and id) is answered from its stored answer and
decides nothing; so "the same record again" is a distinct event at the same position, which
only the position guard (`directory.later`) keeps from writing.
"""

import datetime as dt
import uuid

import pytest

from services.notifications.handlers import Notifications
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from shared import topics
from shared.documents import MemoryDocuments, MongoDocuments
from shared.envelope import Event, Received, new_event
from shared.events import StaffRegistered, StaffRemoved, UnitRegistered
from shared.replay import _canonical_value
from shared.unit_of_work import REVISION, UnitOfWork
from shared.vocabulary import Role

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YEAR_9999 = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def staff(staff_id: str, unit_id: str, email: str) -> StaffRegistered:
    return StaffRegistered(staff_id=staff_id, unit_id=unit_id, full_name="Phạm Văn Chấm", email=email,
                           roles=[Role.EVALUATOR])


def at(data, partition: int, offset: int, received: dt.datetime, time: dt.datetime | None = None) -> Event:
    """A new event (its own id) as read from the directory topic at (partition, offset)."""
    event = new_event(data, key=getattr(data, "unit_id", "k"), source="urn:hr", time=time or received)
    return Event(event.type, event.data, event.key, event.source, event.id, event.subject, event.time,
                 Received(topics.DIRECTORY, partition, offset, received))


class Stores:
    """The same handlers over both kinds of documents; `batched`: a scenario's events go in one `run`."""

    def __init__(self, db, batched: bool) -> None:
        self.db = db
        self.memory = MemoryDocuments()
        self.batched = batched
        self.units = [UnitOfWork(documents, Notifications(NotificationsSettings(), default_routes()))
                      for documents in (MongoDocuments(db), self.memory)]

    async def apply(self, *events: Event) -> None:
        for unit in self.units:
            if self.batched:
                outcomes = await unit.run(list(events))
            else:
                outcomes = [outcome for event in events for outcome in await unit.run([event])]
            assert [o.event for o in outcomes] == list(events)
            assert all(o.error is None and o.publish == [] for o in outcomes), [o.error for o in outcomes]

    async def doc(self, collection: str, doc_id: str) -> dict | None:
        """The document (revision left out), after checking that both stores hold the same one."""
        live = await self.db[collection].find_one({"_id": doc_id})
        memory = self.memory.collections.get(collection, {}).get(doc_id)
        live, memory = (None if d is None else _canonical_value({k: v for k, v in d.items() if k != REVISION})
                        for d in (live, memory))
        assert live == memory
        return live

    async def staff(self, staff_id: str) -> dict:
        doc = await self.doc("staff", staff_id)
        assert doc is not None
        return doc

    async def legacy(self, collection: str, doc: dict) -> None:
        """A document written before this code (no revision), in both stores."""
        await self.db[collection].insert_one(dict(doc))
        self.memory.put(collection, doc)


@pytest.fixture(params=[False, True], ids=["one-run-per-event", "one-run-per-scenario"])
async def stores(request, mongo):
    name = f"notifications_directory_{uuid.uuid4().hex[:8]}"
    yield Stores(mongo[name], batched=request.param)
    await mongo.drop_database(name)


async def test_a_record_dated_9999_does_not_block_later_true_updates(stores):
    forged = at(staff("S-1", "U-A", "ke-gia-mao@evil.example"), 0, 10, NOW, time=YEAR_9999)
    true = at(staff("S-1", "U-A", "cham.that@monre.gov.vn"), 0, 11, NOW + dt.timedelta(seconds=1))
    await stores.apply(forged, true)
    assert (await stores.staff("S-1"))["email"] == "cham.that@monre.gov.vn"


async def test_a_redelivered_or_older_record_changes_nothing(stores):
    def first():
        return at(staff("S-2", "U-A", "mot@monre.gov.vn"), 0, 3, NOW)

    def second():
        return at(staff("S-2", "U-A", "hai@monre.gov.vn"), 0, 4, NOW + dt.timedelta(seconds=1))

    # Redelivered after a rebalance: records at the same positions again, as distinct events
    # (the same event would be answered from its stored answer before any handler ran).
    await stores.apply(first(), second(), first(), second())
    doc = await stores.staff("S-2")
    assert doc["email"] == "hai@monre.gov.vn" and doc["position"]["offset"] == 4
    # An earlier offset with a later sender time (and a later receive time) is still history.
    late = at(staff("S-2", "U-A", "cu@monre.gov.vn"), 0, 2, NOW + dt.timedelta(hours=1), time=YEAR_9999)
    await stores.apply(late)
    doc = await stores.staff("S-2")
    assert doc["email"] == "hai@monre.gov.vn" and doc["position"]["offset"] == 4


async def test_the_same_input_again_is_answered_and_decides_nothing(stores):
    first = at(staff("S-6", "U-A", "mot@monre.gov.vn"), 0, 3, NOW)
    second = at(staff("S-6", "U-A", "hai@monre.gov.vn"), 0, 4, NOW + dt.timedelta(seconds=1))
    await stores.apply(first, second)
    # The very same inputs redelivered: their answers are stored, nothing is decided again.
    for unit in stores.units:
        outcomes = await unit.run([first, second])
        assert [o.repeated for o in outcomes] == [True, True]
    doc = await stores.staff("S-6")
    assert doc["email"] == "hai@monre.gov.vn" and doc["position"]["offset"] == 4


async def test_a_move_to_another_units_partition_wins_by_receive_time(stores):
    def before():
        return at(staff("S-3", "U-A", "s3@monre.gov.vn"), 0, 50, NOW, time=YEAR_9999)

    def moved():
        return at(staff("S-3", "U-B", "s3@monre.gov.vn"), 1, 2, NOW + dt.timedelta(seconds=5))

    # The consumers of the two partitions run apart: the move may be applied first.
    await stores.apply(moved(), before())
    assert (await stores.staff("S-3"))["unit_id"] == "U-B"
    removed = at(StaffRemoved(staff_id="S-3", unit_id="U-B"), 1, 3, NOW + dt.timedelta(seconds=6))
    await stores.apply(removed, moved(), before())
    doc = await stores.staff("S-3")
    assert doc["removed"] is True and doc["unit_id"] == "U-B"
    assert doc["position"] == {"partition": 1, "offset": 3, "at": NOW + dt.timedelta(seconds=6)}


async def test_equal_receive_times_are_ordered_by_partition(stores):
    low = at(staff("S-4", "U-A", "thap@monre.gov.vn"), 0, 900, NOW)
    high = at(staff("S-4", "U-B", "cao@monre.gov.vn"), 2, 1, NOW)
    await stores.apply(high, low)
    assert (await stores.staff("S-4"))["email"] == "cao@monre.gov.vn"


async def test_units_follow_the_same_rule(stores):
    forged = at(UnitRegistered(unit_id="U-9", name="Tên giả", valid_from=dt.date(2020, 1, 1)), 0, 1, NOW,
                time=YEAR_9999)
    renamed = at(UnitRegistered(unit_id="U-9", name="Cục Đo đạc", valid_from=dt.date(2020, 1, 1)), 0, 2, NOW)
    await stores.apply(forged, renamed)
    doc = await stores.doc("units", "U-9")
    assert doc["name"] == "Cục Đo đạc" and doc["position"]["offset"] == 2
    # And an earlier record of the unit, sent again with a later clock, is history.
    await stores.apply(at(UnitRegistered(unit_id="U-9", name="Tên giả", valid_from=dt.date(2020, 1, 1)), 0, 1,
                          NOW + dt.timedelta(minutes=1), time=YEAR_9999))
    assert (await stores.doc("units", "U-9"))["name"] == "Cục Đo đạc"


async def test_documents_from_before_positions_and_events_without_one(stores):
    legacy = {"_id": "S-5", "unit_id": "U-A", "full_name": "Cũ", "email": "cu@monre.gov.vn", "roles": [],
              "removed": False, "version": YEAR_9999}  # written under the sender's clock
    await stores.legacy("staff", legacy)
    await stores.apply(at(staff("S-5", "U-A", "moi@monre.gov.vn"), 0, 1, NOW))
    doc = await stores.staff("S-5")
    assert doc["email"] == "moi@monre.gov.vn" and "version" not in doc
    # An event that did not come through Kafka (a test, a tool) is taken as the newest.
    local = new_event(staff("S-5", "U-A", "cong-cu@monre.gov.vn"), key="U-A", source="urn:tool")
    await stores.apply(local)
    doc = await stores.staff("S-5")
    assert doc["email"] == "cong-cu@monre.gov.vn" and "position" not in doc


async def test_a_whole_history_in_one_batch(stores):
    """Several records of several documents in one `run`, out of their partitions' order
    across partitions: each later one sees what the earlier ones of the batch wrote."""
    events = [
        at(UnitRegistered(unit_id="U-7", name="Cũ", valid_from=dt.date(2020, 1, 1)), 0, 5, NOW),
        at(staff("S-7", "U-B", "moi@monre.gov.vn"), 1, 8, NOW + dt.timedelta(seconds=3)),
        at(staff("S-7", "U-A", "cu@monre.gov.vn"), 0, 6, NOW + dt.timedelta(seconds=1), time=YEAR_9999),
        at(UnitRegistered(unit_id="U-7", name="Vụ Tổ chức", valid_from=dt.date(2020, 1, 1)), 0, 7, NOW),
        at(staff("S-8", "U-A", "s8@monre.gov.vn"), 0, 9, NOW + dt.timedelta(seconds=2)),
        at(StaffRemoved(staff_id="S-8", unit_id="U-A"), 0, 10, NOW + dt.timedelta(seconds=2)),
        at(staff("S-8", "U-A", "s8-cu@monre.gov.vn"), 0, 4, NOW + dt.timedelta(seconds=9), time=YEAR_9999),
    ]
    await stores.apply(*events)
    assert (await stores.doc("units", "U-7"))["name"] == "Vụ Tổ chức"
    s7 = await stores.staff("S-7")
    assert (s7["unit_id"], s7["email"], s7["position"]["partition"]) == ("U-B", "moi@monre.gov.vn", 1)
    s8 = await stores.staff("S-8")
    assert (s8["email"], s8["removed"], s8["position"]["offset"]) == ("s8@monre.gov.vn", True, 10)
    assert await stores.doc("staff", "S-9") is None
