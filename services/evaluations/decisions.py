"""What every evaluations handler shares: the documents' names, the answers' ids and times.

Documents (collection: id -> fields), all written through the unit of work
(`shared/unit_of_work.py`) in the commit of the input that changed them:
- evaluations: nomination id -> panel, recusals, vacancies, sheets, status, result, decision;
- loads: evaluator id -> `open`, the evaluations they sit on that are still scoring, and `n`;
- exemplars: "EX-" + nomination id -> the council's decision and the follow-up's counters;
- reviews, replications, visits: one document per report (a review: per exemplar and period);
- units: unit id -> name, parent, validity; staff: staff id -> unit, roles, fields, removed.
"""

import datetime as dt
from typing import Any, TypeVar

from shared.envelope import Event, new_event
from shared.events import InputRejected, Payload, Reason
from shared.unit_of_work import Decision

SOURCE = "urn:exemplars:evaluations"
EVALUATIONS, LOADS, EXEMPLARS, UNITS, STAFF = "evaluations", "loads", "exemplars", "units", "staff"
REVIEWS, REPLICATIONS, VISITS = "reviews", "replications", "visits"
P = TypeVar("P", bound=Payload)


def refuse(event: Event, reasons: list[Reason], *, subject: str, sender: str | None = None) -> Decision:
    """A refusal changes no document: it is only the input's answer."""
    return Decision.of(publish=[rejected(event, reasons, subject=subject, sender=sender)])


def rejected(event: Event, reasons: list[Reason], *, subject: str, sender: str | None) -> Event:
    return new_event(InputRejected(input_type=event.type, input_id=event.id, subject=subject, sender_id=sender,
                                   reasons=reasons), key=subject, source=SOURCE, derived_from=event, time=now())


def make(model: type[P], **values: Any) -> P:
    """A payload from stored plain values: the models are strict (no str for an enum) on purpose
    for producers' input, while our own documents hold JSON-ish values."""
    return model.model_validate(values, strict=False)


def derived(data, event: Event, key: str, *parts: str) -> Event:
    return new_event(data, key=key, source=SOURCE, derived_from=event, id_parts=parts, time=now())


def now() -> dt.datetime:
    """Milliseconds, as BSON stores them: a republished answer is identical to the first."""
    current = dt.datetime.now(dt.UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def review_id(exemplar_id: str, period: str) -> str:
    return f"{exemplar_id}|{period}"
