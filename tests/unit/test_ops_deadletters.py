"""Dead letters as the operator tools read them: parsing, selection, replay plans, output."""

import datetime as dt
import json

import pytest
from aiokafka.structs import ConsumerRecord

from deploy.demo_data import MODELS, StaffMember, submission
from deploy.ops import deadletters as dl
from deploy.ops import replay as rp
from shared import envelope, kafka, topics
from shared.envelope import new_event

SUB = submission("NOM-9", StaffMember("QLDD-02", "QLDD", "Lê Văn Hùng", (), ()), 2024, MODELS[0])
T0 = 1_740_000_000_000  # ms


def source_record(value: bytes, headers: list[tuple[str, bytes]], key: bytes | None = b"NOM-9", offset: int = 41,
                  topic: str = topics.NOMINATIONS_INTAKE, partition: int = 3) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, T0, 0, key, value, None, 0, len(value or b""), tuple(headers))


def dead_letter(record: ConsumerRecord, reason: str, error: str, offset: int = 0) -> ConsumerRecord:
    """What the services write, built by the services' own code."""
    out = kafka._dead_letter(record, "nominations", reason, error)  # noqa: SLF001 - the contract under test
    headers = tuple((name, value.encode()) for name, value in out.headers.items())
    return ConsumerRecord(out.topic, 0, offset, T0 + 1000 * offset, 0, out.key, out.value, None, 0, 0, headers)


def binary_event(**header_changes) -> tuple[bytes, list[tuple[str, bytes]]]:
    _, value, headers = envelope.encode(new_event(SUB, key="NOM-9", source="urn:unit:QLDD"))
    headers.update(header_changes)
    return value, [(k, v.encode()) for k, v in headers.items()]


def test_a_dead_letter_keeps_the_original_bytes_and_headers_exactly():
    _, headers = binary_event()
    headers.append(("x-trace", b"\xff\x00\x01"))  # not UTF-8: only x-dlq-original-headers keeps it
    letter = dl.from_record(dead_letter(source_record(b"\xff\xfe not json", headers), "undecodable", "boom"))
    assert letter.value == b"\xff\xfe not json" and letter.key == b"NOM-9"
    assert letter.original_headers == headers
    assert (letter.reason, letter.error, letter.service) == ("undecodable", "boom", "nominations")
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (topics.NOMINATIONS_INTAKE, 3, 41)
    assert letter.event.type == "nomination.submitted" and letter.event.source == "urn:unit:QLDD"
    assert letter.event.mode == "binary" and letter.ref == f"{topics.dlq(topics.NOMINATIONS_INTAKE)}/0/0"


def test_event_names_come_from_structured_bodies_and_unknown_types_are_marked():
    _, value, headers = envelope.encode_structured(new_event(SUB, key="NOM-9", source="urn:unit:QLDD", id_parts=("x",)))
    info = dl.describe_event(value, [(k, v.encode()) for k, v in headers.items()])
    assert (info.type, info.mode, info.source) == ("nomination.submitted", "structured", "urn:unit:QLDD") and info.id
    _, odd = binary_event(ce_type="vn.gov.monre.exemplars.nomination.teleported.v1")
    assert dl.describe_event(b"{}", odd).type == "nomination.teleported.v1?"
    assert dl.describe_event(b"\x00", [("content-type", b"application/cloudevents+json")]).type is None
    assert dl.describe_event(b"x", []) == dl.EventInfo()


def test_missing_or_broken_original_headers_are_named_not_guessed():
    assert dl.original_headers(None) == (None, "no x-dlq-original-headers header")
    headers, problem = dl.original_headers("[[\"ce_id\", \"not base64!\"]]")
    assert headers is None and "unreadable" in problem
    assert dl.original_headers(json.dumps([["a", ""]])) == ([("a", b"")], None)


def letters() -> list[dl.DeadLetter]:
    value, headers = binary_event()
    wrong = source_record(value, headers, offset=50)
    return [dl.from_record(dead_letter(source_record(b"x", headers, offset=40), "undecodable", "bad", offset=0)),
            dl.from_record(dead_letter(wrong, "unexpected_type", "not here", offset=1)),
            dl.from_record(dead_letter(source_record(value, headers, key=b"NOM-7", offset=60), "handler_error",
                                       "RuntimeError()", offset=2))]


