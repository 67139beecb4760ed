"""Plain data the report is computed from: what the services' projections hold, no I/O."""

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    kind: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def active_in(self, year: int) -> bool:
        """As the nominations service judges it: valid on at least one day of `year`."""
        starts = self.valid_from is None or self.valid_from <= dt.date(year, 12, 31)
        return starts and (self.valid_to is None or self.valid_to >= dt.date(year, 1, 1))

    @property
    def nominates(self) -> bool:
        """Units nominate; the ministry itself runs the programme."""
        return self.kind != "ministry"


@dataclass(frozen=True)
class Nomination:
    nomination_id: str
    unit_id: str
    year: int
    field: str
    status: str  # accepted | rejected | withdrawn | recognized | not_recognized | revoked
    title: str = ""
    nominee_kind: str | None = None
    nominee_name: str = ""
    reasons: tuple[str, ...] = ()  # refusal codes


@dataclass(frozen=True)
class Evaluation:
    nomination_id: str
    unit_id: str
    year: int
    field: str
    status: str  # panel_incomplete | open | discussion | completed | decided | cancelled
    title: str = ""
    panel: tuple[str, ...] = ()
    recused: tuple[str, ...] = ()
    outcome: str | None = None  # recognize | foster | not_recognized, once completed
    total: float | None = None
    spread: float | None = None
    divergent: bool = False
    recognized: bool | None = None  # the council's decision; None until it decides
    opened_at: dt.datetime | None = None  # when the nomination's acceptance reached the service
    completed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Review:
    period: str
    influence: int
    trend: str  # growing | maintained | declining
    needs_support: bool = False
    support_requested: str | None = None
    study_visits: int = 0
    new_adopting_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Visit:
    visiting_unit_id: str
    visited_on: dt.date | None
    participants: int = 1


@dataclass(frozen=True)
class Revocation:
    """The council taking a recognition back (Law on Emulation and Commendation 2022)."""

    ref: str  # the revoking decision
    revoked_on: dt.date
    ground: str  # fraud | false_documents | unlawful_appraisal
    reason: str = ""
    uncounted: tuple[str, ...] = ()  # units whose replication came on or after the day: no longer adopters


@dataclass(frozen=True)
class Exemplar:
    """A recognised exemplar, a fostering record (status `fostering`) or a recognition the
    council took back (status `revoked`, with its `revocation`), with its follow-up."""

    exemplar_id: str
    nomination_id: str
    unit_id: str
    year: int
    field: str
    status: str  # recognized | fostering | revoked
    title: str = ""
    nominee_name: str = ""
    nominee_kind: str | None = None
    level: str | None = None  # unit | ministry
    total: float | None = None
    decision_ref: str | None = None  # as last corrected, like `level`
    # The system that recorded the council's decision, as its signature proved (trust registry name).
    recorded_by: str | None = None
    reviews: tuple[Review, ...] = ()
    adopters: tuple[str, ...] = ()  # distinct units applying it, in the order they first did (before any revocation)
    visits: tuple[Visit, ...] = ()
    study_visits: int = 0  # the service's running total
    revocation: Revocation | None = None
    corrections: int = 0  # corrections of the council's decision

    @property
    def latest(self) -> Review | None:
        return max(self.reviews, key=lambda r: r.period) if self.reviews else None


@dataclass(frozen=True)
class Person:
    staff_id: str
    unit_id: str
    full_name: str


@dataclass(frozen=True)
class ReportData:
    first_year: int
    last_year: int
    generated_at: dt.datetime
    programme_name: str = ""
    phase_name: str | None = None  # set when the period is exactly one of the programme's phases
    yearly_minimum: int = 1
    yearly_maximum: int = 2
    recognize_from: float = 70
    foster_from: float = 50
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    nominations: list[Nomination] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    exemplars: list[Exemplar] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # what was read, for the appendix

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))
