"""The evaluations half of the demo feed: what evaluators, councils and units would send.

Panels are the service's decision, so the feed answers the service's own events: give it
`evaluation.panel_assigned` and it returns score sheets, give it `evaluation.discussion_opened`
and the harshest member comments and amends, give it `evaluation.completed`
and it returns the council's decision, give it `exemplar.recognized` and it returns a
year of follow-up. `Responder` strings these together for a whole phase. Deterministic
per nomination and seed, so a demo replays identically.
"""

import datetime as dt
import hashlib
import random
from collections.abc import Iterable, Sequence

from services.evaluations.criteria import CriteriaRegistry
from shared.envelope import Event, derived_id, new_event
from shared.events import (
    CommentPosted,
    ConflictDeclared,
    CouncilDecisionRecorded,
    DiscussionOpened,
    EvaluationCompleted,
    ExemplarRecognized,
    PanelAssigned,
    ReplicationReported,
    ReviewReported,
    ScoreSubmitted,
    VisitReported,
)
from shared.vocabulary import Outcome, RecognitionLevel, Trend

SOURCE = "urn:exemplars:demo"
# Most models are good, some to foster, few weak: an evaluator's sheet is the model's quality
# plus a little personal noise.
MERGED_ON = dt.date(2025, 3, 1)  # MONRE and MARD became the Ministry of Agriculture and Environment
QUALITIES = (0.9, 0.82, 0.76, 0.72, 0.62, 0.55, 0.4)
NOISE = 0.08
# Now and then the third seat judges far more harshly: the panel's spread passes 25 points.
DIVERGENT_RATE = 0.12
HARSHNESS = 0.3
DIFFICULTIES = (("Thiếu kinh phí duy trì hệ thống", "Hỗ trợ kinh phí và tập huấn"),
                ("Thiếu nhân lực có chuyên môn sau khi luân chuyển cán bộ", "Bổ sung nhân lực, tập huấn chuyên sâu"),
                ("Hạ tầng công nghệ thông tin xuống cấp", "Nâng cấp hạ tầng và phần mềm"))


def _rng(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:16], 16))


def sheet_for(panel: PanelAssigned, seat: int, evaluator: str, registry: CriteriaRegistry, seed: int = 7,
              reconsidered: bool = False) -> Event:
    """The sheet of whoever sits in `seat`: keyed by the seat, not the person, so the totals
    do not depend on which evaluators the service happened to choose. `reconsidered`: the
    harsh seat's amendment after the panel's discussion, without the harshness."""
    criteria = registry.for_(panel.field, panel.nominee_kind).criteria
    quality_rng = _rng(str(seed), panel.nomination_id, "quality")
    quality = quality_rng.choice(QUALITIES)
    harsh_seat = 2 if quality_rng.random() < DIVERGENT_RATE else None
    own = quality + _rng(str(seed), panel.nomination_id, "seat", str(seat)).uniform(-NOISE, NOISE)
    own = min(max(own - (HARSHNESS if seat == harsh_seat and not reconsidered else 0.0), 0.0), 1.0)
    comment = ("Mô hình có kết quả cụ thể, cần bổ sung số liệu lan tỏa." if own >= 0.6
               else "Minh chứng về hiệu quả và khả năng nhân rộng còn hạn chế.")
    key = panel.nomination_id
    data = ScoreSubmitted(nomination_id=key, evaluator_id=evaluator,
                          scores={c.id: round(c.maximum * own) for c in criteria}, comment=comment)
    parts = (key, evaluator, data.event_type) + (("amended",) if reconsidered else ())
    return new_event(data, key=key, source=SOURCE, id_parts=parts)


def discussion_for(opened: DiscussionOpened, panel: PanelAssigned, seats: Sequence[str], registry: CriteriaRegistry,
                   seed: int = 7) -> list[Event]:
    """The harshest member explains, then reconsiders: the amended sheet brings the panel together."""
    key = opened.nomination_id
    lowest = min(opened.evaluator_totals, key=lambda member: (opened.evaluator_totals[member], member))
    seat = seats.index(lowest) if lowest in seats else len(seats)
    said = CommentPosted(nomination_id=key, evaluator_id=lowest,
                         comment="Tôi chấm thấp vì thiếu số liệu về hiệu quả; sau khi xem phiếu của các đồng chí "
                                 "và báo cáo kết quả áp dụng, tôi điều chỉnh điểm.")
    return [new_event(said, key=key, source=SOURCE, id_parts=(key, lowest, said.event_type)),
            sheet_for(panel, seat, lowest, registry, seed, reconsidered=True)]


