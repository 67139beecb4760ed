"""What the clock decides, on an injectable clock: reminders before the scoring deadline,
overdue notices after it, and the end of a discussion's time box.

Each notice is decided once (its id is the evaluation, the evaluator and the step), stored
before it is published and republished until marked published, so a crash between the
two, or a second instance running the same schedule, neither loses nor doubles one.
"""

import datetime as dt

from services.evaluations import domain
from services.evaluations.decisions import SOURCE, make, now
from services.evaluations.store import EvaluationStore
from shared.days import date
from shared.envelope import Event, new_event
from shared.events import DiscussionTimeUp, EvaluationOverdue, EvaluationReminder
from shared.programme import EvaluationPolicy


async def due_reminders(store: EvaluationStore, policy: EvaluationPolicy, today: dt.date) -> list[Event]:
    """Decide what is due by `today` and return every notice not yet published."""
    horizon = max(policy.reminder_days_before, default=0)
    for doc in await store.due_for_reminders(today, horizon):
        if not doc.get("opened"):
            continue  # nobody was told of a panel yet
        scored = {s["evaluator_id"] for s in doc["sheets"]}
        pending = [member for member in doc["panel"] if member not in scored]
        deadline = date(doc["deadline"])
        notices = domain.due_notices(deadline=deadline, today=today, pending=pending,
                                     sent=await store.sent_notices(doc["_id"]),
                                     reminder_days=policy.reminder_days_before)
        for notice in notices:
            if notice.overdue:
                data = make(EvaluationOverdue, nomination_id=doc["_id"], evaluator_id=notice.evaluator_id,
                            title=doc["title"], deadline=deadline, days_overdue=notice.days)
            else:
                data = make(EvaluationReminder, nomination_id=doc["_id"], evaluator_id=notice.evaluator_id,
                            title=doc["title"], deadline=deadline, days_left=notice.days)
            event = new_event(data, key=doc["_id"], source=SOURCE, id_parts=(doc["_id"], notice.evaluator_id, notice.key),
                              time=now())
            await store.add_notice(doc["_id"], notice.evaluator_id, notice.key, event)
    return await store.unpublished_notices()


async def discussions_ended(store: EvaluationStore, today: dt.date) -> list[Event]:
    """A time-up, for the intake, for every discussion whose last day is before `today`.

    Nothing is stored: the evaluation's own state is what is pending (it leaves `discussion`
    when the time-up is handled), so a run after a crash or a failed publish sends it again,
    under the same id, which the intake's consumer takes once.
    """
    ended = []
    for doc in await store.discussions_past(today):
        closes_on = date(doc["discussion"]["closes_on"])
        ended.append(new_event(DiscussionTimeUp(nomination_id=doc["_id"], closes_on=closes_on), key=doc["_id"],
                               source=SOURCE, id_parts=(doc["_id"], closes_on.isoformat()), time=now()))
    return ended
