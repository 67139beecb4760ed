"""The notifications service: broker, subscribers, delivery worker, lifespan."""

import logging
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from faststream import FastStream

from services.notifications.api import create_api
from services.notifications.delivery import DeliveryWorker, SmtpSender, WebhookSender
from services.notifications.handlers import Handlers
from services.notifications.routing import default_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.store import NotificationStore
from shared import kafka, mongo, topics
from shared.envelope import Event
from shared.events import NotificationSent

SERVICE = "notifications"
log = logging.getLogger("exemplars.notifications")


def create_app(settings: NotificationsSettings) -> FastAPI:
    routes = default_routes()  # fails at start-up on an inconsistent routing table
    client = mongo.connect(settings)
    store = NotificationStore(client[settings.mongo_database])
    handlers = Handlers(store, settings, routes)
    dead_letters = kafka.DeadLetterCounter()

    broker = kafka.make_broker(settings, SERVICE)
    common = dict(service=SERVICE, output_topic=topics.NOTIFICATIONS, settings=settings, dead_letters=dead_letters)
    kafka.subscribe(broker, topics.DIRECTORY, name="directory", ignore_unhandled=False, handlers={
        "unit.registered": handlers.unit_registered,
        "staff.registered": handlers.staff_registered,
        "staff.removed": handlers.staff_removed,
    }, **common)
    routed = handlers.routed()
    for topic, name in ((topics.NOMINATIONS, "nominations"), (topics.EVALUATIONS, "evaluations")):
        own = {t: routed[t] for t in topics.BY_NAME[topic].event_types if t in routed}
        kafka.subscribe(broker, topic, name=name, ignore_unhandled=True, handlers=own, **common)
    # Declared for the AsyncAPI document; the delivery worker publishes through kafka.publish.
    broker.publisher(topics.NOTIFICATIONS, title="notifications.out", schema=NotificationSent,
                     description="notification.sent, notification.failed; key: recipient id")
    FastStream(broker, logger=log)

    async def publish(events: list[Event]) -> None:
        await kafka.publish(broker, kafka.outgoing(topics.NOTIFICATIONS, events), settings)

    http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    worker = DeliveryWorker(store, settings, routes, publish, SmtpSender(settings), WebhookSender(http))

    async def readiness() -> dict[str, bool]:
        return {"mongo": await mongo.ping(client), "kafka": await broker.ping(timeout=2.0)}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await store.ensure_indexes()
        await broker.start()
        worker.start()
        if not handlers.webhooks:
            log.warning("no NOTIFICATIONS_WEBHOOK_SECRET: the webhook channel is off")
        log.info("notifications service started")
        try:
            yield
        finally:
            await worker.stop(settings.graceful_timeout_seconds)
            await broker.stop()  # waits for in-flight batches, up to the graceful timeout
            await http.aclose()
            await client.close()
            log.info("notifications service stopped")

    return create_api(store, readiness, lifespan)