def test_selection_by_reason_offsets_key_and_time():
    all_ = letters()
    assert [x.offset for x in dl.select(all_, reasons=["unexpected_type", "handler_error"])] == [1, 2]
    assert [x.offset for x in dl.select(all_, offsets={(0, 0), (0, 2), (1, 1)})] == [0, 2]
    assert [x.offset for x in dl.select(all_, key="NOM-7")] == [2]
    since = dt.datetime.fromtimestamp((T0 + 1500) / 1000, dt.UTC)
    assert [x.offset for x in dl.select(all_, since=since)] == [2]
    assert [x.offset for x in dl.select(all_, reasons=["undecodable"], key="NOM-7")] == []
    assert dl.select(all_) == all_


def test_topic_names_accept_the_source_or_the_dead_letter_topic():
    assert dl.as_dead_letter_topic(topics.DIRECTORY) == dl.as_dead_letter_topic(topics.dlq(topics.DIRECTORY))
    assert dl.source_of(topics.dlq(topics.DIRECTORY)) == topics.DIRECTORY
    assert len(dl.dead_letter_topics()) == len(topics.TOPICS)


def replay_of(letter: dl.DeadLetter, topic: str, offset: int, forced: bool = False) -> rp.Replay:
    return rp.Replay(letter.ref, topic, 3, offset, "2025-01-01T00:00:00Z", "ops@host", forced)


def test_a_replay_goes_back_to_the_partition_it_came_from_once():
    a, b, c = letters()
    partitions = {topics.NOMINATIONS_INTAKE: 6, topics.DIRECTORY: 6}
    steps = rp.plan([a, b, c], {b.ref: [replay_of(b, topics.NOMINATIONS_INTAKE, 70)]}, partitions)
    assert [(s.topic, s.partition) for s in steps] == [(topics.NOMINATIONS_INTAKE, 3)] * 3
    assert steps[0].refused is None and steps[2].refused is None
    assert "replayed before" in steps[1].refused and "--force" in steps[1].refused
    forced = rp.plan([b], {b.ref: [replay_of(b, topics.NOMINATIONS_INTAKE, 70)]}, partitions, force=True)
    assert forced[0].refused is None and len(forced[0].earlier) == 1
    # Another topic: its partitioner decides by key, as for any record sent there.
    [moved] = rp.plan([b], {}, partitions, to_topic=topics.DIRECTORY)
    assert (moved.topic, moved.partition, moved.refused) == (topics.DIRECTORY, None, None)
    # Fewer partitions than the record's: the key decides.
    assert rp.plan([a], {}, {topics.NOMINATIONS_INTAKE: 2})[0].partition is None


def test_replays_that_cannot_be_exact_or_have_nowhere_to_go_are_refused():
    a, *_ = letters()
    broken = dl.DeadLetter(**{**a.__dict__, "original_headers": None, "problem": "no x-dlq-original-headers header"})
    assert "cannot be recovered exactly" in rp.plan([broken], {}, {topics.NOMINATIONS_INTAKE: 6})[0].refused
    assert "does not exist" in rp.plan([a], {}, {})[0].refused
    assert "not an event topic" in rp.plan([a], {}, {rp.MARKER_TOPIC: 1}, to_topic=rp.MARKER_TOPIC)[0].refused


def test_the_marker_record_round_trips():
    a, *_ = letters()
    at = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
    value = rp.marker_value(a, topics.NOMINATIONS_INTAKE, 3, 99, True, "ops@host", at)
    replay = rp.parse_marker(rp.marker_key(a), value)
    assert replay == rp.Replay(a.ref, topics.NOMINATIONS_INTAKE, 3, 99, "2025-03-01T08:30:00Z", "ops@host", True)
    assert json.loads(value)["source"] == {"topic": topics.NOMINATIONS_INTAKE, "partition": 3, "offset": 40}
    assert rp.parse_marker(b"k", b"not json") is None and rp.parse_marker(b"k", b"{}") is None


