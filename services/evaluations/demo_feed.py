"""The evaluations half of the demo feed: what evaluators, councils and units would send.

Panels are the service's decision, so the feed answers the service's own events: give it
`evaluation.panel_assigned` and it returns score sheets, give it `evaluation.completed`
and it returns the council's decision, give it `exemplar.recognized` and it returns a
year of follow-up. Deterministic per nomination, so a demo replays identically.
"""

import datetime as dt
import hashlib
import random

from services.evaluations.criteria import CriteriaRegistry
from shared.envelope import Event, new_event
from shared.events import (
    ConflictDeclared,
    CouncilDecisionRecorded,
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


def _rng(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:16], 16))


def scores_for(panel: PanelAssigned, registry: CriteriaRegistry, conflict_rate: float = 0.1) -> list[Event]:
    """One sheet per evaluator around the model's quality; now and then a declared conflict instead."""
    criteria = registry.for_(panel.field, panel.nominee_kind).criteria
    rng = _rng(panel.nomination_id)
    quality = rng.choice([0.9, 0.82, 0.76, 0.72, 0.62, 0.55, 0.4])  # most are good, some to foster, few weak
    events = []
    for n, evaluator in enumerate(panel.evaluators):
        key = panel.nomination_id
        if n == 0 and rng.random() < conflict_rate:
            data = ConflictDeclared(nomination_id=key, evaluator_id=evaluator,
                                    reason="Có quan hệ công tác trực tiếp với tập thể được đề cử")
        else:
            own = min(max(quality + rng.uniform(-0.08, 0.08), 0.0), 1.0)
            data = ScoreSubmitted(nomination_id=key, evaluator_id=evaluator,
                                  scores={c.id: round(c.maximum * own) for c in criteria},
                                  comment="Mô hình có kết quả cụ thể, cần bổ sung số liệu lan tỏa.")
        events.append(new_event(data, key=key, source=SOURCE, id_parts=(key, evaluator, data.event_type)))
    return events


def decision_for(completed: EvaluationCompleted, decided_on: dt.date) -> Event:
    """The council follows the panel; the strongest models are recognised at ministry level."""
    recognized = completed.outcome is Outcome.RECOGNIZE
    level = (RecognitionLevel.MINISTRY if completed.total >= 85 else RecognitionLevel.UNIT) if recognized else None
    data = CouncilDecisionRecorded(nomination_id=completed.nomination_id, recognized=recognized, level=level,
                                   decision_ref=f"{_rng(completed.nomination_id).randint(100, 999)}/QĐ-BNNMT",
                                   decided_on=decided_on)
    return new_event(data, key=completed.nomination_id, source=SOURCE, id_parts=(completed.nomination_id, "council"))


def follow_up_for(recognized: ExemplarRecognized, other_units: list[str], first_day: dt.date) -> list[Event]:
    """Two half-year reviews (the second sometimes declining and asking for support),
    replications by other units (one reported twice) and a study visit."""
    rng = _rng(recognized.exemplar_id)
    others = sorted(u for u in other_units if u != recognized.unit_id)
    adopters = rng.sample(others, k=min(3, len(others)))
    declining = rng.random() < 0.3
    year = first_day.year
    key, reporter = recognized.exemplar_id, f"{recognized.unit_id}-02"
    data = [
        ReviewReported(exemplar_id=key, period=f"{year}-H1", influence=4, trend=Trend.GROWING,
                       new_adopting_units=adopters[:1], study_visits=1, reported_by=reporter),
        ReviewReported(exemplar_id=key, period=f"{year}-H2", influence=3 if declining else 5,
                       trend=Trend.DECLINING if declining else Trend.MAINTAINED, new_adopting_units=adopters[1:2],
                       difficulties="Thiếu kinh phí duy trì hệ thống" if declining else None,
                       needs_support=declining, support_requested="Hỗ trợ kinh phí và tập huấn" if declining else None,
                       reported_by=reporter),
    ]
    for n, unit in enumerate([*adopters, *adopters[:1]]):  # the first adopter reports twice: counted once
        data.append(ReplicationReported(exemplar_id=key, adopting_unit_id=unit, applied_on=first_day + dt.timedelta(days=30 * n),
                                        description="Áp dụng quy trình và phần mềm của mô hình", reported_by=f"{unit}-02"))
    if others:
        data.append(VisitReported(exemplar_id=key, visiting_unit_id=others[-1], visited_on=first_day + dt.timedelta(days=45),
                                  participants=15, note="Đoàn tham quan, trao đổi kinh nghiệm"))
    return [new_event(d, key=key, source=SOURCE, id_parts=(key, d.event_type, str(n))) for n, d in enumerate(data)]
