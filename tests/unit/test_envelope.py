"""The CloudEvents codec: binary out, binary and structured in, poison named."""

import base64
import datetime as dt
import json

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from shared import envelope
from shared.envelope import PoisonMessage, new_event
from shared.events import BY_TYPE, ce_type, short_type

SUB = submission("NOM-1", StaffMember("U-02", "U", "Lê Văn Hùng", (), ()), 2024, MODELS[0])


def as_record(key, value, headers):
    return key, value, [(k, v.encode()) for k, v in headers.items()]


def test_binary_round_trip_keeps_everything():
    event = new_event(SUB, key=SUB.nomination_id, source="urn:unit:U")
    key, value, headers = envelope.encode(event)
    assert headers["ce_type"] == "vn.gov.monre.exemplars.nomination.submitted.v1"
    assert headers["content-type"] == "application/json" and key == b"NOM-1"
    assert json.loads(value)["nominee"]["name"].startswith("Tập thể")  # the value is `data` alone
    back = envelope.decode(*as_record(key, value, headers))
    assert (back.id, back.source, back.type, back.data) == (event.id, event.source, event.type, SUB)


def test_structured_mode_is_read_too():
    event = new_event(SUB, key=SUB.nomination_id, source="urn:unit:U")
    back = envelope.decode(*as_record(*envelope.encode_structured(event)))
    assert back.id == event.id and back.data == SUB


def test_derived_ids_are_deterministic():
    source = new_event(SUB, key="NOM-1", source="urn:unit:U")
    first = new_event(SUB, key="NOM-1", source="urn:x", derived_from=source)
    again = new_event(SUB, key="NOM-1", source="urn:x", derived_from=source)
    assert first.id == again.id != source.id


def test_unknown_fields_are_ignored():
    _, value, headers = envelope.encode(new_event(SUB, key="NOM-1", source="urn:unit:U"))
    value = json.dumps({**json.loads(value), "added_in_a_later_version": 1}).encode()
    assert envelope.decode(*as_record(b"NOM-1", value, headers)).data == SUB


@pytest.mark.parametrize("mutate", [
    lambda v, h: (b"\xff\xfe", h),
    lambda v, h: (v, {**h, "ce_type": "vn.gov.monre.exemplars.nomination.submitted.v9"}),
    lambda v, h: (v, {k: x for k, x in h.items() if k != "ce_id"}),
    lambda v, h: (json.dumps({**json.loads(v), "year": "2024"}).encode(), h),  # strict: a string is not a year
    lambda v, h: (v, {**h, "ce_specversion": "0.3"}),
    lambda v, h: (b"{}", {"content-type": "application/cloudevents+json"}),
])
def test_poison_is_named(mutate):
    _, value, headers = envelope.encode(new_event(SUB, key="NOM-1", source="urn:unit:U"))
    value, headers = mutate(value, headers)
    with pytest.raises(PoisonMessage):
        envelope.decode(*as_record(b"NOM-1", value, headers))


def test_every_model_has_a_round_trippable_type():
    assert all(short_type(ce_type(name)) == name for name in BY_TYPE)
    assert short_type("com.example.other.v1") is None


def test_an_evaluator_replaced_by_nobody_survives_the_codec():
    """None fields are left out on the wire: an optional field needs its default to decode."""
    from shared.events import EvaluatorReplaced

    event = new_event(EvaluatorReplaced(nomination_id="N1", title="Mô hình", recused_id="c1", replacement_id=None,
                                        reason="Người thân", deadline=dt.date(2024, 3, 11)), key="N1",
                      source="urn:exemplars:evaluations")
    key, value, headers = envelope.encode(event)
    assert b"replacement_id" not in value
    assert envelope.decode(key, value, [(k, v.encode()) for k, v in headers.items()]).data.replacement_id is None


# ---- structured mode as SDKs send it; nothing but PoisonMessage escapes; admission ---------


def _structured_body(event, **extra) -> bytes:
    _, value, _ = envelope.encode_structured(event)
    return json.dumps({**json.loads(value), **extra}).encode()


