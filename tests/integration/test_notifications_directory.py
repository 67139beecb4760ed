"""Which directory record is current, on the real NotificationStore (SecantusDB) and on the
rebuild's MemoryStore, which must agree: the log's order decides, never the sender's clock."""

import datetime as dt
import uuid

import pytest

from services.notifications.rebuild import MemoryStore
from services.notifications.store import NotificationStore
from shared import topics
from shared.envelope import Event, Received, new_event
from shared.events import StaffRegistered, StaffRemoved, UnitRegistered
from shared.replay import _canonical_value
from shared.vocabulary import Role

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YEAR_9999 = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def staff(staff_id: str, unit_id: str, email: str) -> StaffRegistered:
    return StaffRegistered(staff_id=staff_id, unit_id=unit_id, full_name="Phạm Văn Chấm", email=email,
                           roles=[Role.EVALUATOR])


def at(data, partition: int, offset: int, received: dt.datetime, time: dt.datetime | None = None) -> Event:
    event = new_event(data, key=getattr(data, "unit_id", "k"), source="urn:unit:hr", time=time or received)
    return Event(event.type, event.data, event.key, event.source, event.id, event.subject, event.time,
                 Received(topics.DIRECTORY, partition, offset, received))


@pytest.fixture
async def stores(mongo):
    name = f"notifications_directory_{uuid.uuid4().hex[:8]}"
    live = NotificationStore(mongo[name])
    await live.ensure_indexes()
    yield live, MemoryStore()
    await mongo.drop_database(name)


async def apply(stores, *events: Event) -> None:
    for store in stores:
        for event in events:
            handler = {"staff.registered": store.apply_staff, "staff.removed": store.remove_staff,
                       "unit.registered": store.apply_unit}[event.type]
            await handler(event)


async def staff_doc(stores, staff_id: str) -> dict:
    """The document, after checking that both stores hold the same one."""
    live, memory = stores
    doc = await live.staff.find_one({"_id": staff_id})
    assert _canonical_value(doc) == _canonical_value(memory.docs["staff"].get(staff_id))
    return doc


async def test_a_record_dated_9999_does_not_block_later_true_updates(stores):
    forged = at(staff("S-1", "U-A", "ke-gia-mao@evil.example"), 0, 10, NOW, time=YEAR_9999)
    true = at(staff("S-1", "U-A", "cham.that@monre.gov.vn"), 0, 11, NOW + dt.timedelta(seconds=1))
    await apply(stores, forged, true)
    assert (await staff_doc(stores, "S-1"))["email"] == "cham.that@monre.gov.vn"


async def test_a_redelivered_or_older_record_changes_nothing(stores):
    first = at(staff("S-2", "U-A", "mot@monre.gov.vn"), 0, 3, NOW)
    second = at(staff("S-2", "U-A", "hai@monre.gov.vn"), 0, 4, NOW + dt.timedelta(seconds=1))
    await apply(stores, first, second, first, second)  # redelivered after a rebalance
    doc = await staff_doc(stores, "S-2")
    assert doc["email"] == "hai@monre.gov.vn" and doc["position"]["offset"] == 4
    # An earlier offset with a later sender time (and a later receive time) is still history.
    late = at(staff("S-2", "U-A", "cu@monre.gov.vn"), 0, 2, NOW + dt.timedelta(hours=1), time=YEAR_9999)
    await apply(stores, late)
    assert (await staff_doc(stores, "S-2"))["email"] == "hai@monre.gov.vn"


async def test_a_move_to_another_units_partition_wins_by_receive_time(stores):
    before = at(staff("S-3", "U-A", "s3@monre.gov.vn"), 0, 50, NOW, time=YEAR_9999)
    moved = at(staff("S-3", "U-B", "s3@monre.gov.vn"), 1, 2, NOW + dt.timedelta(seconds=5))
    # The consumers of the two partitions run apart: the move may be applied first.
    await apply(stores, moved, before)
    assert (await staff_doc(stores, "S-3"))["unit_id"] == "U-B"
    removed = at(StaffRemoved(staff_id="S-3", unit_id="U-B"), 1, 3, NOW + dt.timedelta(seconds=6))
    await apply(stores, removed, moved, before)
    doc = await staff_doc(stores, "S-3")
    assert doc["removed"] is True and doc["unit_id"] == "U-B"


async def test_equal_receive_times_are_ordered_by_partition(stores):
    low = at(staff("S-4", "U-A", "thap@monre.gov.vn"), 0, 900, NOW)
    high = at(staff("S-4", "U-B", "cao@monre.gov.vn"), 2, 1, NOW)
    await apply(stores, high, low)
    assert (await staff_doc(stores, "S-4"))["email"] == "cao@monre.gov.vn"


async def test_units_follow_the_same_rule(stores):
    forged = at(UnitRegistered(unit_id="U-9", name="Tên giả", valid_from=dt.date(2020, 1, 1)), 0, 1, NOW,
                time=YEAR_9999)
    renamed = at(UnitRegistered(unit_id="U-9", name="Cục Đo đạc", valid_from=dt.date(2020, 1, 1)), 0, 2, NOW)
    await apply(stores, forged, renamed)
    live, memory = stores
    doc = await live.units.find_one({"_id": "U-9"})
    assert doc["name"] == "Cục Đo đạc" and _canonical_value(doc) == _canonical_value(memory.docs["units"]["U-9"])


async def test_documents_from_before_positions_and_events_without_one(stores):
    live, memory = stores
    legacy = {"_id": "S-5", "unit_id": "U-A", "full_name": "Cũ", "email": "cu@monre.gov.vn", "roles": [],
              "removed": False, "version": YEAR_9999}  # written under the sender's clock
    await live.staff.insert_one(dict(legacy))
    memory.docs["staff"]["S-5"] = dict(legacy)
    await apply(stores, at(staff("S-5", "U-A", "moi@monre.gov.vn"), 0, 1, NOW))
    doc = await staff_doc(stores, "S-5")
    assert doc["email"] == "moi@monre.gov.vn" and "version" not in doc
    # An event that did not come through Kafka (a test, a tool) is taken as the newest.
    local = new_event(staff("S-5", "U-A", "cong-cu@monre.gov.vn"), key="U-A", source="urn:tool")
    await apply(stores, local)
    doc = await staff_doc(stores, "S-5")
    assert doc["email"] == "cong-cu@monre.gov.vn" and "position" not in doc
