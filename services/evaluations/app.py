"""The evaluations service: broker, subscribers, publisher, reminder schedule, lifespan."""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream import FastStream

from services.evaluations.api import create_api
from services.evaluations.criteria import load_criteria
from services.evaluations.follow_up import FollowUp
from services.evaluations.handlers import Lifecycle
from services.evaluations.reminders import due_reminders
from services.evaluations.settings import EvaluationsSettings
from services.evaluations.store import EvaluationStore
from shared import kafka, mongo, topics
from shared.clock import Clock, clock_for
from shared.events import EvaluationCompleted
from shared.programme import load_programme

SERVICE = "evaluations"
log = logging.getLogger("exemplars.evaluations")


def create_app(settings: EvaluationsSettings, clock: Clock | None = None) -> FastAPI:
    # Both refuse to start on a malformed file: a wrong weight would bias a year of evaluations.
    programme = load_programme(settings.programme_file)
    registry = load_criteria(settings.criteria_dir)
    policy = programme.evaluation
    client = mongo.connect(settings)
    store = EvaluationStore(client[settings.mongo_database])
    lifecycle = Lifecycle(store, registry, policy, settings.replacement_min_days)
    follow_up = FollowUp(store)
    dead_letters = kafka.DeadLetterCounter()
    clock = clock or clock_for(settings.clock_today)

    broker = kafka.make_broker(settings, SERVICE)
    common = dict(service=SERVICE, output_topic=topics.EVALUATIONS, settings=settings, dead_letters=dead_letters)
    kafka.subscribe(broker, topics.EVALUATIONS_INTAKE, name="intake", ignore_unhandled=False, handlers={
        "evaluation.score_submitted": lifecycle.score_submitted,
        "evaluation.conflict_declared": lifecycle.conflict_declared,
        "council.decision_recorded": lifecycle.council_decision,
        "exemplar.review_reported": follow_up.review_reported,
        "exemplar.replication_reported": follow_up.replication_reported,
        "exemplar.visit_reported": follow_up.visit_reported,
    }, **common)
    kafka.subscribe(broker, topics.NOMINATIONS, name="nominations", ignore_unhandled=True, handlers={
        "nomination.accepted": lifecycle.accepted,
        "nomination.withdrawn": lifecycle.withdrawn,
    }, **common)
    kafka.subscribe(broker, topics.DIRECTORY, name="directory", ignore_unhandled=False, handlers={
        "unit.registered": _unit_registered(store),
        "staff.registered": _staff(store.apply_staff, lifecycle),
        "staff.removed": _staff(store.remove_staff, lifecycle),
    }, **common)
    # Declared for the AsyncAPI document; publishing goes through kafka.publish.
    broker.publisher(topics.EVALUATIONS, title="evaluations.out", schema=EvaluationCompleted,
                     description="evaluation.panel_assigned, .panel_incomplete, .evaluator_replaced, .reminder, "
                                 ".overdue, .completed, .cancelled, .input_rejected; exemplar.recognized, "
                                 ".not_recognized, .review_recorded, .support_needed, .replicated")
    FastStream(broker, logger=log)  # registers the app for `faststream docs gen`

    async def reminder_schedule() -> None:
        while True:
            try:
                pending = await due_reminders(store, policy, clock())
                if pending:
                    await kafka.publish(broker, kafka.outgoing(topics.EVALUATIONS, pending), settings)
                    await store.mark_notices_published(pending)
                    log.info("published %d reminders and overdue notices", len(pending))
            except Exception:  # noqa: BLE001 - an outage or a bug must not end the schedule
                log.exception("reminder check failed; trying again at the next interval")
            await asyncio.sleep(settings.reminder_check_seconds)

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await store.ensure_indexes()
        await broker.start()
        schedule = asyncio.create_task(reminder_schedule(), name="reminder-schedule")
        log.info("evaluations service started with %d criteria sets", len(registry.all()))
        try:
            yield
        finally:
            schedule.cancel()
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await client.close()
            log.info("evaluations service stopped")

    return create_api(store, registry, readiness, lifespan)


def _unit_registered(store: EvaluationStore):
    async def handle(event):
        await store.apply_unit(event)
        return []
    return handle


def _staff(apply, lifecycle: Lifecycle):
    async def handle(event):
        await apply(event)  # the directory first: the panel rules read it
        return await lifecycle.staff_changed(event)
    return handle