@pytest.mark.parametrize("content_type", [None, "application/json", "application/json; charset=utf-8"])
def test_structured_without_the_cloudevents_content_type_is_read(content_type):
    """The CloudEvents SDK's legacy Kafka API labels a structured event with the data's type, or not at all."""
    event = new_event(SUB, key="NOM-1", source="urn:unit:U")
    headers = [] if content_type is None else [("content-type", content_type.encode())]
    back = envelope.decode(b"NOM-1", _structured_body(event), headers)
    assert back.id == event.id and back.data == SUB


def test_structured_data_base64_is_read():
    event = new_event(SUB, key="NOM-1", source="urn:unit:U")
    body = json.loads(_structured_body(event))
    body["data_base64"] = base64.b64encode(json.dumps(body.pop("data")).encode()).decode()
    assert envelope.decode(b"NOM-1", json.dumps(body).encode(), []).data == SUB


@pytest.mark.parametrize("value", [
    b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "data": {"year": ' + b"9" * 5_000 + b"}}",
    b'{"specversion": "1.0", "id": "x", "source": "s", "data": "\xff"}',
    b'{"specversion": "1.0", "data_base64": "not base64!"}',
])
def test_whatever_the_parser_raises_is_poison(value):
    """json.loads raises RecursionError and ValueError, not only JSONDecodeError."""
    with pytest.raises(PoisonMessage) as caught:
        envelope.decode(b"k", value, [("content-type", b"application/cloudevents+json")])
    assert caught.value.reason == envelope.UNDECODABLE


class _Record:
    def __init__(self, value, headers, timestamp, key=b"NOM-1"):
        self.topic, self.partition, self.offset = "t", 2, 40
        self.key, self.value, self.headers, self.timestamp = key, value, headers, timestamp


NOW = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
SKEW = dt.timedelta(minutes=5)


def _record(time: dt.datetime, stamped: dt.datetime = NOW, size: int = 0) -> _Record:
    event = new_event(SUB, key="NOM-1", source="urn:unit:U", time=time)
    _, value, headers = envelope.encode(event)
    if size:
        value = value[:-1] + b', "padding": "' + b"a" * size + b'"}'
    return _Record(value, [(k, v.encode()) for k, v in headers.items()], int(stamped.timestamp() * 1000))


def test_admitted_events_carry_where_and_when_they_were_received():
    event = envelope.decode_record(_record(NOW - dt.timedelta(days=3)), now=NOW, max_bytes=1000_000, max_skew=SKEW)
    assert event.received == envelope.Received("t", 2, 40, NOW)
    assert event.received_at == NOW and event.time == NOW - dt.timedelta(days=3)  # the sender's time, kept


def test_the_receive_time_is_never_later_than_the_consumers_clock():
    """A producer may stamp its record in the future; "now" stays the consumer's."""
    event = envelope.decode_record(_record(NOW, stamped=NOW + dt.timedelta(days=400)), now=NOW,
                                   max_bytes=None, max_skew=SKEW)
    assert event.received_at == NOW


def test_a_time_in_the_future_is_refused():
    assert envelope.decode_record(_record(NOW + SKEW), now=NOW, max_bytes=None, max_skew=SKEW)
    with pytest.raises(PoisonMessage) as caught:
        envelope.decode_record(_record(dt.datetime(9999, 1, 1, tzinfo=dt.UTC)), now=NOW, max_bytes=None, max_skew=SKEW)
    assert caught.value.reason == envelope.CLOCK_SKEW


def test_an_oversize_record_is_refused_unread():
    record = _record(NOW, size=300_000)
    with pytest.raises(PoisonMessage) as caught:
        envelope.decode_record(record, now=NOW, max_bytes=262_144, max_skew=SKEW)
    assert caught.value.reason == envelope.TOO_LARGE
    assert envelope.decode_record(record, now=NOW, max_bytes=None, max_skew=SKEW).data == SUB  # unknown field ignored


@pytest.mark.parametrize("attribute, value", [("ce_id", "x" * 129), ("ce_id", "id\nwith a newline"),
                                              ("ce_source", "urn:" + "s" * 300), ("ce_subject", "s" * 257)])
def test_attributes_answers_repeat_are_bounded(attribute, value):
    _, body, headers = envelope.encode(new_event(SUB, key="NOM-1", source="urn:unit:U"))
    with pytest.raises(PoisonMessage):
        envelope.decode(*as_record(b"NOM-1", body, {**headers, attribute: value}))
