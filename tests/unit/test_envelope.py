"""The CloudEvents codec: binary out, binary and structured in, poison named."""

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
