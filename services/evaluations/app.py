"""The evaluations service: broker, subscribers, publisher, reminder schedule, lifespan."""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.evaluations.api import create_api
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import SOURCE
from services.evaluations.handlers import Evaluations
from services.evaluations.reminders import discussions_ended, due_reminders
from services.evaluations.settings import EvaluationsSettings
from services.evaluations.store import EvaluationStore
from shared import asyncapi, kafka, mongo, topics
from shared.clock import Clock, clock_for
from shared.credentials import Credentials
from shared.events import DiscussionTimeUp
from shared.http import with_operations
from shared.kafka_security import client_options
from shared.lag import LagProbe
from shared.metrics import ServiceMetrics
from shared.outages import until_available
from shared.programme import load_programme
from shared.readers import read_access
from shared.schedule import publish_on_schedule
from shared.vault import MongoVault

SERVICE = "evaluations"
DESCRIPTION = """The evaluations service: builds a panel for every accepted nomination (never from the
nominee's unit), takes the evaluators' scores against the field's criteria set, computes the
recommendation, turns the council's decision into a recognition, and follows recognised
exemplars (reviews, support needed, replication, study visits). It is the only writer of
exemplars.evaluations."""
CLOCK_CHANNEL = "evaluations.intake.clock"  # what the service sends to its own intake
log = logging.getLogger("exemplars.evaluations")


def create_app(settings: EvaluationsSettings, clock: Clock | None = None) -> FastAPI:
    # Both refuse to start on a malformed file: a wrong weight would bias a year of evaluations.
    programme = load_programme(settings.programme_file)
    registry = load_criteria(settings.criteria_dir)
    policy = programme.evaluation
    client = mongo.connect(settings)
    store = EvaluationStore(client[settings.mongo_database])
    handlers = Evaluations(registry, policy, settings.replacement_min_days)
    clock = clock or clock_for(settings.clock_today)

    credentials = Credentials.from_settings(settings, SERVICE, SOURCE)  # refuses to start without them
    vault = MongoVault.connect(client, settings.keys_database)  # the persons' keys (shared/personal.py)
    access = read_access(settings)  # likewise: reads are never open

    metrics = ServiceMetrics(SERVICE)
    broker = kafka.make_broker(settings, SERVICE, metrics.middlewares)
    lag = LagProbe(settings.kafka_bootstrap_servers, client_options(settings))
    directory_read = kafka.directory_first(lag, settings, SERVICE)
    gates = {topic: directory_read for topic in (topics.NOMINATIONS, topics.EVALUATIONS_INTAKE)}
    metrics.track_units(kafka.subscribe_units(broker, SERVICE, handlers, store.documents, settings, credentials, vault,
                                              gates))
    # Declared for the AsyncAPI document; publishing goes through kafka.publish.
    broker.publisher(topics.EVALUATIONS, title="evaluations.out",
                     description="Panels, reminders, results, recognitions, follow-up, and refused inputs.")
    broker.publisher(topics.EVALUATIONS_INTAKE, title=CLOCK_CHANNEL,
                     description="The end of a discussion's time box: the service's own input, so a rebuild replays it.")
    metrics.track_lag(lag, [(sub.group_id, sub.topic) for sub in kafka.subscriptions(broker)])

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await until_available(store.ensure_indexes, "creating indexes")
        await kafka.start(broker)
        schedule = asyncio.create_task(publish_on_schedule(
            what="reminders and overdue notices", every=settings.reminder_check_seconds, topic=topics.EVALUATIONS,
            broker=broker, settings=settings, signer=credentials.signer,
            decide=lambda: due_reminders(store, policy, clock()),
            mark_published=store.mark_notices_published), name="reminder-schedule")
        time_boxes = asyncio.create_task(publish_on_schedule(
            what="ends of discussions", every=settings.reminder_check_seconds, topic=topics.EVALUATIONS_INTAKE,
            broker=broker, settings=settings, signer=credentials.signer,
            decide=lambda: discussions_ended(store, clock()),
            mark_published=_nothing_to_mark), name="discussion-schedule")
        log.info("evaluations service started with %d criteria sets", len(registry.all()))
        try:
            yield
        finally:
            schedule.cancel()
            time_boxes.cancel()
            await lag.close()
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await client.close()
            log.info("evaluations service stopped")

    api = create_api(store, registry, access, readiness, lifespan)

    def document() -> dict:
        return asyncapi.document(broker, service=SERVICE, description=DESCRIPTION,
                                 sends={CLOCK_CHANNEL: (DiscussionTimeUp.event_type,)})

    return with_operations(api, metrics, document, settings)


async def _nothing_to_mark(_: list) -> None:
    """A time-up stays due until the evaluation it ends has left `discussion` (see reminders)."""
