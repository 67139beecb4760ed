"""Criteria sets as data: one YAML file per field and nominee kind, validated at start-up.

A file either stands alone or `extends` a base file (a file without `field`, e.g.
`default.yaml`) and then changes only what differs: `criteria_overrides` patches criteria
by id, `gates` / `outcomes` replace the base's. The resolved set must be complete and
consistent, otherwise the service refuses to start: a wrong weight would silently bias
every evaluation of a field for a year.

Evaluations pin (set_id, version) and keep a snapshot of the resolved set, so editing a
file later never changes an evaluation already running.
"""

import copy
import hashlib
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator
from pydantic import Field as PydanticField

from shared.events import CriteriaSetRef
from shared.events.base import MAX_CRITERIA, MAX_GATES, MAX_SCORE
from shared.vocabulary import EvidenceKind, Field, NomineeKind

CRITERIA_DIR = Path(__file__).parent
TOTAL_WEIGHT = 100.0

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
SetId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.\-]*$", max_length=64)]
VietText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
# Names travel in events (evaluation.completed's breakdown): bounded as the events bound them.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]  # as `Text` in shared/events/base.py


class CriteriaError(ValueError):
    """A criteria file or directory that must not be used; the message says what to fix."""


class _Strict(BaseModel):
    # Unknown keys are refused: a typo ("wieght") must not fall back to a default silently.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Band(_Strict):
    """Guidance for scores from `low` to `high` inclusive (whole points)."""

    low: int = PydanticField(alias="from", ge=0)
    high: int = PydanticField(alias="to", ge=0)
    guidance: VietText

    @model_validator(mode="after")
    def _ordered(self) -> "Band":
        if self.low > self.high:
            raise ValueError(f"band from {self.low} to {self.high}: 'from' is above 'to'")
        return self


class Criterion(_Strict):
    id: Ident
    name: Name
    weight: float = PydanticField(gt=0)
    maximum: int = PydanticField(gt=0, le=MAX_SCORE)  # scores run from 0 to maximum
    # Below this panel average the candidate cannot be recommended for recognition.
    mandatory_minimum: float | None = PydanticField(default=None, ge=0)
    focus: VietText | None = None  # what this criterion means in the set's field
    bands: tuple[Band, ...]

    @model_validator(mode="after")
    def _bands_cover_the_scale(self) -> "Criterion":
        if self.mandatory_minimum is not None and self.mandatory_minimum > self.maximum:
            raise ValueError(f"criterion {self.id}: mandatory_minimum {self.mandatory_minimum} "
                             f"is above its maximum {self.maximum}")
        bands = sorted(self.bands, key=lambda b: b.low)
        expected = 0
        for band in bands:
            if band.low < expected:
                raise ValueError(f"criterion {self.id}: bands overlap at {band.low} "
                                 f"(band {band.low}-{band.high} starts inside the previous one)")
            if band.low > expected:
                raise ValueError(f"criterion {self.id}: no band covers {expected}-{band.low - 1}")
            expected = band.high + 1
        if expected != self.maximum + 1:
            raise ValueError(f"criterion {self.id}: bands end at {expected - 1}, "
                             f"but the maximum is {self.maximum}")
        object.__setattr__(self, "bands", tuple(bands))
        return self

    def band_for(self, score: float) -> Band:
        """The band a score falls in; fractional scores belong to the band of their whole part."""
        whole = min(math.floor(score), self.maximum)
        return next(b for b in self.bands if b.low <= whole <= b.high)


class GateCheck(_Strict):
    """How the service checks a gate from the nomination itself, beside the panel's findings.

    `panel`: only the evaluators' findings decide; `evidence`: the file holds every
    document kind in `required`; `no_discipline`: the nomination declares no discipline;
    `months_in_operation`: the model has run at least `minimum` months.
    """

    kind: Literal["panel", "evidence", "no_discipline", "months_in_operation"]
    required: tuple[EvidenceKind, ...] = ()
    minimum: int | None = PydanticField(default=None, ge=1)

    @model_validator(mode="after")
    def _parameters(self) -> "GateCheck":
        if self.kind == "evidence" and not self.required:
            raise ValueError("an 'evidence' check needs the 'required' document kinds")
        if self.kind == "months_in_operation" and self.minimum is None:
            raise ValueError("a 'months_in_operation' check needs 'minimum'")
        return self


