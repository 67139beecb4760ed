"""Consumer handlers: keep the directory view, and turn each routed event into recorded
deliveries. Nothing is sent here: sending belongs to the delivery worker, so a slow or
broken mail server never holds up a partition."""

import datetime as dt
import logging
from collections.abc import Callable

from services.notifications import domain
from services.notifications.routing import Route
from services.notifications.settings import NotificationsSettings
from services.notifications.store import NotificationStore
from shared import topics
from shared.envelope import Event

log = logging.getLogger("exemplars.notifications")

Now = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Handlers:
    def __init__(self, store: NotificationStore, settings: NotificationsSettings, routes: dict[str, Route],
                 now: Now = utcnow) -> None:
        self.store = store
        self.settings = settings
        self.routes = routes
        self.now = now
        self.webhooks = settings.webhook_secret is not None and bool(settings.webhook_secret.get_secret_value())

    # ---- directory -------------------------------------------------------------------------

    async def unit_registered(self, event: Event) -> list[Event]:
        await self.store.apply_unit(event)
        return []

    async def staff_registered(self, event: Event) -> list[Event]:
        await self.store.apply_staff(event)
        return []

    async def staff_removed(self, event: Event) -> list[Event]:
        await self.store.remove_staff(event)
        return []

    # ---- routed events ---------------------------------------------------------------------

    async def notify(self, event: Event) -> list[Event]:
        """Record one delivery per recipient and channel; the worker sends them."""
        # Panels and titles are remembered even for events too old to notify: a later
        # cancellation must still find the panel after a rebuild.
        await self.store.remember(event.data)
        now = self.now()
        # Judged by when the log received the event, never by the sender's `time`: a sender
        # dating its events ahead must not slip past the age limit or the go-live cut-off.
        received = event.received_at
        if now - received > dt.timedelta(days=self.settings.max_event_age_days) or (
                self.settings.notify_after is not None and received < self.settings.notify_after):
            log.debug("not notifying %s %s received %s: too old", event.type, event.id, received)
            return []
        if await self.store.planned(event):
            return []  # redelivered: its deliveries exist and keep their own status
        route = self.routes[event.type]
        view = await self.store.load_view(domain.needs(route, event.data))
        # Who belongs to which open unit is judged on the day the log received the event.
        recipients = domain.resolve_recipients(route, event.data, view, domain.local_date(received))
        paced = domain.paced_count(recipients)
        start = None
        if paced and self.settings.publicity_interval_seconds > 0:
            start = await self.store.reserve_publicity(paced, self.settings.publicity_interval_seconds, now)
        planned = domain.plan_deliveries(event, recipients, now, self.settings.publicity_interval_seconds,
                                         publicity_start=start, webhooks=self.webhooks)
        await self.store.record(event, planned, now)
        log.info("%s %s: %d deliveries recorded (%d paced)", event.type, event.id, len(planned), paced,
                 extra={"event_id": event.id, "event_type": event.type})
        return []

    def routed(self) -> dict:
        return {event_type: self.notify for event_type in self.routes}

    def by_topic(self) -> dict[str, dict]:
        """What the service consumes: the live consumers and a rebuild route the same way."""
        by_topic = {topics.DIRECTORY: {"unit.registered": self.unit_registered,
                                       "staff.registered": self.staff_registered,
                                       "staff.removed": self.staff_removed}}
        for topic in (topics.NOMINATIONS, topics.EVALUATIONS):
            by_topic[topic] = {t: self.notify for t in topics.BY_NAME[topic].event_types if t in self.routes}
        return by_topic
