"""The delivery worker: claims due deliveries, sends them by SMTP or webhook, retries with
backoff, and publishes `notification.sent` / `notification.failed`.

It runs beside the Kafka consumers, never inside them: a mail server that is down delays
only the deliveries, which wait in MongoDB with their next attempt time.
"""

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from email.message import EmailMessage

import aiosmtplib

from services.notifications import domain, errors, messages, rendering, webhooks
from services.notifications.domain import Channel, Recipient
from services.notifications.errors import DeliveryFailure, PermanentFailure, TransientFailure
from services.notifications.routing import Route
from services.notifications.settings import NotificationsSettings
from services.notifications.store import FAILED, SENT, NotificationStore
from shared import logs
from shared.envelope import Event, from_document, new_event
from shared.events import NotificationFailed, NotificationSent

# Where the webhook channel lives; imported here too, where the worker's callers look for it.
WebhookSender = webhooks.WebhookSender
__all__ = ["DeliveryWorker", "PermanentFailure", "SmtpSender", "TransientFailure", "WebhookSender"]

log = logging.getLogger("exemplars.notifications.delivery")

SOURCE = "urn:exemplars:notifications"
# Due deliveries fetched per query; each is then claimed by id when a send slot is free.
CANDIDATES = 200
Publish = Callable[[list[Event]], Awaitable[None]]


# ---- channels ------------------------------------------------------------------------------


