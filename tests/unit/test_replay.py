"""The pure parts of a rebuild: the order inputs are applied in, pinned answers, comparison."""

import datetime as dt

from shared.envelope import derived_id, new_event
from shared.events import StaffRemoved
from shared.replay import Answers, Comparison, Logged, apply, compare, processing_order

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


def logged(topic: str, partition: int, offset: int, seconds: float) -> Logged:
    event = new_event(StaffRemoved(staff_id=f"S{offset}", unit_id="QLDD"), key="QLDD", source="urn:test")
    return Logged(topic, partition, offset, T0 + dt.timedelta(seconds=seconds), event)


def test_partitions_keep_their_order_and_are_merged_by_arrival():
    a0, a1 = logged("a", 0, 0, 5), logged("a", 0, 1, 1)  # a clock step back inside one partition
    b0, b1 = logged("b", 0, 0, 2), logged("b", 0, 1, 6)
    order = processing_order([b1, a1, b0, a0])
    assert order.index(a0) < order.index(a1), "a partition is never reordered"
    assert order.index(b0) < order.index(b1)
    assert order[0] == b0, "the earliest head goes first"


async def test_apply_routes_by_topic_and_type_and_skips_the_rest():
    seen = []

    async def before(record: Logged) -> None:
        seen.append(record.offset)

    async def handle(event) -> None:
        seen.append(event.data.staff_id)

    records = [logged("a", 0, n, n) for n in range(3)] + [logged("b", 0, 9, 1)]
    assert await apply(records, {"a": {"staff.removed": handle}}, before=before) == 3
    assert seen == [0, "S0", 1, "S1", 2, "S2"]


def test_a_pinned_answer_is_the_logged_copy_and_an_unknown_one_is_divergent():
    source = new_event(StaffRemoved(staff_id="S1", unit_id="QLDD"), key="QLDD", source="urn:test")
    logged_answer = new_event(StaffRemoved(staff_id="S1", unit_id="QLDD"), key="QLDD", source="urn:svc",
                              derived_from=source, time=T0)
    answers = Answers.of([logged_answer])
    again = new_event(StaffRemoved(staff_id="S1", unit_id="QLDD"), key="QLDD", source="urn:svc", derived_from=source)
    assert again.id == logged_answer.id == derived_id(source.dedup_key, "staff.removed")
    assert answers.pin(again) is logged_answer, "the published time and content, not the replay's"
    other = new_event(StaffRemoved(staff_id="S2", unit_id="QLDD"), key="QLDD", source="urn:svc", derived_from=again)
    assert answers.pin(other) is other
    assert answers.divergent == [other]


def test_compare_reports_what_differs_beyond_the_rules():
    live = {"docs": [{"_id": 1, "n": 1, "at": T0, "tags": ["x", "y"]}, {"_id": 2, "n": 2}, {"_id": 3}]}
    rebuilt = {"docs": [{"_id": 1, "n": 1, "at": T0 + dt.timedelta(hours=1), "tags": ["y", "x"]},
                        {"_id": 2, "n": 5}, {"_id": 4}]}
    rules = {"docs": Comparison(ignore=frozenset({"at"}), unordered=frozenset({"tags"}))}
    [diff] = compare(live, rebuilt, rules)
    assert (diff.missing, diff.extra, diff.changed) == ([3], [4], [(2, "n")])
    assert compare(live, rebuilt, {"docs": Comparison()})[0].changed == [(1, "at"), (2, "n")]


def test_compare_with_an_identity_ignores_arbitrary_ids_and_datetimes_compare_at_milliseconds():
    live = {"places": [{"_id": "U:2025:1", "unit_id": "U", "nomination_id": "A", "at": T0}]}
    rebuilt = {"places": [{"_id": "U:2025:2", "unit_id": "U", "nomination_id": "A",
                           "at": T0.replace(microsecond=999).astimezone(dt.timezone(dt.timedelta(hours=7)))}]}
    rules = {"places": Comparison(identity=lambda d: (d["unit_id"], d["nomination_id"]))}
    assert compare(live, rebuilt, rules) == []