class Gate(_Strict):
    id: Ident
    name: Name
    description: VietText
    check: GateCheck = GateCheck(kind="panel")


class Outcomes(_Strict):
    """Total from which the panel recommends recognition, and from which it recommends fostering."""

    recognize_from: float = PydanticField(gt=0, le=TOTAL_WEIGHT)
    foster_from: float = PydanticField(gt=0, le=TOTAL_WEIGHT)

    @model_validator(mode="after")
    def _ordered(self) -> "Outcomes":
        if self.foster_from >= self.recognize_from:
            raise ValueError(f"outcomes: foster_from ({self.foster_from}) must be below "
                             f"recognize_from ({self.recognize_from})")
        return self


class CriteriaSet(_Strict):
    set_id: SetId
    version: int = PydanticField(ge=1)
    field: Field
    nominee_kind: NomineeKind
    title: VietText
    # A score sheet and a result carry one entry per criterion and gate: as many as events allow.
    criteria: tuple[Criterion, ...] = PydanticField(min_length=1, max_length=MAX_CRITERIA)
    gates: tuple[Gate, ...] = PydanticField(default=(), max_length=MAX_GATES)
    # None: the programme's thresholds apply (pinned into each evaluation when it starts).
    outcomes: Outcomes | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "CriteriaSet":
        for kind, ids in (("criterion", [c.id for c in self.criteria]), ("gate", [g.id for g in self.gates])):
            if dupes := sorted({i for i in ids if ids.count(i) > 1}):
                raise ValueError(f"{kind} ids appear more than once: {', '.join(dupes)}")
        total = sum(c.weight for c in self.criteria)
        if not math.isclose(total, TOTAL_WEIGHT, abs_tol=1e-9):
            raise ValueError(f"weights of the criteria sum to {total:g}, not {TOTAL_WEIGHT:g}")
        return self

    @property
    def ref(self) -> CriteriaSetRef:
        return CriteriaSetRef(set_id=self.set_id, version=self.version)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def snapshot(self) -> dict[str, Any]:
        """Plain data to store with an evaluation; `from_snapshot` gives the same set back."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> "CriteriaSet":
        return cls.model_validate(data)

    @cached_property  # the set is frozen; hashing it per accepted nomination was 8 % of the service's CPU
    def fingerprint(self) -> str:
        """Content hash: two deployments claiming the same version can be told apart."""
        return hashlib.sha256(json.dumps(self.snapshot(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


class CriteriaRegistry:
    """The sets in force, one per (field, nominee kind)."""

    def __init__(self, sets: dict[tuple[Field, NomineeKind], CriteriaSet]) -> None:
        self._sets = dict(sets)

    def for_(self, field: Field, kind: NomineeKind) -> CriteriaSet:
        try:
            return self._sets[(Field(field), NomineeKind(kind))]
        except (KeyError, ValueError) as exc:
            raise CriteriaError(f"no criteria set for field {field!r} and nominee kind {kind!r}") from exc

    def all(self) -> list[CriteriaSet]:
        return [self._sets[key] for key in sorted(self._sets)]


# ---- loading -------------------------------------------------------------------------------

_FILE_KEYS = {"set_id", "version", "field", "nominee_kind", "title", "extends", "criteria",
              "criteria_overrides", "gates", "outcomes"}


def load_criteria(directory: str | Path | None = None, *, require_all: bool = True) -> CriteriaRegistry:
    """Every set of `directory` (default: the sets shipped with the service), or CriteriaError.

    All problems of all files are reported together so an operator fixes them in one go.
    `require_all`: every field of the sector must have a set for both nominee kinds.
    """
    root = Path(directory) if directory else CRITERIA_DIR
    raw: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    files = sorted(root.glob("*.yaml"))
    if not files:
        raise CriteriaError(f"{root}: no criteria files (*.yaml)")
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            errors.append(f"{path.name}: cannot be read as YAML: {exc}")
            continue
        if not isinstance(data, dict):
            errors.append(f"{path.name}: expected a mapping at the top level")
            continue
        if unknown := sorted(set(data) - _FILE_KEYS):
            errors.append(f"{path.name}: unknown keys {', '.join(unknown)}")
            continue
        raw[path.stem] = data

    sets: dict[tuple[Field, NomineeKind], CriteriaSet] = {}
    seen: dict[tuple[str, int], str] = {}
    for stem, data in raw.items():
        if "field" not in data:
            continue  # a base: only used through `extends`
        try:
            resolved = _resolve(stem, raw, ())
            criteria_set = CriteriaSet.model_validate(resolved)
        except CriteriaError as exc:
            errors.append(str(exc))
            continue
        except ValidationError as exc:
            errors.extend(f"{stem}.yaml: {_describe(err)}" for err in exc.errors())
            continue
        expected_stem = f"{criteria_set.field.value}.{criteria_set.nominee_kind.value}"
        if stem != expected_stem:
            errors.append(f"{stem}.yaml: declares field {criteria_set.field.value} and kind "
                          f"{criteria_set.nominee_kind.value}; name the file {expected_stem}.yaml")
            continue
        ref = (criteria_set.set_id, criteria_set.version)
        if ref in seen:
            errors.append(f"{stem}.yaml: set {ref[0]} version {ref[1]} is also declared by {seen[ref]}.yaml")
            continue
        seen[ref] = stem
        sets[(criteria_set.field, criteria_set.nominee_kind)] = criteria_set

    if require_all and not errors:
        missing = [f"{f.value}.{k.value}" for f in Field for k in NomineeKind if (f, k) not in sets]
        if missing:
            errors.append(f"missing criteria sets: {', '.join(m + '.yaml' for m in missing)}")
    if errors:
        raise CriteriaError(f"invalid criteria in {root}:\n  - " + "\n  - ".join(errors))
    return CriteriaRegistry(sets)


def _resolve(stem: str, raw: dict[str, dict[str, Any]], chain: tuple[str, ...]) -> dict[str, Any]:
    """The file's content with its base merged in (recursively)."""
    if stem in chain:
        raise CriteriaError(f"{chain[0]}.yaml: 'extends' loops: {' -> '.join((*chain, stem))}")
    data = copy.deepcopy(raw[stem])
    base_name = data.pop("extends", None)
    overrides = data.pop("criteria_overrides", None) or {}
    if base_name is None:
        if overrides:
            raise CriteriaError(f"{stem}.yaml: 'criteria_overrides' needs 'extends'")
        return data
    if base_name not in raw:
        raise CriteriaError(f"{stem}.yaml: extends {base_name!r}, but there is no {base_name}.yaml")
    merged = _resolve(base_name, raw, (*chain, stem))
    for key in ("field", "nominee_kind", "set_id", "version", "title"):
        merged.pop(key, None)  # identity never comes from the base
    merged.update({k: v for k, v in data.items() if k != "criteria_overrides"})
    if overrides:
        if not isinstance(overrides, dict):
            raise CriteriaError(f"{stem}.yaml: 'criteria_overrides' must map criterion ids to changes")
        criteria = merged.get("criteria") or []
        by_id = {c.get("id"): c for c in criteria if isinstance(c, dict)}
        for criterion_id, patch in overrides.items():
            if criterion_id not in by_id:
                raise CriteriaError(f"{stem}.yaml: criteria_overrides names {criterion_id!r}, "
                                    f"which {base_name}.yaml does not define")
            if not isinstance(patch, dict) or "id" in patch:
                raise CriteriaError(f"{stem}.yaml: the override of {criterion_id!r} must be a mapping without 'id'")
            by_id[criterion_id].update(patch)
    return merged


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(error.get("input"), str | int | float) and error["type"] != "value_error":
        message += f" (got {error['input']!r})"
    return f"{where}: {message}" if where else message