class SmtpSender:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage, address: str) -> None:
        """Send, or raise a failure whose message is an error class (`smtp_550`, `refused`...)."""
        s = self.settings
        try:
            await aiosmtplib.send(
                message, sender=s.mail_from, recipients=[address], hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_tls == "tls", start_tls=s.smtp_tls == "starttls", timeout=s.smtp_timeout_seconds)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            failure = PermanentFailure if codes and min(codes) >= 500 else TransientFailure
            raise failure(errors.smtp_code(min(codes) if codes else None)) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix; the mail itself is fine.
            raise TransientFailure(errors.SMTP_AUTH) from exc
        except aiosmtplib.SMTPResponseException as exc:
            failure = PermanentFailure if exc.code >= 500 else TransientFailure  # 5xx: permanent (RFC 5321)
            raise failure(errors.smtp_code(exc.code)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            code = errors.classify(exc)
            raise TransientFailure("smtp_error" if code == errors.NETWORK else code) from exc


# ---- the worker ----------------------------------------------------------------------------


class DeliveryWorker:
    def __init__(self, store: NotificationStore, settings: NotificationsSettings, routes: dict[str, Route],
                 publish: Publish, smtp: SmtpSender, webhook: WebhookSender,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.store, self.settings, self.routes, self.publish = store, settings, routes, publish
        self.smtp, self.webhook, self.now = smtp, webhook, now
        self.policy = settings.retry_policy
        self.worker_id = uuid.uuid4().hex  # a lease belongs to this process only
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._claim_loop(), name="delivery-claims"),
                       asyncio.create_task(self._outbox_loop(), name="delivery-outbox")]

    async def stop(self, timeout: float) -> None:
        """Stop claiming, give the sends in flight `timeout` seconds, then abandon them
        (their leases expire and another instance sends them)."""
        self._stopping.set()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=timeout)
            for task in pending:
                task.cancel()

    async def _claim_loop(self) -> None:
        """Claim due deliveries while their channel's lane has a free slot. Each channel has
        its own lane: receivers slow to answer fill the webhook lane and the mail goes on.

        One query finds many candidates (on SecantusDB a query over the deliveries costs
        about as much as reading them all); the worker works through them as slots free up,
        skipping those whose lane is full, and asks again when they are done, or when only a
        full lane's candidates are left and a lane with room may have work of its own (a lane
        whose last look found nothing due is not looked for again within a poll interval)."""
        lanes = _Lanes({Channel.EMAIL.value: self.settings.delivery_concurrency,
                        Channel.WEBHOOK.value: self.settings.webhook_concurrency
                        if self.settings.delivery_concurrency > 0 else 0})
        loop = asyncio.get_running_loop()
        empty_until: dict[str, float] = {}  # channel -> until when a look found nothing of it due
        while not self._stopping.is_set():
            if not lanes.any_room():
                await self._room(lanes)  # the worker is off (no slots at all), or every lane is busy
                continue
            # Only channels with a free slot: a backlog of webhooks must not hide the mail.
            wanted = [c for c in lanes.with_room() if empty_until.get(c, 0.0) <= loop.time()]
            if not wanted:
                await self._room(lanes)  # nothing was due on the free lanes a moment ago
                continue
            try:
                queue = await self.store.due(self.now(), CANDIDATES,
                                             channels=None if len(wanted) == len(lanes.free) else wanted)
            except Exception:  # noqa: BLE001 - an outage must not end the loop
                log.warning("looking for due deliveries failed; retrying", exc_info=True)
                queue = []
            if len(queue) < CANDIDATES:  # everything due was returned: the absent channels have none
                found = {channel for _, _, channel in queue}
                for channel in wanted:
                    if channel not in found:
                        empty_until[channel] = loop.time() + max(self.settings.delivery_poll_seconds, 1.0)
            if not queue:
                await self._pause(self.settings.delivery_poll_seconds)
                continue
            while queue and not self._stopping.is_set():
                ready = next((c for c in queue if lanes.has_room(c[2])), None)
                if ready is None:
                    queued = {channel for _, _, channel in queue}
                    if any(c not in queued and empty_until.get(c, 0.0) <= loop.time() for c in lanes.with_room()):
                        break  # a lane with room may have work due that this queue does not hold
                    await self._room(lanes)
                    continue
                queue.remove(ready)
                await self._claim(ready, lanes)

    async def _claim(self, candidate: tuple[str, str, str], lanes: "_Lanes") -> None:
        delivery_id, status, channel = candidate
        lanes.take(channel)
        try:
            delivery = await self.store.claim((delivery_id, status), self.now(),
                                              self.settings.delivery_lease_seconds, self.worker_id)
        except Exception:  # noqa: BLE001
            log.warning("claiming delivery %s failed; retrying", delivery_id, exc_info=True)
            delivery = None
        if delivery is None:  # taken by another instance, or the database is away
            lanes.give(channel)
            return
        task = asyncio.create_task(self.attempt(delivery))
        self._in_flight.add(task)
        task.add_done_callback(lambda t, c=channel: (self._in_flight.discard(t), lanes.give(c)))

    async def _room(self, lanes: "_Lanes") -> None:
        """Until a send finishes (a slot frees), the worker stops, or a poll interval passes."""
        lanes.freed.clear()
        stopping = asyncio.ensure_future(self._stopping.wait())
        freed = asyncio.ensure_future(lanes.freed.wait())
        try:
            await asyncio.wait({stopping, freed}, timeout=max(self.settings.delivery_poll_seconds, 0.05),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            freed.cancel()

    async def _outbox_loop(self) -> None:
        """Publish outcomes whose publication was interrupted (a crash, a broker outage)."""
        while not self._stopping.is_set():
            await self._pause(5.0)
            try:
                docs = await self.store.unpublished_outcomes(self.now() - dt.timedelta(seconds=10))
                if docs:
                    await self.publish([from_document(doc["outcome"]) for doc in docs])
                    await self.store.outcomes_published([doc["_id"] for doc in docs])
            except Exception:  # noqa: BLE001
                log.warning("republishing outcomes failed; retrying", exc_info=True)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # ---- one attempt -----------------------------------------------------------------------

    async def attempt(self, delivery: dict) -> None:
        with logs.about(event_id=delivery["event_id"], event_type=delivery["event_type"],
                        subject=delivery["recipient_id"], delivery_id=delivery["_id"]):
            await self._attempt(delivery)

    async def _attempt(self, delivery: dict) -> None:
        """One try. What is recorded of a failure is its error class only (errors.py)."""
        attempts = delivery["attempts"]
        address = delivery.get("address")
        try:
            event = await self.store.event(delivery["event_key"])
            if event is None:
                raise PermanentFailure(errors.EVENT_MISSING)
            address, subject = await self._send(delivery, event)
        except PermanentFailure as exc:
            await self._fail(delivery, exc.code, address)
        except Exception as exc:  # noqa: BLE001 - transient, or a bug: retried, then failed
            if isinstance(exc, DeliveryFailure):
                code = exc.code
            else:
                log.exception("delivery %s failed unexpectedly", delivery["_id"])
                code = errors.INTERNAL
            retry_at = self.policy.next_attempt(attempts, self.now(), delivery["_id"])
            if retry_at is None:
                log.info("delivery %s: giving up after %d attempts (%s)", delivery["_id"], attempts, code)
                await self._fail(delivery, code, address)
            else:
                log.info("delivery %s attempt %d failed (%s); next at %s", delivery["_id"], attempts, code, retry_at)
                await self.store.retry_later(delivery, self.worker_id, retry_at, code[:500], self.now())
        else:
            outcome = self._outcome(NotificationSent, delivery, address)
            if await self.store.finish(delivery, self.worker_id, SENT, self.now(), outcome, subject=subject,
                                       address=address):
                await self._publish_outcome(delivery, outcome)

    async def _send(self, delivery: dict, event: Event) -> tuple[str, str]:
        channel = Channel(delivery["channel"])
        recipient_id = delivery["recipient_id"]
        route = self.routes[event.type]
        needs = domain.needs(route, event.data)
        # The recipient's current record, whatever the route selected them by.
        if delivery["recipient_kind"] == "unit":
            needs = replace(needs, unit_ids=needs.unit_ids | {delivery["unit_id"]})
        else:
            needs = replace(needs, staff_ids=needs.staff_ids | {recipient_id})
        view = await self.store.load_view(needs)
        address, why = domain.current_address(recipient_id, channel, view)
        if why == "recipient_removed":
            raise PermanentFailure(errors.RECIPIENT_REMOVED)
        if address is None:
            # The directory may not have caught up yet: a normal, retried failure.
            raise TransientFailure(why or "no_address")
        recipient = self._recipient(delivery, view)
        rendered = rendering.render(recipient.template,
                                    domain.render_context(event, recipient, view, self.settings.mail_from_name))
        if channel is Channel.EMAIL:
            message = messages.build_email(
                rendered, delivery_id=delivery["_id"], event=event, sender_address=self.settings.mail_from,
                sender_name=self.settings.mail_from_name, to_address=address, to_name=recipient.name,
                domain=self.settings.message_id_domain, now=self.now())
            await self.smtp.send(message, address)
        else:
            master = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else ""
            if not master:
                raise PermanentFailure(errors.WEBHOOK_OFF)
            body = messages.webhook_body(rendered, delivery_id=delivery["_id"], event=event,
                                         recipient_id=recipient_id, recipient_kind=recipient.kind)
            # Signed with the receiver's own secret: one receiver cannot forge calls to another.
            headers = messages.webhook_headers(webhooks.receiver_secret(master, recipient_id), body,
                                               delivery_id=delivery["_id"], event_type=event.type, now=self.now())
            await self.webhook.send(address, body, headers)
        return address, rendered.subject

    @staticmethod
    def _recipient(delivery: dict, view: domain.DirectoryView) -> Recipient:
        """The recipient as the directory knows them now (their name may have been unknown)."""
        recipient_id = delivery["recipient_id"]
        staff = view.staff.get(recipient_id)
        unit = view.units.get(recipient_id.removeprefix(domain.UNIT_RECIPIENT_PREFIX))
        if delivery["recipient_kind"] == "unit" and unit is not None:
            name, email, hook = unit.name, unit.email, unit.webhook_url
        elif staff is not None:
            name, email, hook = staff.full_name, staff.email, staff.webhook_url
        else:
            name, email, hook = delivery["recipient_name"], None, None
        return Recipient(recipient_id, delivery["recipient_kind"], name, delivery.get("unit_id"), email, hook,
                         delivery["template"], delivery.get("publicity", False))

    async def _fail(self, delivery: dict, error: str, address: str | None) -> None:
        log.warning("delivery %s failed: %s", delivery["_id"], error)  # an error class, never remote text
        outcome = self._outcome(NotificationFailed, delivery, address, error=error[:500])
        if await self.store.finish(delivery, self.worker_id, FAILED, self.now(), outcome, error=error[:500]):
            await self._publish_outcome(delivery, outcome)

    @staticmethod
    def _outcome(model, delivery: dict, address: str | None, **extra) -> Event:
        payload = model(delivery_id=delivery["_id"], notified_event_id=delivery["event_id"],
                        notified_event_type=delivery["event_type"], recipient_id=delivery["recipient_id"],
                        channel=delivery["channel"], address=address or "unknown", attempts=delivery["attempts"],
                        **extra)
        # Deterministic id: a republished outcome is recognisably the same event.
        return new_event(payload, key=delivery["recipient_id"], source=SOURCE, id_parts=(delivery["_id"],))

    async def _publish_outcome(self, delivery: dict, outcome: Event) -> None:
        try:
            await asyncio.wait_for(self.publish([outcome]), timeout=10.0)
            await self.store.outcomes_published([delivery["_id"]])
        except Exception:  # noqa: BLE001 - left to the outbox loop
            log.warning("outcome of %s not published yet; the outbox will retry", delivery["_id"], exc_info=True)


class _Lanes:
    """Free send slots per channel."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.free = dict(sizes)
        self.freed = asyncio.Event()

    def any_room(self) -> bool:
        return any(n > 0 for n in self.free.values())

    def with_room(self) -> list[str]:
        return sorted(c for c, n in self.free.items() if n > 0)

    def has_room(self, channel: str) -> bool:
        return self.free.get(channel, 0) > 0

    def take(self, channel: str) -> None:
        self.free[channel] -= 1

    def give(self, channel: str) -> None:
        self.free[channel] += 1
        self.freed.set()
