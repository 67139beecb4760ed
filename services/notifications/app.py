"""The notifications service: broker, subscribers, delivery worker, lifespan."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notifications.api import create_api
from services.notifications.delivery import SOURCE, DeliveryWorker, SmtpSender
from services.notifications.handlers import Notifications
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.store import NotificationStore
from services.notifications.webhooks import WebhookPolicy, WebhookSender
from shared import asyncapi, kafka, mongo, topics
from shared.credentials import Credentials
from shared.envelope import Event
from shared.http import with_operations
from shared.kafka_security import client_options
from shared.lag import LagProbe
from shared.metrics import ServiceMetrics
from shared.outages import until_available
from shared.readers import read_access
from shared.vault import MongoVault, keys_to_seal

SERVICE = "notifications"
DESCRIPTION = """The notifications service: keeps its own view of units and staff, routes the events of
the other services to the people concerned (by role and scope), and mails them in Vietnamese
(or calls their webhook), each delivery recorded first and retried with backoff. It is the
only writer of exemplars.notifications."""
log = logging.getLogger("exemplars.notifications")


def create_app(settings: NotificationsSettings) -> FastAPI:
    routes = default_routes()  # fails at start-up on an inconsistent routing table
    client = mongo.connect(settings)
    store = NotificationStore(client[settings.mongo_database])
    handlers = Notifications(settings, routes)

    credentials = Credentials.from_settings(settings, SERVICE, SOURCE)  # refuses to start without them
    vault = MongoVault.connect(client, settings.keys_database)  # the persons' keys (shared/personal.py)
    access = read_access(settings)  # likewise: reads are never open

    metrics = ServiceMetrics(SERVICE)
    broker = kafka.make_broker(settings, SERVICE, metrics.middlewares)
    lag = LagProbe(settings.kafka_bootstrap_servers, client_options(settings))
    directory_read = kafka.directory_first(lag, settings, SERVICE)
    gates = {topic: directory_read for topic in (topics.NOMINATIONS, topics.EVALUATIONS)}
    metrics.track_units(kafka.subscribe_units(broker, SERVICE, handlers, store.documents, settings, credentials, vault,
                                              gates))
    # Declared for the AsyncAPI document; the delivery worker publishes through kafka.publish.
    broker.publisher(topics.NOTIFICATIONS, title="notifications.out",
                     description="The final outcome of each delivery (one per event, recipient and channel).")
    metrics.track_lag(lag, [(sub.group_id, sub.topic) for sub in kafka.subscriptions(broker)])

    async def publish(events: list[Event]) -> None:
        keys = await keys_to_seal(vault, events)  # an address is personal: sealed in the log
        await kafka.publish(broker, kafka.outgoing(topics.NOTIFICATIONS, events, credentials.signer, keys=keys),
                            settings)

    webhooks = WebhookSender(WebhookPolicy.from_settings(settings))
    worker = DeliveryWorker(store, settings, routes, publish, SmtpSender(settings), webhooks)

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await until_available(store.ensure_indexes, "creating indexes")
        await kafka.start(broker)
        worker.start()
        if not handlers.webhooks:
            log.warning("no NOTIFICATIONS_WEBHOOK_SECRET: the webhook channel is off")
        elif settings.webhook_allow_http or settings.webhook_allow_list:
            log.warning("webhooks may use plain HTTP (%s) and reach these non-public addresses: %s",
                        settings.webhook_allow_http, settings.webhook_allow_list or "none")
        log.info("notifications service started")
        try:
            yield
        finally:
            await worker.stop(settings.graceful_timeout_seconds)
            await lag.close()
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await client.close()
            log.info("notifications service stopped")

    api = create_api(store, access, readiness, lifespan)

    def document() -> dict:
        return asyncapi.document(broker, service=SERVICE, description=DESCRIPTION)

    return with_operations(api, metrics, document, settings)
