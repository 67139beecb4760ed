"""The criteria sets shipped with the service, and the loader's refusals of malformed ones."""

import math
from pathlib import Path

import pytest
import yaml

from services.evaluations.criteria import CRITERIA_DIR, CriteriaError, CriteriaSet, load_criteria
from shared.vocabulary import Field, NomineeKind

DEFAULT_WEIGHTS = {"effectiveness": 30, "spread": 20, "replicability": 15, "novelty": 15,
                   "economic_value": 10, "social_environmental": 10}


@pytest.fixture(scope="module")
def shipped():
    return load_criteria()


# ---- the shipped sets ----------------------------------------------------------------------


def test_every_field_and_kind_has_its_own_versioned_set(shipped):
    sets = shipped.all()
    assert len(sets) == 20
    for f in Field:
        for kind in NomineeKind:
            s = shipped.for_(f, kind)
            assert (s.field, s.nominee_kind) == (f, kind)
            assert s.set_id == f"{f.value}.{kind.value}"
            assert s.version >= 1
    assert len({s.set_id for s in sets}) == 20


def test_shipped_weights_are_the_default_and_sum_to_100(shipped):
    for s in shipped.all():
        assert {c.id: c.weight for c in s.criteria} == DEFAULT_WEIGHTS
        assert math.isclose(sum(c.weight for c in s.criteria), 100)


def test_shipped_sets_have_the_three_gates_and_vietnamese_names(shipped):
    s = shipped.for_(Field.LAND, NomineeKind.COLLECTIVE)
    assert [g.id for g in s.gates] == ["complete_file", "no_disciplinary_record", "months_in_operation"]
    assert s.criterion("effectiveness").name == "Hiệu quả"
    assert s.criterion("spread").name == "Sức lan tỏa"
    assert s.criterion("replicability").name == "Khả năng nhân rộng"
    assert s.criterion("social_environmental").name == "Ý nghĩa xã hội – môi trường"
    months = next(g for g in s.gates if g.id == "months_in_operation")
    assert months.check.kind == "months_in_operation" and months.check.minimum == 12
    assert s.outcomes is None  # the programme's 70 / 50 apply


def test_fields_and_kinds_get_their_own_guidance(shipped):
    land = shipped.for_(Field.LAND, NomineeKind.COLLECTIVE).criterion("effectiveness").focus
    water = shipped.for_(Field.WATER_RESOURCES, NomineeKind.COLLECTIVE).criterion("effectiveness").focus
    assert "đất đai" in land and "nước" in water
    collective = shipped.for_(Field.LAND, NomineeKind.COLLECTIVE).criterion("novelty").focus
    individual = shipped.for_(Field.LAND, NomineeKind.INDIVIDUAL).criterion("novelty").focus
    assert collective != individual and "Sáng kiến" in individual


def test_spread_bands_follow_the_scope_of_influence(shipped):
    spread = shipped.for_(Field.GEOLOGY, NomineeKind.INDIVIDUAL).criterion("spread")
    assert [(b.low, b.high) for b in spread.bands] == [(0, 0), (1, 7), (8, 14), (15, 20)]
    assert "đơn vị" in spread.band_for(7.9).guidance
    assert "toàn Bộ" in spread.band_for(8).guidance
    assert "toàn quốc" in spread.band_for(20).guidance
    assert spread.band_for(0).low == 0


def test_snapshot_round_trips_and_fingerprint_tracks_content(shipped):
    s = shipped.for_(Field.ENVIRONMENT, NomineeKind.INDIVIDUAL)
    again = CriteriaSet.from_snapshot(s.snapshot())
    assert again == s and again.fingerprint == s.fingerprint
    changed = s.snapshot()
    changed["criteria"][0]["bands"][0]["guidance"] = "Khác."
    assert CriteriaSet.from_snapshot(changed).fingerprint != s.fingerprint


def test_registry_refuses_an_unknown_field(shipped):
    with pytest.raises(CriteriaError, match="forestry"):
        shipped.for_("forestry", NomineeKind.COLLECTIVE)


# ---- refusals ------------------------------------------------------------------------------

BASE = yaml.safe_load((CRITERIA_DIR / "default.yaml").read_text(encoding="utf-8"))


def one_set(**changes) -> dict:
    doc = {"set_id": "land.collective", "version": 1, "field": "land", "nominee_kind": "collective",
           "title": "Tiêu chí thử", "extends": "default"}
    doc.update(changes)
    return doc


def write(tmp_path: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def refusal(tmp_path: Path, files: dict[str, object], require_all: bool = False) -> str:
    with pytest.raises(CriteriaError) as info:
        load_criteria(write(tmp_path, {"default": BASE, **files}), require_all=require_all)
    return str(info.value)


def test_a_minimal_valid_directory_loads(tmp_path):
    registry = load_criteria(write(tmp_path, {"default": BASE, "land.collective": one_set()}), require_all=False)
    assert registry.for_(Field.LAND, NomineeKind.COLLECTIVE).ref.set_id == "land.collective"


def test_weights_not_summing_to_100_are_refused(tmp_path):
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"novelty": {"weight": 10}})})
    assert "land.collective.yaml" in message and "sum to 95, not 100" in message


