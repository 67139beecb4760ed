"""Rebuild the notifications projection from the log, in memory, mailing nobody (see
shared/replay.py).

The service's own handlers run through the same unit of work as live, over memory, each
input decided at the time the log received it (live decided at about that moment). The
delivery worker does not run, so nothing is sent and nothing is published. (The age limit
compares that clock with the record's receive time, so a record that waited in Kafka past
`max_event_age_days` was not notified live but is rebuilt as notified, and the comparison
reports it; the go-live cut-off, `notify_after`, depends on the receive time alone and is
rebuilt exactly.)

The worker's decisions are taken from the log: every `notification.sent` / `.failed` it
published is one more input, handled by `Notifications.finished`, which finishes the
delivery it names with the fields the worker writes. An outcome is folded in when the
replay's time passes its stamp, and never before the input that planned its delivery (the
clocks of two machines may disagree). The mail subject is not in the log; it is rendered
again with the worker's own functions (`letters.py`) from the stored event and the
directory as the replay then stands. A rename racing a send can therefore show as a
different subject: the comparison reports it rather than excusing it.

A person erased since reads "đã xóa" in the log (shared/personal.py): they are planned for as
live planned them (`directory.staff_fields` keeps an erased address), and what a rebuild writes
of them ("đã xóa" names, addresses and subjects) is what `person.erased` wrote live.

An outcome for a delivery the replay did not plan is a divergence (`answers.divergent`).
A delivery with no logged outcome is left pending and due: after a switch the worker sends
it. That includes a message sent just before the log was read whose outcome was not yet
published (the worker's outbox), which may so reach its recipient twice: the same
at-least-once window as a crash between the send and the outcome, and the reason to
compare before switching (the live document says `sent`, the rebuilt one `pending`).
"""

import datetime as dt
import logging

from services.notifications.domain import PENDING, SENDING
from services.notifications.handlers import (
    DELIVERIES,
    EVENTS,
    NOMINATIONS,
    PACING,
    STAFF,
    UNITS,
    Notifications,
)
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from shared import replay, topics
from shared.envelope import Event
from shared.events import NotificationFailed, NotificationSent
from shared.replay import Answers, Comparison, Logged
from shared.unit_of_work import ANSWERS

log = logging.getLogger("exemplars.notifications.rebuild")

OUTCOMES = (NotificationSent.event_type, NotificationFailed.event_type)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _deliveries(doc: dict) -> dict:
    """What the log cannot know about a delivery's worker, made comparable."""
    if doc.get("status") in (PENDING, SENDING):
        # Tries that failed for now publish nothing, and a claim in flight is the worker's
        # timing: the rebuilt delivery is pending with a fresh retry budget.
        doc["status"] = PENDING
        for name in ("attempts", "last_error", "lease_until"):
            doc.pop(name, None)
    return doc


COMPARISON: dict[str, Comparison] = {
    # Written from the directory events alone, under the log-position guard.
    UNITS: Comparison(),
    STAFF: Comparison(),
    # `rev` counted the writes before the unit of work; a document written since has none.
    NOMINATIONS: Comparison(ignore=frozenset({"rev"})),
    # The notified event as logged, and how many deliveries its planning recorded.
    EVENTS: Comparison(),
    # created_at and next_attempt_at are the handler's clock (live: when it processed the
    # record, rebuilt: when the record arrived), paced slots included; updated_at and
    # claimed_by are the worker's timing and identity. See `_deliveries`.
    DELIVERIES: Comparison(ignore=frozenset({"created_at", "updated_at", "next_attempt_at", "claimed_by"}),
                           normalize=_deliveries),
    # The next free publicity slot is wall-clock; whether any was reserved is compared.
    PACING: Comparison(ignore=frozenset({"next_slot"})),
    # Every input's answer: no handler of this service publishes, so each is empty.
    ANSWERS: Comparison(),
}


def with_outcomes(inputs: list[Logged], answers: Answers) -> list[Logged]:
    """The inputs, and each logged outcome as a record of the service's own output topic,
    received at its stamp but never before the input that planned its delivery (at equal
    times the input goes first: its topic sorts before the output topic in the replay)."""
    planned_at = {record.event.id: _aware(record.at) for record in inputs}

    def at(outcome: Event) -> dt.datetime:
        input_at = planned_at.get(outcome.data.notified_event_id)
        return max(_aware(outcome.time), input_at) if input_at is not None else _aware(outcome.time)

    outcomes = sorted(answers.of_type(*OUTCOMES), key=lambda e: (at(e), e.id))
    return [*inputs, *(Logged(topics.NOTIFICATIONS, 0, n, at(e), e) for n, e in enumerate(outcomes))]


async def rebuild(inputs: list[Logged], answers: Answers, settings: NotificationsSettings) -> dict[str, list[dict]]:
    """The notifications projection the log implies, as the live service's documents."""
    handlers = Notifications(settings, default_routes(), now=lambda event: event.received_at, outcomes=True)
    records = with_outcomes(inputs, answers)
    divergent_before = len(answers.divergent)
    documents = await replay.run(records, handlers, answers)
    # The outcomes were this rebuild's inputs, never the live service's: no answers of theirs.
    kept = documents.collections.get(ANSWERS, {})
    for record in records:
        if record.topic == topics.NOTIFICATIONS:
            kept.pop(record.event.dedup_key, None)
    unmatched = len(answers.divergent) - divergent_before
    docs = documents.documents()
    log.info("rebuilt notifications from %d records: %d deliveries, %d outcomes unmatched", len(records),
             len(docs.get(DELIVERIES, [])), unmatched)
    if unmatched:
        log.warning("%d logged outcomes name deliveries the replay did not plan", unmatched)
    return docs

