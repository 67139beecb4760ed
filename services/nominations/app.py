"""The nominations service: broker, subscribers, publisher, lifespan."""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.nominations.api import create_api
from services.nominations.handlers import SOURCE, Nominations
from services.nominations.settings import NominationsSettings
from services.nominations.store import NominationStore
from shared import asyncapi, kafka, mongo, topics
from shared.clock import Clock, clock_for
from shared.credentials import Credentials
from shared.envelope import Event
from shared.http import with_operations
from shared.kafka_security import client_options
from shared.lag import LagProbe
from shared.metrics import ServiceMetrics
from shared.outages import until_available
from shared.programme import load_programme
from shared.readers import read_access
from shared.schedule import publish_on_schedule
from shared.vault import MongoVault

SERVICE = "nominations"
DESCRIPTION = """The nominations service: checks each unit's nominations against the directory and the
programme (open years, fields, yearly quota, one nomination per nominee and year), answers
every submission and withdrawal, and tells units below the yearly minimum after the
reminder date. It is the only writer of exemplars.nominations."""
log = logging.getLogger("exemplars.nominations")


def create_app(settings: NominationsSettings, clock: Clock | None = None) -> FastAPI:
    programme = load_programme(settings.programme_file)
    client = mongo.connect(settings)
    store = NominationStore(client[settings.mongo_database])
    handlers = Nominations(programme)
    clock = clock or clock_for(settings.clock_today)

    credentials = Credentials.from_settings(settings, SERVICE, SOURCE)  # refuses to start without them
    vault = MongoVault.connect(client, settings.keys_database)  # the persons' keys (shared/personal.py)
    access = read_access(settings)  # likewise: reads are never open

    metrics = ServiceMetrics(SERVICE)
    broker = kafka.make_broker(settings, SERVICE, metrics.middlewares)
    # The shortfall schedule's and the metrics'.
    lag = LagProbe(settings.kafka_bootstrap_servers, client_options(settings))
    directory_read = kafka.directory_first(lag, settings, SERVICE)
    gates = {topic: directory_read for topic in (topics.NOMINATIONS_INTAKE, topics.EVALUATIONS)}
    metrics.track_units(kafka.subscribe_units(broker, SERVICE, handlers, store.documents, settings, credentials, vault,
                                              gates))
    # Declared for the AsyncAPI document; publishing goes through kafka.publish.
    broker.publisher(topics.NOMINATIONS, title="nominations.out",
                     description="Answers to submissions and withdrawals, and quota shortfall notices.")

    metrics.track_lag(lag, [(sub.group_id, sub.topic) for sub in kafka.subscriptions(broker)])

    async def due_shortfalls() -> list[Event]:
        # A unit is short only if none of the nominations already sent are still unread:
        # after a restart or a backlog, catch up first (every instance's commits count, so
        # this holds with several instances too).
        await lag.wait_caught_up(kafka.group_id(settings, SERVICE, "directory"), [topics.DIRECTORY])
        await lag.wait_caught_up(kafka.group_id(settings, SERVICE, "intake"), [topics.NOMINATIONS_INTAKE])
        today = clock()
        years = sorted(programme.open_years)
        for event in handlers.shortfalls(today, await store.all_units(), await store.held_by_unit(years)):
            await store.add_shortfall(event)
        return await store.unpublished_shortfalls()

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await until_available(store.ensure_indexes, "creating indexes")
        await kafka.start(broker)
        schedule = asyncio.create_task(publish_on_schedule(
            what="quota shortfall notices", every=settings.shortfall_check_seconds,
            first_delay=settings.shortfall_first_check_seconds, topic=topics.NOMINATIONS, broker=broker,
            settings=settings, signer=credentials.signer, decide=due_shortfalls, mark_published=store.mark_shortfalls_published),
            name="shortfall-schedule")
        log.info("nominations service started")
        try:
            yield
        finally:
            schedule.cancel()
            await lag.close()
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await client.close()
            log.info("nominations service stopped")

    api = create_api(store, programme, access, readiness, lifespan)

    def document() -> dict:
        return asyncapi.document(broker, service=SERVICE, description=DESCRIPTION)

    return with_operations(api, metrics, document, settings)
