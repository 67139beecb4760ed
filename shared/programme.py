"""The programme's configuration: phases, open years, quotas, dates and thresholds."""

import datetime as dt
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.base import MAX_PANEL


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(_Config):
    name: str
    first_year: int
    last_year: int


class MonthDay(_Config):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    def in_year(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)


class EvaluationPolicy(_Config):
    # Panels travel in events whose evaluator lists are bounded (shared/events/base.py).
    panel_size: int = Field(default=3, ge=1, le=MAX_PANEL)
    scoring_days: int = Field(default=30, ge=1)
    reminder_days_before: tuple[int, ...] = (7, 2)
    divergence_spread: float = 25
    # Days a panel whose totals diverge has to discuss and amend before it completes as it
    # stands; 0 completes it at once, flagged divergent.
    discussion_days: int = Field(default=5, ge=0, le=60)
    recognize_from: float = 70
    foster_from: float = 50


class Programme(_Config):
    name: str
    phases: tuple[Phase, ...]
    open_years: tuple[int, ...]
    yearly_minimum: int = Field(default=1, ge=0)
    yearly_maximum: int = Field(default=2, ge=1)
    shortfall_reminder: MonthDay
    evaluation: EvaluationPolicy = EvaluationPolicy()

    @model_validator(mode="after")
    def _consistent(self) -> "Programme":
        if self.yearly_minimum > self.yearly_maximum:
            raise ValueError("yearly_minimum exceeds yearly_maximum")
        covered = {y for phase in self.phases for y in range(phase.first_year, phase.last_year + 1)}
        if stray := sorted(set(self.open_years) - covered):
            raise ValueError(f"open years outside every phase: {stray}")
        return self

    def phase_of(self, year: int) -> Phase | None:
        return next((p for p in self.phases if p.first_year <= year <= p.last_year), None)


def load_programme(path: str | Path | None = None) -> Programme:
    """The programme from `path`, or the one shipped with the code."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("shared").joinpath("programme.yaml").read_text(encoding="utf-8")
    return Programme.model_validate(yaml.safe_load(text))


@lru_cache
def default_programme() -> Programme:
    return load_programme()