def scores_for(panel: PanelAssigned, registry: CriteriaRegistry, conflict_rate: float = 0.1, seed: int = 7) -> list[Event]:
    """One sheet per evaluator; now and then the first seat declares a conflict instead."""
    events = []
    conflict = _rng(str(seed), panel.nomination_id, "conflict").random() < conflict_rate
    for seat, evaluator in enumerate(panel.evaluators):
        if seat == 0 and conflict:
            key = panel.nomination_id
            data = ConflictDeclared(nomination_id=key, evaluator_id=evaluator,
                                    reason="Có quan hệ công tác trực tiếp với tập thể được đề cử")
            events.append(new_event(data, key=key, source=SOURCE, id_parts=(key, evaluator, data.event_type)))
        else:
            events.append(sheet_for(panel, seat, evaluator, registry, seed))
    return events


def decision_for(completed: EvaluationCompleted, decided_on: dt.date) -> Event:
    """The council follows the panel; the strongest models are recognised at ministry level."""
    recognized = completed.outcome is Outcome.RECOGNIZE
    ministry = "BTNMT" if decided_on < MERGED_ON else "BNNMT"  # the ministry signing that day
    level = (RecognitionLevel.MINISTRY if completed.total >= 85 else RecognitionLevel.UNIT) if recognized else None
    data = CouncilDecisionRecorded(nomination_id=completed.nomination_id, recognized=recognized, level=level,
                                   decision_ref=f"{_rng(completed.nomination_id).randint(100, 999)}/QĐ-{ministry}",
                                   decided_on=decided_on)
    return new_event(data, key=completed.nomination_id, source=SOURCE, id_parts=(completed.nomination_id, "council"))


def follow_up_for(recognized: ExemplarRecognized, other_units: Iterable[str], first_day: dt.date,
                  today: dt.date | None = None, seed: int = 7) -> list[Event]:
    """A year of follow-up, all of it valid input when `other_units` are active that year.

    Study visits, two half-year reviews (trends vary; a unit asking for support in the first half often
    recovers in the second), replications by 0 to 6 other units (the first reported twice,
    counted once; the reviews name some of them too). Up to three visits. Dates
    never pass `today` (default: the UTC date), which the service would refuse.
    """
    rng = _rng(str(seed), recognized.exemplar_id)
    today = today or dt.datetime.now(dt.UTC).date()
    others = sorted(set(other_units) - {recognized.unit_id})
    adopters = rng.sample(others, k=min(rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5, 6)), len(others)))
    visits = [(rng.choice(others), min(first_day + dt.timedelta(days=rng.randint(10, 170)), today), rng.randint(8, 40))
              for _ in range(rng.choice((0, 1, 1, 2, 3)) if others else 0)]
    year = first_day.year
    key, reporter = recognized.exemplar_id, f"{recognized.unit_id}-02"
    first_trend = rng.choices((Trend.GROWING, Trend.MAINTAINED, Trend.DECLINING), weights=(5, 3, 2))[0]
    first_asks = first_trend is Trend.DECLINING or (first_trend is Trend.MAINTAINED and rng.random() < 0.2)
    if first_asks:
        second_trend = rng.choice((Trend.GROWING, Trend.MAINTAINED)) if rng.random() < 0.6 else Trend.DECLINING
    else:
        second_trend = rng.choices((Trend.GROWING, Trend.MAINTAINED, Trend.DECLINING), weights=(45, 40, 15))[0]
    # Visits first, replications last: when the last review or replication is answered, the
    # service has applied everything before it (one key, one partition, in order).
    data: list = [VisitReported(exemplar_id=key, visiting_unit_id=unit, visited_on=day, participants=participants,
                                note="Đoàn tham quan, trao đổi kinh nghiệm") for unit, day, participants in visits]
    for half, trend, asks, new in ((1, first_trend, first_asks, adopters[:1]),
                                   (2, second_trend, second_trend is Trend.DECLINING, adopters[1:2])):
        difficulty, request = rng.choice(DIFFICULTIES)
        in_half = sum(1 for _, day, _ in visits if (day.month <= 6) == (half == 1) and day.year == year)
        data.append(ReviewReported(
            exemplar_id=key, period=f"{year}-H{half}", influence=_influence(rng, trend), trend=trend,
            new_adopting_units=new, study_visits=in_half, difficulties=difficulty if asks else None,
            needs_support=asks, support_requested=request if asks else None, reported_by=reporter))
    for n, unit in enumerate([*adopters, *adopters[:1]]):
        data.append(ReplicationReported(exemplar_id=key, adopting_unit_id=unit,
                                        applied_on=min(first_day + dt.timedelta(days=25 * n), today),
                                        description="Áp dụng quy trình và phần mềm của mô hình", reported_by=f"{unit}-02"))
    return [new_event(d, key=key, source=SOURCE, id_parts=(key, d.event_type, str(n))) for n, d in enumerate(data)]