def test_overriding_weights_consistently_is_allowed(tmp_path):
    files = {"default": BASE, "land.collective": one_set(
        criteria_overrides={"novelty": {"weight": 20}, "economic_value": {"weight": 5}})}
    s = load_criteria(write(tmp_path, files), require_all=False).for_(Field.LAND, NomineeKind.COLLECTIVE)
    assert s.criterion("novelty").weight == 20 and s.criterion("economic_value").weight == 5


def test_overlapping_bands_are_refused(tmp_path):
    bands = [{"from": 0, "to": 5, "guidance": "a"}, {"from": 5, "to": 10, "guidance": "b"}]
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"economic_value": {"bands": bands}})})
    assert "economic_value: bands overlap at 5" in message


def test_gapped_bands_are_refused(tmp_path):
    bands = [{"from": 0, "to": 3, "guidance": "a"}, {"from": 6, "to": 10, "guidance": "b"}]
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"economic_value": {"bands": bands}})})
    assert "economic_value: no band covers 4-5" in message


def test_bands_must_reach_the_maximum(tmp_path):
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"economic_value": {"maximum": 12}})})
    assert "bands end at 10, but the maximum is 12" in message


def test_unknown_field_is_refused(tmp_path):
    message = refusal(tmp_path, {"forestry.collective": one_set(field="forestry", set_id="forestry.collective")})
    assert "forestry.collective.yaml: field: Input should be 'land'" in message and "(got 'forestry')" in message


def test_misspelt_keys_are_refused(tmp_path):
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"novelty": {"wieght": 15}})})
    assert "wieght" in message
    message = refusal(tmp_path, {"land.collective": one_set(outcome={"recognize_from": 70})})
    assert "unknown keys outcome" in message


def test_override_of_an_unknown_criterion_is_refused(tmp_path):
    message = refusal(tmp_path, {"land.collective": one_set(criteria_overrides={"beauty": {"weight": 1}})})
    assert "'beauty', which default.yaml does not define" in message


def test_a_missing_base_is_refused(tmp_path):
    assert "extends 'nothing', but there is no nothing.yaml" in refusal(
        tmp_path, {"land.collective": one_set(extends="nothing")})


def test_extends_loops_are_refused(tmp_path):
    message = refusal(tmp_path, {"default": {**BASE, "extends": "other"}, "other": {"extends": "default"},
                                 "land.collective": one_set()})
    assert "'extends' loops: land.collective -> default -> other -> default" in message


def test_file_name_must_match_field_and_kind(tmp_path):
    message = refusal(tmp_path, {"land.individual": one_set()})
    assert "name the file land.collective.yaml" in message


def test_the_same_version_twice_is_refused(tmp_path):
    twin = one_set(field="water_resources")
    message = refusal(tmp_path, {"land.collective": one_set(), "water_resources.collective": twin})
    assert "set land.collective version 1 is also declared" in message


def test_outcome_bands_must_be_ordered(tmp_path):
    bad = one_set(outcomes={"recognize_from": 50, "foster_from": 70})
    assert "foster_from (70.0) must be below recognize_from (50.0)" in refusal(tmp_path, {"land.collective": bad})


def test_mandatory_minimum_above_maximum_is_refused(tmp_path):
    bad = one_set(criteria_overrides={"effectiveness": {"mandatory_minimum": 31}})
    assert "mandatory_minimum 31.0 is above its maximum 30" in refusal(tmp_path, {"land.collective": bad})


def test_gate_checks_need_their_parameters(tmp_path):
    gates = [{"id": "complete_file", "name": "Hồ sơ", "description": "Đủ", "check": {"kind": "evidence"}}]
    assert "needs the 'required' document kinds" in refusal(tmp_path, {"land.collective": one_set(gates=gates)})
    gates[0]["check"] = {"kind": "evidence", "required": ["selfie"]}
    assert "(got 'selfie')" in refusal(tmp_path, {"land.collective": one_set(gates=gates)})


def test_duplicate_criterion_ids_are_refused(tmp_path):
    criteria = BASE["criteria"] + [BASE["criteria"][-1]]
    message = refusal(tmp_path, {"land.collective": one_set(extends=None, criteria=criteria)})
    assert "criterion ids appear more than once: social_environmental" in message


def test_unreadable_yaml_is_refused(tmp_path):
    assert "cannot be read as YAML" in refusal(tmp_path, {"land.collective": "set_id: [unclosed"})


def test_all_problems_are_reported_together(tmp_path):
    message = refusal(tmp_path, {
        "land.collective": one_set(criteria_overrides={"novelty": {"weight": 1}}),
        "geology.individual": one_set(field="geology", nominee_kind="individual", set_id="geology.individual",
                                      criteria_overrides={"beauty": {}}),
    })
    assert "land.collective.yaml" in message and "geology.individual.yaml" in message


def test_a_complete_directory_is_required_by_default(tmp_path):
    message = refusal(tmp_path, {"land.collective": one_set()}, require_all=True)
    assert "missing criteria sets" in message and "land.individual.yaml" in message
    assert "land.collective.yaml," not in message


def test_an_empty_directory_is_refused(tmp_path):
    with pytest.raises(CriteriaError, match="no criteria files"):
        load_criteria(tmp_path)
