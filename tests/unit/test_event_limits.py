"""Every payload is bounded, the bounds are in the published schemas, and no answer a service
derives can come near the producer's limit (shared/settings.py kafka_max_request_bytes)."""

import datetime as dt
import json
import math

import pydantic
import pytest

from deploy import docs
from services.evaluations import domain
from services.evaluations.criteria import TOTAL_WEIGHT, load_criteria
from shared import envelope
from shared.events import (
    ALL,
    BY_TYPE,
    Evidence,
    InputRejected,
    NominationAccepted,
    NominationSubmitted,
    Nominee,
    NotificationFailed,
    Reason,
    ScoreSubmitted,
    StaffRegistered,
    UnitRegistered,
    VisitReported,
    base,
)
from shared.programme import default_programme
from shared.settings import ServiceSettings
from shared.vocabulary import EvidenceKind, NomineeKind, Role



def _setting(name: str, fallback: int) -> int:
    field = ServiceSettings.model_fields.get(name)
    return field.default if field is not None else fallback


PRODUCER_LIMIT = _setting("kafka_max_request_bytes", 1024 * 1024)
# Intake records above this are dead-lettered unread; the bounds below hold without it.
INTAKE_LIMIT = _setting("kafka_max_intake_record_bytes", 256 * 1024)
# "Well below" the producer's limit: whatever the input, an answer is at most half of it.
ANSWER_BUDGET = PRODUCER_LIMIT // 2
# Formats whose values are short by construction.
SHORT_FORMATS = {"date": 12, "date-time": 40, "uuid": 38}
# Patterns that admit printable ASCII only, never a quote or a backslash: one byte a character.
ASCII_PATTERNS = {r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$", r"^[A-Za-z][A-Za-z0-9_]*$",
                  r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"}
# The most bytes one character can take in JSON: a control character written \u001f.
WORST_CHAR = 6


# ---- every string, list and map has a maximum, in the schemas ----------------------------------


def _nodes(schema: dict, defs: dict, path: str = "", seen: frozenset = frozenset()):
    """Every sub-schema with its path, following $refs into `defs` once per branch."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            yield from _nodes(defs[name], defs, f"{path}->{name}", seen | {name})
        return
    yield path, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for i, option in enumerate(schema.get(key, ())):
            yield from _nodes(option, defs, f"{path}|{i}", seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _nodes(prop, defs, f"{path}.{name}", seen)
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(schema.get(key), dict):
            yield from _nodes(schema[key], defs, f"{path}[{key}]", seen)
    for pattern, value in schema.get("patternProperties", {}).items():
        yield from _nodes(value, defs, f"{path}[{pattern}]", seen)


def unbounded(schema: dict, defs: dict) -> list[str]:
    """What in `schema` has no documented maximum."""
    problems = []
    for path, node in _nodes(schema, defs):
        kind = node.get("type")
        if "enum" in node or "const" in node:
            continue
        if kind == "string" or (kind is None and "format" in node):
            if node.get("format") == "date":
                if not {"formatMinimum", "formatMaximum"} <= set(node):
                    problems.append(f"{path}: a date without its range")
            elif node.get("format") not in SHORT_FORMATS and "maxLength" not in node:
                problems.append(f"{path}: a string without maxLength")
        elif kind == "array" and "maxItems" not in node:
            problems.append(f"{path}: an array without maxItems")
        elif kind == "object" and (node.get("additionalProperties") not in (None, False)
                                   or "patternProperties" in node):
            if "maxProperties" not in node:
                problems.append(f"{path}: a map without maxProperties")
            if "maxLength" not in node.get("propertyNames", {}) and not node.get("patternProperties"):
                problems.append(f"{path}: a map whose keys have no maxLength")
        elif kind in ("integer", "number"):
            if not ({"minimum", "exclusiveMinimum"} & set(node) and {"maximum", "exclusiveMaximum"} & set(node)):
                problems.append(f"{path}: a number without both bounds")
    return problems


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.event_type)
def test_every_string_list_map_number_and_date_of_every_event_has_a_maximum(model):
    schema = model.model_json_schema()
    assert unbounded(schema, schema.get("$defs", {})) == []


def test_the_published_asyncapi_schemas_carry_the_maxima():
    for service, text in docs.documents().items():
        schemas = json.loads(text)["components"]["schemas"]
        for name, schema in schemas.items():
            assert unbounded(schema, schemas) == [], f"{service}: {name}"


def test_the_walk_finds_what_is_unbounded():
    class Loose(pydantic.BaseModel):
        names: list[str]
        scores: dict[str, float]
        day: dt.date
        count: int

    schema = Loose.model_json_schema()
    # the list, its strings, the map, its keys, its values, the date, the count
    assert len(unbounded(schema, {})) == 7


# ---- the largest answer stays far below the producer's limit ----------------------------------


def worst_bytes(schema: dict, defs: dict) -> int:
    """An upper bound on the UTF-8 JSON of any value `schema` admits (all optional fields set)."""
    if "$ref" in schema:
        return worst_bytes(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return max(worst_bytes(option, defs) for option in schema[key])
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return max(len(json.dumps(v, ensure_ascii=False).encode()) for v in values)
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") in SHORT_FORMATS:
            return SHORT_FORMATS[schema["format"]]
        # A URL is published normalised: percent-encoded ASCII, its quotes encoded too.
        ascii_only = schema.get("format") == "uri" or schema.get("pattern") in ASCII_PATTERNS
        return 2 + schema["maxLength"] * (1 if ascii_only else WORST_CHAR)
    if kind == "integer":
        return max(len(str(schema["minimum"])), len(str(schema["maximum"])))
    if kind == "number":
        return len(repr(-1.7976931348623157e308))  # the longest repr of a finite double
    if kind == "boolean":
        return 5
    if kind == "null":
        return 4
    if kind == "array":
        return 2 + schema["maxItems"] * (worst_bytes(schema["items"], defs) + 1)
    if kind == "object" and "properties" in schema:
        return 2 + sum(len(json.dumps(name)) + 1 + worst_bytes(value, defs) + 1
                       for name, value in schema["properties"].items())
    if kind == "object":
        (pattern, value), = schema["patternProperties"].items()
        key = {"type": "string", "pattern": pattern, **schema["propertyNames"]}
        return 2 + schema["maxProperties"] * (worst_bytes(key, defs) + 1 + worst_bytes(value, defs) + 1)
    raise AssertionError(f"no bound for {schema}")


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.event_type)
def test_no_event_can_come_near_the_producer_limit(model):
    schema = model.model_json_schema(mode="serialization")
    worst = worst_bytes(schema, schema.get("$defs", {}))
    assert worst < ANSWER_BUDGET, f"{model.event_type}: up to {worst} bytes"


def test_the_bound_of_an_accepted_nomination():
    schema = NominationAccepted.model_json_schema(mode="serialization")
    # Documented in the README: a third of the producer's limit at the very most.
    assert worst_bytes(schema, schema["$defs"]) < PRODUCER_LIMIT // 3


def _url(length: int) -> str:
    """A URL of Vietnamese characters, `length` characters long once percent-encoded."""
    head = "https://vanban.monre.gov.vn/"
    body = "ệ" * ((length - len(head)) // 9)
    return head + body + "a" * (length - len(head) - 9 * len(body))


def _largest_submission(char: str = "ệ") -> NominationSubmitted:
    text = char * 500
    return NominationSubmitted(
        nomination_id="N" * 61, unit_id="U" * 64, year=2100,
        nominee=Nominee(kind=NomineeKind.INDIVIDUAL, name=text, staff_id="S" * 64, position=text, members=100_000),
        field="F" * 64, movement=text, title=text, summary=char * 10_000,
        achievements=[text] * base.MAX_ACHIEVEMENTS,
        evidence=[Evidence(kind=EvidenceKind.INITIATIVE_RECOGNITION, title=text,
                           url=_url(base.MAX_URL))] * base.MAX_EVIDENCE,
        started_on=dt.date(1945, 1, 1), disciplinary_record=True, submitter_id="X" * 64)


@pytest.mark.parametrize("char", ["ệ", "\U0001f600", "\x1f", '"'])
def test_the_largest_accepted_nomination_stays_far_below_the_limit(char):
    submitted = _largest_submission(char)
    accepted = NominationAccepted(**submitted.model_dump(), accepted_in_year=2, yearly_maximum=2)
    event = envelope.new_event(accepted, key=accepted.nomination_id, source="nominations")
    key, value, headers = envelope.encode(event)
    size = len(key) + len(value) + sum(len(n) + len(v) for n, v in headers.items())
    assert size < ANSWER_BUDGET
    schema = NominationAccepted.model_json_schema(mode="serialization")
    assert len(value) <= worst_bytes(schema, schema["$defs"])


def test_an_intake_record_under_the_cap_cannot_grow_past_the_limit_through_its_urls():
    # The sender writes its URLs raw (3 bytes a Vietnamese letter); the service publishes
    # them percent-encoded (9 bytes): the URL limit applies to the published form.
    raw_url = "https://vanban.monre.gov.vn/" + "ệ" * 224  # 700 bytes raw, 2044 characters encoded
    submitted = _largest_submission().model_copy(update={"evidence": [
        Evidence(kind=EvidenceKind.OTHER, title="Tài liệu", url=raw_url)] * base.MAX_EVIDENCE})
    intake = envelope.new_event(submitted, key=submitted.nomination_id, source="urn:unit:U")
    _, body, _ = envelope.encode_structured(intake)
    accepted = NominationAccepted(**submitted.model_dump(), accepted_in_year=1, yearly_maximum=2)
    _, value, _ = envelope.encode(envelope.new_event(accepted, key=accepted.nomination_id, source="nominations"))
    assert len(body) <= INTAKE_LIMIT and len(value) < ANSWER_BUDGET
    with pytest.raises(pydantic.ValidationError, match="at most 2048"):
        Evidence(kind=EvidenceKind.OTHER, title="Tài liệu", url="https://vanban.monre.gov.vn/" + "ệ" * 225)


# ---- the limits, one by one ------------------------------------------------------------------


def _staff(**changes) -> dict:
    return {"staff_id": "S-1", "unit_id": "U-1", "full_name": "Nguyễn Văn A", "email": "a@monre.gov.vn"} | changes


def test_fifty_thousand_roles_are_refused():
    StaffRegistered.model_validate(_staff(roles=list(Role)))
    with pytest.raises(pydantic.ValidationError, match="at most 4 items"):
        StaffRegistered.model_validate_json(json.dumps(_staff(roles=["evaluator"] * 50_000)))


@pytest.mark.parametrize("day", ["1944-12-31", "2101-01-01", "0001-01-01", "9999-12-31"])
def test_dates_outside_the_sector_s_history_are_refused(day):
    with pytest.raises(pydantic.ValidationError):
        UnitRegistered.model_validate_json(json.dumps({"unit_id": "U", "name": "Cục", "valid_from": day}))
    UnitRegistered.model_validate_json(json.dumps({"unit_id": "U", "name": "Cục", "valid_from": "1945-10-03"}))


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity", "-1", "1000.5", "1e400"])
def test_scores_are_finite_and_in_range(score):
    with pytest.raises(pydantic.ValidationError):
        ScoreSubmitted.model_validate_json(f'{{"nomination_id": "N", "evaluator_id": "E", "scores": {{"a": {score}}}}}')


def test_a_score_sheet_has_at_most_as_many_entries_as_a_set_may_have_criteria():
    many = {f"c{i}": 1.0 for i in range(base.MAX_CRITERIA + 1)}
    with pytest.raises(pydantic.ValidationError, match="at most 20 items"):
        ScoreSubmitted(nomination_id="N", evaluator_id="E", scores=many)


def test_strings_of_visits_and_deliveries_are_bounded():
    with pytest.raises(pydantic.ValidationError):
        VisitReported.model_validate({"exemplar_id": "EX-1", "visiting_unit_id": "U", "visited_on": dt.date(2025, 1, 1),
                                      "participants": 10_001})
    delivery = {"delivery_id": "d", "notified_event_id": "e", "notified_event_type": "evaluation.reminder",
                "recipient_id": "unit:" + "U" * 64, "channel": "webhook", "address": "https://x.vn/" + "a" * 2000,
                "attempts": 6, "error": "timeout"}
    NotificationFailed.model_validate(delivery)  # a unit's full-length id and a long webhook URL fit
    for bad in ({"channel": "fax"}, {"error": "x" * 501}, {"delivery_id": "d" * 129}, {"notified_event_type": "X"}):
        with pytest.raises(pydantic.ValidationError):
            NotificationFailed.model_validate(delivery | bad)


def test_reason_codes_are_machine_codes_and_long_messages_are_cut():
    with pytest.raises(pydantic.ValidationError):
        Reason(code="not a code", message="…")
    with pytest.raises(pydantic.ValidationError):
        Reason(code="C" * 65, message="…")
    cut = Reason(code="UNKNOWN_CRITERIA", message="x" * 5000)
    assert len(cut.message) == base.MAX_REASON_MESSAGE and cut.message.endswith("…")


def test_input_ids_are_bounded_cloudevents_ids():
    fields = {"input_type": "evaluation.score_submitted", "subject": "N", "reasons": []}
    InputRejected(input_id="b7d1e6c2-5a0e-4a8e-9f00-1c2d3e4f5a6b", **fields)
    for bad in ("", "x" * 129, "a\nb"):
        with pytest.raises(pydantic.ValidationError):
            InputRejected(input_id=bad, **fields)


# ---- configuration and services fit the limits ------------------------------------------------


def test_every_criteria_set_fits_the_score_sheet_and_result_limits():
    registry = load_criteria()
    assert TOTAL_WEIGHT == base.TOTAL_POINTS
    for criteria in registry._sets.values():
        assert len(criteria.criteria) <= base.MAX_CRITERIA and len(criteria.gates) <= base.MAX_GATES
        for criterion in criteria.criteria:
            assert criterion.maximum <= base.MAX_SCORE and len(criterion.name) <= 500  # CriterionResult.name
        assert len(criteria.set_id) <= 64


def test_the_programme_panel_fits_the_panel_limits():
    assert 1 <= default_programme().evaluation.panel_size <= base.MAX_PANEL


def test_the_worst_score_sheet_is_refused_within_the_limits():
    """Every criterion out of range, unknown criteria and gates with the longest ids: the
    evaluations service can still say so in one `evaluation.input_rejected`."""
    criteria = next(iter(load_criteria()._sets.values()))
    scores = {c.id: base.MAX_SCORE for c in criteria.criteria}
    scores |= {f"{i:02d}" + "x" * 62: 0.0 for i in range(base.MAX_CRITERIA - len(scores))}
    gates = {f"{i:02d}" + "g" * 62: True for i in range(base.MAX_GATES)}
    sheet = ScoreSubmitted(nomination_id="N" * 61, evaluator_id="E" * 64, scores=scores, gates=gates)
    reasons = domain.check_score(nomination_id=sheet.nomination_id, status=domain.Status.OPEN,
                                 panel=[sheet.evaluator_id], recused=[], criteria=criteria,
                                 evaluator_id=sheet.evaluator_id, scores=sheet.scores, gates=sheet.gates)
    assert len(reasons) == len(criteria.criteria) + 2  # out of range each, unknown criteria, unknown gates
    rejected = InputRejected(input_type="evaluation.score_submitted", input_id="x" * 128, subject=sheet.nomination_id,
                             sender_id=sheet.evaluator_id, reasons=reasons)
    assert all(len(r.message) <= base.MAX_REASON_MESSAGE for r in rejected.reasons)
    assert base.MAX_REASONS >= base.MAX_CRITERIA + 3


def test_the_limits_agree_with_each_other():
    assert base.MAX_DAYS == (base.LAST_DAY - base.FIRST_DAY).days
    assert base.LAST_DAY.year == 2100  # the last Year
    assert math.isfinite(base.MAX_SCORE) and base.TOTAL_POINTS <= base.MAX_SCORE
    assert set(BY_TYPE) == {m.event_type for m in ALL}