def own_unit_replication(recognized: ExemplarRecognized, applied_on: dt.date) -> Event:
    """A unit reporting its own model as replicated: the service refuses it (OWN_UNIT)."""
    key = recognized.exemplar_id
    data = ReplicationReported(exemplar_id=key, adopting_unit_id=recognized.unit_id, applied_on=applied_on,
                               description="Mở rộng mô hình ra các phòng trong đơn vị",
                               reported_by=f"{recognized.unit_id}-02")
    return new_event(data, key=key, source=SOURCE, id_parts=(key, data.event_type, "own-unit"))


def _influence(rng: random.Random, trend: Trend) -> int:
    return {Trend.GROWING: rng.randint(4, 5), Trend.MAINTAINED: rng.randint(3, 4), Trend.DECLINING: rng.randint(2, 3)}[trend]


def answer_ids(event: Event, types: Sequence[str]) -> set[str]:
    """The ids the evaluations service would give its answer to `event`, whichever type it is."""
    return {derived_id(event.dedup_key, t) for t in types}


FOLLOW_UP_TYPES = ("exemplar.review_recorded", "exemplar.replicated", "evaluation.input_rejected")
FOLLOW_UP_DAYS = 200  # how long after its first day a year of follow-up may reach


class Responder:
    """Plays evaluators, the council and the units for the feed's own nominations.

    Give it every event the services publish (`observe`): it answers those about the
    nominations it was told of (`expect`) and ignores the rest, once per event id, since
    the services republish an answer when an input is redelivered. `pending` says what is
    still awaited; empty means the phase has run to its end.
    """

    def __init__(self, registry: CriteriaRegistry, adopting_units: Sequence[tuple[str, dt.date, dt.date | None]], *,
                 seed: int = 7, today: dt.date | None = None, conflict_rate: float = 0.1,
                 own_unit_rate: float = 0.15) -> None:
        self.registry, self.units, self.seed = registry, list(adopting_units), seed
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.conflict_rate, self.own_unit_rate = conflict_rate, own_unit_rate
        self.years: dict[str, int] = {}  # our nominations
        self.withdrawing: set[str] = set()
        self.answered: dict[str, str] = {}  # nomination id -> accepted | rejected
        self.closed: dict[str, str] = {}  # nomination id -> recognized | not_recognized (the council decided)
        self.withdrawn: set[str] = set()  # confirmed by the nominations service
        self.cancelled: set[str] = set()  # the evaluation closed by the evaluations service
        self.incomplete: set[str] = set()
        self.panels: dict[str, PanelAssigned] = {}
        self.seats: dict[str, list[str]] = {}
        self.awaiting: dict[str, str] = {}  # input event id -> what it is, until the service answers it
        self.answers: dict[str, str] = {}  # every id the answer may have -> input event id
        self.seen: dict[str, str] = {}  # every event id read, with its type
        self.sent: dict[str, int] = {}
        self.refused = 0

    def expect(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.type == "nomination.submitted":
                self.years[event.data.nomination_id] = event.data.year
            elif event.type == "nomination.withdrawn":
                self.withdrawing.add(event.data.nomination_id)

    def unanswered(self, events: Iterable[Event]) -> list[str]:
        return [e.data.nomination_id for e in events
                if e.type == "nomination.submitted" and e.data.nomination_id not in self.answered]

    def pending(self) -> list[str]:
        waiting = [f"{nid}: no answer to the submission" for nid in self.years if nid not in self.answered]
        for nid, answer in self.answered.items():
            if answer != "accepted" or nid in self.closed:
                continue
            if nid in self.withdrawing:
                if nid not in self.withdrawn or nid not in self.cancelled:
                    waiting.append(f"{nid}: withdrawal not confirmed and its evaluation not cancelled")
            elif nid in self.incomplete and nid not in self.panels:
                waiting.append(f"{nid}: panel incomplete (too few evaluators in the directory)")
            else:
                waiting.append(f"{nid}: no council decision yet")
        return waiting + [f"{what}: no answer yet" for what in self.awaiting.values()]

    def observe(self, event: Event) -> list[Event]:
        if event.id in self.seen:
            return []
        self.seen[event.id] = event.type
        self._answered(event.id, event.type)
        nid = getattr(event.data, "nomination_id", None)
        if nid not in self.years:
            return []
        replies = self._react(event, nid)
        for reply in replies:
            self.sent[reply.type] = self.sent.get(reply.type, 0) + 1
        return replies

    def _react(self, event: Event, nid: str) -> list[Event]:
        data = event.data
        match event.type:
            case "nomination.accepted" | "nomination.rejected":
                self.answered.setdefault(nid, event.type.split(".")[1])
            case "nomination.withdrawn":
                self.withdrawn.add(nid)
            case "evaluation.cancelled":
                self.cancelled.add(nid)
            case "nomination.withdrawal_rejected":
                self.withdrawing.discard(nid)  # it goes on like any other: score it if its panel waits
                return self._score(self.panels[nid]) if nid in self.panels else []
            case "evaluation.panel_incomplete":
                self.incomplete.add(nid)
            case "evaluation.panel_assigned":
                self.panels[nid] = data
                return [] if nid in self.withdrawing else self._score(data)
            case "evaluation.evaluator_replaced" if data.replacement_id and nid in self.seats:
                seats = self.seats[nid]
                seat = seats.index(data.recused_id) if data.recused_id in seats else len(seats)
                seats[seat:seat + 1] = [data.replacement_id]
                return [sheet_for(self.panels[nid], seat, data.replacement_id, self.registry, self.seed)]
            case "evaluation.discussion_opened" if nid in self.panels:
                return discussion_for(data, self.panels[nid], self.seats.get(nid, []), self.registry, self.seed)
            case "evaluation.completed":
                return [decision_for(data, min(dt.date(data.year, 12, 20), self.today))]
            case "exemplar.recognized":
                self.closed[nid] = "recognized"
                return self._follow_up(data)
            case "exemplar.not_recognized":
                self.closed[nid] = "not_recognized"
        return []

    def _score(self, panel: PanelAssigned) -> list[Event]:
        self.seats[panel.nomination_id] = list(panel.evaluators)
        return scores_for(panel, self.registry, self.conflict_rate, self.seed)

    def _follow_up(self, recognized: ExemplarRecognized) -> list[Event]:
        first_day = min(dt.date(recognized.year + 1, 1, 15), self.today)
        last_day = first_day + dt.timedelta(days=FOLLOW_UP_DAYS)
        others = [uid for uid, start, end in self.units
                  if start is not None and start <= first_day and (end is None or end >= last_day)]
        events = follow_up_for(recognized, others, first_day, self.today, self.seed)
        if _rng(str(self.seed), recognized.exemplar_id, "mistake").random() < self.own_unit_rate:
            events.append(own_unit_replication(recognized, first_day))
        for event in events:
            if event.type != "exemplar.visit_reported":  # a recorded visit has no answer to wait for
                self.awaiting[event.id] = f"{event.type} {event.data.exemplar_id}"
                ids = answer_ids(event, FOLLOW_UP_TYPES)
                self.answers.update(dict.fromkeys(ids, event.id))
                # Replaying a log, the answer (another key, another partition) may have been read already.
                for answer in ids & self.seen.keys():
                    self._answered(answer, self.seen[answer])
        return events

    def _answered(self, answer_id: str, answer_type: str) -> None:
        if (input_id := self.answers.pop(answer_id, None)) is not None and self.awaiting.pop(input_id, None):
            self.refused += answer_type == "evaluation.input_rejected"
