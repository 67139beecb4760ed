"""Decide once per input event, whatever the redeliveries and the concurrent writers."""

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from services.evaluations.store import Conflict, EvaluationStore, Record
from shared.envelope import Event, new_event
from shared.events import InputRejected, Payload, Reason

SOURCE = "urn:exemplars:evaluations"
P = TypeVar("P", bound=Payload)
# Rereads after a lost race before the event goes back to the consumer's retry.
ATTEMPTS = 20


@dataclass
class Decision:
    output: list[Event] = field(default_factory=list)
    changes: dict[str, Any] | None = None  # None: nothing to write (and nothing to remember)
    reasons: list[Reason] = field(default_factory=list)  # non-empty: refuse the input
    # History documents the change adds (`store.record`), written after it from its outbox entry.
    records: list[Record] = field(default_factory=list)


Decide = Callable[[dict[str, Any] | None], Awaitable[Decision]]


async def decide_once(store: EvaluationStore, collection: AsyncCollection, doc_id: str, event: Event, decide: Decide,
                      *, subject: str, sender: str | None = None) -> list[Event]:
    """Run `decide` on the current document and commit its changes with the answer, or return
    the answer given before. A refusal is remembered on its own: the document does not change."""
    for _ in range(ATTEMPTS):
        doc, answer = await store.load(collection, doc_id, event)
        if answer is not None:
            return answer
        decision = await decide(doc)
        if decision.reasons:
            answer = [rejected(event, decision.reasons, subject=subject, sender=sender)]
            await store.keep_refusal(collection, doc_id, event, answer)
            return answer
        if decision.changes is None or doc is None:
            return decision.output
        if await store.commit(collection, doc, decision.changes, event, decision.output, decision.records):
            return decision.output
    raise Conflict(f"{collection.name}/{doc_id} kept changing while {event.type} {event.id} was applied")


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
