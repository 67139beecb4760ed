"""The nominations service: broker, subscribers, publisher, lifespan."""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream import FastStream

from services.nominations.api import create_api
from services.nominations.handlers import Handlers
from services.nominations.settings import NominationsSettings
from services.nominations.store import NominationStore
from shared import kafka, mongo, topics
from shared.clock import Clock, clock_for
from shared.events import NominationAccepted
from shared.lag import LagProbe
from shared.programme import load_programme

SERVICE = "nominations"
log = logging.getLogger("exemplars.nominations")


def create_app(settings: NominationsSettings, clock: Clock | None = None) -> FastAPI:
    programme = load_programme(settings.programme_file)
    client = mongo.connect(settings)
    store = NominationStore(client[settings.mongo_database])
    handlers = Handlers(store, programme)
    dead_letters = kafka.DeadLetterCounter()
    clock = clock or clock_for(settings.clock_today)

    broker = kafka.make_broker(settings, SERVICE)
    common = dict(service=SERVICE, output_topic=topics.NOMINATIONS, settings=settings, dead_letters=dead_letters)
    kafka.subscribe(broker, topics.NOMINATIONS_INTAKE, name="intake", ignore_unhandled=False, handlers={
        "nomination.submitted": handlers.submitted,
        "nomination.withdrawn": handlers.withdrawn,
    }, **common)
    kafka.subscribe(broker, topics.DIRECTORY, name="directory", ignore_unhandled=False, handlers={
        "unit.registered": handlers.unit_registered,
        "staff.registered": handlers.staff_registered,
        "staff.removed": handlers.staff_removed,
    }, **common)
    kafka.subscribe(broker, topics.EVALUATIONS, name="evaluations", ignore_unhandled=True, handlers={
        "evaluation.completed": handlers.evaluation_completed,
        "exemplar.recognized": handlers.recognized,
        "exemplar.not_recognized": handlers.not_recognized,
    }, **common)
    # Declared for the AsyncAPI document; publishing goes through kafka.publish.
    broker.publisher(topics.NOMINATIONS, title="nominations.out", schema=NominationAccepted,
                     description="nomination.accepted, .rejected, .withdrawn, .withdrawal_rejected, unit.quota_shortfall")
    FastStream(broker, logger=log)  # registers the app for `faststream docs gen`

    lag = LagProbe(settings.kafka_bootstrap_servers)

    async def shortfall_schedule() -> None:
        await asyncio.sleep(settings.shortfall_first_check_seconds)
        while True:
            try:
                # A unit is short only if none of the nominations already sent are still
                # unread: after a restart or a backlog, catch up first (every instance's
                # commits count, so this holds with several instances too).
                await lag.wait_caught_up(kafka.group_id(settings, SERVICE, "directory"), [topics.DIRECTORY])
                await lag.wait_caught_up(kafka.group_id(settings, SERVICE, "intake"), [topics.NOMINATIONS_INTAKE])
                pending = await handlers.shortfalls(clock())
                if pending:
                    await kafka.publish(broker, kafka.outgoing(topics.NOMINATIONS, pending), settings)
                    await store.mark_shortfalls_published(pending)
                    log.info("published %d quota shortfall notices", len(pending))
            except Exception:  # noqa: BLE001 - an outage or a bug must not end the schedule
                log.exception("shortfall check failed; trying again at the next interval")
            await asyncio.sleep(settings.shortfall_check_seconds)

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await store.ensure_indexes()
        await broker.start()
        schedule = asyncio.create_task(shortfall_schedule(), name="shortfall-schedule")
        log.info("nominations service started")
        try:
            yield
        finally:
            schedule.cancel()
            await lag.close()
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await client.close()
            log.info("nominations service stopped")

    return create_api(store, programme, readiness, lifespan)
