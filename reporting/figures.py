"""Every figure of a programme review, computed from plain data (`reporting.model`). No I/O.

Scope: nominations, evaluations and exemplars of the years of the period (by nomination
year); the follow-up of those exemplars counts every review and replication recorded up
to the day the report is made.

The period is described as it stands on that day: a recognition the council later revoked
is not a recognition. It leaves the recognised totals, the list of exemplars, the follow-up,
the spread and the recommendations, and is counted apart (`Recognitions.revoked`) and listed
in `Figures.revocations`; its nomination still held its unit's place that year. Like the
follow-up, revocations are those of the period's recognitions made up to the report's day,
whatever year the council revoked them in: the count and the list then always agree.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from reporting.model import Evaluation, Exemplar, Nomination, ReportData

# Nomination statuses that hold one of the unit's yearly places (accepted, then decided; a
# revoked title used its place all the same, as the nominations service counts it).
HOLDS_PLACE = frozenset({"accepted", "recognized", "not_recognized", "revoked"})
COMPLETED = frozenset({"completed", "decided"})
OUTCOMES = ("recognize", "foster", "not_recognized")
LEVELS = ("unit", "ministry")
TRENDS = ("growing", "maintained", "declining")
# The rule for "models worth honouring and replicating"; the report prints it from these.
RECOMMEND_TREND = "growing"
RECOMMEND_MIN_ADOPTERS = 2
RECOMMEND_LIMIT = 5
TOP_MODELS = 10


def nomination_outcome(nomination: Nomination) -> str:
    """accepted | refused | withdrawn: every submitted nomination is exactly one of them."""
    if nomination.status == "rejected":
        return "refused"
    if nomination.status == "withdrawn":
        return "withdrawn"
    return "accepted"


@dataclass
class NominationCounts:
    submitted: int = 0
    accepted: int = 0
    refused: int = 0
    withdrawn: int = 0

    def add(self, nomination: Nomination) -> None:
        self.submitted += 1
        outcome = nomination_outcome(nomination)
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class EvaluationCounts:
    opened: int = 0  # evaluations not cancelled
    cancelled: int = 0
    in_progress: int = 0  # panel still scoring (or waiting for evaluators)
    completed: int = 0
    outcomes: Counter = field(default_factory=Counter)
    divergent: int = 0
    days: list[float] = field(default_factory=list)  # acceptance to completion, per evaluation

    def add(self, evaluation: Evaluation) -> None:
        if evaluation.status == "cancelled":
            self.cancelled += 1
            return
        self.opened += 1
        if evaluation.status not in COMPLETED:
            self.in_progress += 1
            return
        self.completed += 1
        self.outcomes[evaluation.outcome] += 1
        self.divergent += evaluation.divergent
        if evaluation.opened_at and evaluation.completed_at:
            self.days.append((evaluation.completed_at - evaluation.opened_at).total_seconds() / 86400)

    @property
    def mean_days(self) -> float | None:
        return sum(self.days) / len(self.days) if self.days else None


@dataclass
class Recognitions:
    """The council's decisions on a group's nominations, as they stand now.

    A recognition later revoked is in `revoked` only: neither in `levels` (so not in
    `recognized`, the titles standing) nor in `not_recognized` (the council did recognise it).
    """

    levels: Counter = field(default_factory=Counter)  # standing recognitions by level
    revoked: int = 0  # recognitions the council took back since
    not_recognized: int = 0  # council decisions not to recognise
    fostering: int = 0  # of which kept in fostering

    @property
    def recognized(self) -> int:
        return sum(self.levels.values())


@dataclass(frozen=True)
class Load:
    staff_id: str
    panels: int
    recusals: int


@dataclass(frozen=True)
class FollowUp:
    exemplar: Exemplar
    reviews: int
    support_requests: int  # reviews asking for support (or reporting a decline)
    resolved: int  # requests followed by a later review that no longer asks
    open_request: bool  # the latest review still asks


@dataclass
class Figures:
    data: ReportData
    nominations: NominationCounts
    nominations_by_year: dict[int, NominationCounts]
    nominations_by_field: dict[str, NominationCounts]
    nominations_by_unit: dict[str, NominationCounts]
    submitted_by_field_year: dict[str, Counter]
    refusal_reasons: Counter
    quota: dict[int, dict[str, int]]  # year -> unit able to nominate that year -> places held
    never_nominated: list[str]
    evaluations: EvaluationCounts
    evaluations_by_year: dict[int, EvaluationCounts]
    evaluations_by_field: dict[str, EvaluationCounts]
    divergent: list[Evaluation]
    load: list[Load]
    recognitions: Recognitions
    recognitions_by_year: dict[int, Recognitions]
    recognitions_by_field: dict[str, Recognitions]
    recognitions_by_unit: dict[str, Recognitions]
    exemplars: list[Exemplar]  # recognised (titles standing), by year, unit and title
    revocations: list[Exemplar]  # the period's recognitions revoked since, by day revoked then id
    follow_up: list[FollowUp]
    review_trends: Counter  # every review received
    latest_trends: Counter  # each exemplar's latest review
    spread: list[Exemplar]  # recognised, widest spread first
    recommended: list[Exemplar]

    def quota_groups(self, year: int) -> dict[int, list[str]]:
        """Units by places held that year: 0, 1, ... up to the yearly maximum (and above, never)."""
        groups: dict[int, list[str]] = {k: [] for k in range(self.data.yearly_maximum + 1)}
        for unit_id, held in sorted(self.quota[year].items()):
            groups.setdefault(held, []).append(unit_id)
        return groups


def compute(data: ReportData) -> Figures:
    years = set(data.years)
    nominations = [n for n in data.nominations if n.year in years]
    evaluations = [e for e in data.evaluations if e.year in years]
    exemplars = [x for x in data.exemplars if x.year in years]
    recognized = sorted((x for x in exemplars if x.status == "recognized"),
                        key=lambda x: (x.year, x.unit_id, x.title, x.exemplar_id))
    spread = sorted(recognized, key=_spread_rank)
    revoked = sorted((x for x in exemplars if x.status == "revoked"), key=_revocation_rank)
    return Figures(
        data=data,
        nominations=_total(nominations, NominationCounts),
        nominations_by_year=_group(nominations, NominationCounts, lambda n: n.year),
        nominations_by_field=_group(nominations, NominationCounts, lambda n: n.field),
        nominations_by_unit=_group(nominations, NominationCounts, lambda n: n.unit_id),
        submitted_by_field_year=_by_field_year(nominations),
        refusal_reasons=Counter(code for n in nominations if n.status == "rejected" for code in set(n.reasons)),
        quota=_quota(data, nominations),
        never_nominated=_never_nominated(data, nominations),
        evaluations=_total(evaluations, EvaluationCounts),
        evaluations_by_year=_group(evaluations, EvaluationCounts, lambda e: e.year),
        evaluations_by_field=_group(evaluations, EvaluationCounts, lambda e: e.field),
        divergent=sorted((e for e in evaluations if e.status in COMPLETED and e.divergent),
                         key=lambda e: (e.year, e.nomination_id)),
        load=_load(evaluations),
        recognitions=_recognitions(evaluations, exemplars, lambda item: "all").get("all", Recognitions()),
        recognitions_by_year=_recognitions(evaluations, exemplars, lambda item: item.year),
        recognitions_by_field=_recognitions(evaluations, exemplars, lambda item: item.field),
        recognitions_by_unit=_recognitions(evaluations, exemplars, lambda item: item.unit_id),
        exemplars=recognized,
        revocations=revoked,
        follow_up=[_follow_up(x) for x in recognized],
        review_trends=Counter(r.trend for x in recognized for r in x.reviews),
        latest_trends=Counter(x.latest.trend for x in recognized if x.latest),
        spread=spread,
        recommended=recommend(recognized),
    )


def recommend(exemplars: Iterable[Exemplar]) -> list[Exemplar]:
    """Recognised, latest review growing, applied by enough other units; widest spread first."""
    eligible = [x for x in exemplars if x.status == "recognized" and x.latest is not None
                and x.latest.trend == RECOMMEND_TREND and len(x.adopters) >= RECOMMEND_MIN_ADOPTERS]
    return sorted(eligible, key=_spread_rank)[:RECOMMEND_LIMIT]


def top_models(figures: Figures) -> list[Exemplar]:
    """The most replicated recognised models (at least one other unit applies them)."""
    return [x for x in figures.spread if x.adopters][:TOP_MODELS]


def _revocation_rank(exemplar: Exemplar) -> tuple:
    # A revoked document without its day (the service never writes one) sorts last rather than failing the report.
    day = exemplar.revocation.revoked_on if exemplar.revocation else None
    return (day is None, day or dt.date.min, exemplar.exemplar_id)


def _spread_rank(exemplar: Exemplar) -> tuple:
    return (-len(exemplar.adopters), -exemplar.study_visits, -(exemplar.total or 0.0), exemplar.exemplar_id)


def _total(items, factory):
    total = factory()
    for item in items:
        total.add(item)
    return total


def _group(items, factory, key) -> dict:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), factory()).add(item)
    return dict(sorted(groups.items()))


def _by_field_year(nominations: list[Nomination]) -> dict[str, Counter]:
    result: dict[str, Counter] = {}
    for n in nominations:
        result.setdefault(n.field, Counter())[n.year] += 1
    return dict(sorted(result.items()))


def _quota(data: ReportData, nominations: list[Nomination]) -> dict[int, dict[str, int]]:
    held = Counter((n.unit_id, n.year) for n in nominations if n.status in HOLDS_PLACE)
    return {year: {u.unit_id: held[(u.unit_id, year)] for u in data.units.values() if u.nominates and u.active_in(year)}
            for year in data.years}


def _never_nominated(data: ReportData, nominations: list[Nomination]) -> list[str]:
    nominated = {n.unit_id for n in nominations}
    return sorted(u.unit_id for u in data.units.values()
                  if u.nominates and any(u.active_in(y) for y in data.years) and u.unit_id not in nominated)


def _load(evaluations: list[Evaluation]) -> list[Load]:
    panels, recusals = Counter(), Counter()
    for e in evaluations:
        if e.status != "cancelled":
            panels.update(set(e.panel))
            recusals.update(set(e.recused))
    people = set(panels) | set(recusals)
    return sorted((Load(p, panels[p], recusals[p]) for p in people), key=lambda load: (-load.panels, load.staff_id))


def _recognitions(evaluations: list[Evaluation], exemplars: list[Exemplar], key) -> dict:
    groups: dict = {}
    for x in exemplars:
        # Only a fostering record is fostering: a revoked title is a recognition taken back.
        if x.status == "recognized":
            groups.setdefault(key(x), Recognitions()).levels[x.level] += 1
        elif x.status == "revoked":
            groups.setdefault(key(x), Recognitions()).revoked += 1
        elif x.status == "fostering":
            groups.setdefault(key(x), Recognitions()).fostering += 1
    for e in evaluations:
        if e.status == "decided" and e.recognized is False:
            groups.setdefault(key(e), Recognitions()).not_recognized += 1
    return dict(sorted(groups.items()))


def _follow_up(exemplar: Exemplar) -> FollowUp:
    reviews = sorted(exemplar.reviews, key=lambda r: r.period)
    asked = [i for i, r in enumerate(reviews) if r.needs_support]
    resolved = sum(1 for i in asked if any(not later.needs_support for later in reviews[i + 1:]))
    return FollowUp(exemplar, len(reviews), len(asked), resolved, bool(reviews) and reviews[-1].needs_support)
