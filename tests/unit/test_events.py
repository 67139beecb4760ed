"""Contract limits that span services."""

import pydantic
import pytest

from deploy.demo_data import MODELS, staff, submission
from services.evaluations.domain import exemplar_id
from shared.events import ExemplarRecognized
from shared.vocabulary import Field, RecognitionLevel


def test_the_longest_nomination_id_still_makes_a_valid_exemplar_id():
    longest = "N" * 61
    submission(longest, staff()[0], 2024, MODELS[0])
    ExemplarRecognized(exemplar_id=exemplar_id(longest), nomination_id=longest, unit_id="VP", year=2024, field=Field.LAND,
                       nominee_name="Tập thể", title="Mô hình", level=RecognitionLevel.UNIT, decision_ref="QĐ 1",
                       total=80.0)


def test_a_nomination_id_too_long_for_its_exemplar_is_refused_at_the_door():
    with pytest.raises(pydantic.ValidationError, match="at most 61"):
        submission("N" * 62, staff()[0], 2024, MODELS[0])


def test_the_demo_directory_and_nominations_fit_the_payload_limits():
    """The demo's realistic events survive the wire: every limit leaves room for real data."""
    from deploy.demo_data import directory_events, nomination_events
    from shared.envelope import decode, encode

    events = directory_events() + nomination_events()
    assert events
    for event in events:
        key, value, headers = encode(event)
        assert decode(key, value, [(name, raw.encode()) for name, raw in headers.items()]).data == event.data