def test_the_list_says_what_each_dead_letter_is():
    all_ = letters()
    b = all_[1]
    replays = {b.ref: [replay_of(b, topics.NOMINATIONS_INTAKE, 60)]}  # landed where c came from
    text = dl.render_list({b.topic: all_, topics.dlq(topics.DIRECTORY): []}, replays, missing=["x.dlq"])
    lines = text.splitlines()
    assert lines[0] == f"{b.topic}: 3 dead letters, 1 replayed"
    assert "REASON" in lines[1] and "EVENT TYPE" in lines[1]
    assert "undecodable" in lines[3] and "[3]@40" in lines[3] and "nominations" in lines[3]
    assert "unexpected_type" in lines[4] and "nomination.submitted" in lines[4] and b.event.id in lines[4]
    assert lines[5].split()[-2] == "0/1"  # c is the replay of b, dead-lettered again
    assert f"{topics.dlq(topics.DIRECTORY)}: 0 dead letters" in text and "x.dlq: no such topic" in text


def test_show_prints_the_bytes_three_ways_and_the_headers_exactly():
    _, headers = binary_event()
    headers.append(("x-trace", b"\xff\x00"))
    letter = dl.from_record(dead_letter(source_record(b"\xff\xfe{\"a\": 1}\n", headers), "undecodable", "boom"))
    text = dl.render_show(letter, [replay_of(letter, topics.NOMINATIONS_INTAKE, 7)], origin="t.dlq/0/3")
    assert "\\xff\\xfe{\"a\": 1}" in text  # printable form
    assert "base64 //57ImEiOiAxfQo=" in text
    assert "00000000  ff fe 7b 22" in text  # hex dump
    assert "x-trace: (not UTF-8) hex ff00" in text and "base64 /wA=" in text
    assert "ce_source: urn:unit:QLDD" in text and "Error:\n  boom" in text
    assert "replay of         t.dlq/0/3" in text and "to exemplars.nominations.intake[3]@7" in text
    full = dl.to_json(letter, full=True)
    assert full["value_base64"] == "//57ImEiOiAxfQo=" and full["original_headers"][-1] == {
        "name": "x-trace", "text": None, "base64": "/wA="}
    assert full["source"] == {"topic": topics.NOMINATIONS_INTAKE, "partition": 3, "offset": 41}


def test_the_replay_plan_reads_as_a_table():
    a, b, _ = letters()
    steps = rp.plan([a, b], {b.ref: [replay_of(b, topics.NOMINATIONS_INTAKE, 70)]}, {topics.NOMINATIONS_INTAKE: 6})
    text = rp.render_plan(steps, dry_run=True)
    assert "would replay" in text.splitlines()[2] and "refused: replayed before" in text.splitlines()[3]
    assert "exemplars.nominations.intake[3]" in text


@pytest.mark.parametrize("raw", [None, b"", b"plain", "Tập thể".encode(), b"\x00\x1b[31m", b"\xff"])
def test_dead_letter_values_of_any_shape_parse(raw):
    _, headers = binary_event()
    record = dead_letter(source_record(raw, headers), "undecodable", "x")
    letter = dl.from_record(record)
    assert letter.value == (raw or b"")
    assert "\x1b" not in dl.render_show(letter)  # never a raw control sequence to the terminal


@pytest.mark.parametrize("value", [b'{"specversion": "1.0", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                                   b'{"specversion": "1.0", "data": ' + b"9" * 5_000 + b"}"])
def test_describing_what_broke_the_parser_does_not_break_the_tool(value):
    """The poison that was dead-lettered for RecursionError or a huge integer is shown, not fatal."""
    info = dl.describe_event(value, [("content-type", b"application/cloudevents+json")])
    assert info.mode == "structured" and info.type is None


def test_the_legacy_sdks_structured_events_are_named():
    body = b'{"specversion": "1.0", "type": "vn.gov.monre.exemplars.nomination.submitted.v1", "id": "e1", "data": {}}'
    info = dl.describe_event(body, [("content-type", b"application/json")])
    assert (info.mode, info.type, info.id) == ("structured", "nomination.submitted", "e1")
