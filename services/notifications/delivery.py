"""The delivery worker: claims due deliveries in batches, sends the mail of a batch over one
SMTP connection (each webhook in a call of its own), retries with backoff, and records and
publishes the outcomes (`notification.sent` / `notification.failed`) in groups.

It runs beside the Kafka consumers, never inside them: a mail server that is down delays
only the deliveries, which wait in MongoDB with their next attempt time.

What a crash may repeat is a mail sent whose outcome is not recorded yet. The worker never
has more than `delivery_concurrency` of those: a mail is sent only when one of that many
slots is free, and its slot comes back once the write that records it is done. So batching
repeats no more than sending and recording each mail alone did.
"""

import asyncio
import datetime as dt
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

from services.notifications import domain, errors, messages, webhooks
from services.notifications.actions import ActionLinks
from services.notifications.domain import Channel, DirectoryView
from services.notifications.errors import (
    DeliveryFailure,
    PermanentFailure,
    TransientFailure,
)
from services.notifications.letters import needs_of, render
from services.notifications.routing import Route
from services.notifications.settings import NotificationsSettings
from services.notifications.smtp import SmtpSender
from services.notifications.store import (
    FAILED,
    PENDING,
    SENT,
    NotificationStore,
    Settled,
)
from shared import logs
from shared.envelope import Event, from_document, new_event
from shared.events import NotificationFailed, NotificationSent
from shared.events.base import ERASED

# Where the webhook channel lives; imported here too, where the worker's callers look for it.
WebhookSender = webhooks.WebhookSender
__all__ = ["DeliveryWorker", "PermanentFailure", "SmtpSender", "TransientFailure", "WebhookSender"]

log = logging.getLogger("exemplars.notifications.delivery")

SOURCE = "urn:exemplars:notifications"
EMAIL, WEBHOOK = Channel.EMAIL.value, Channel.WEBHOOK.value
Publish = Callable[[list[Event]], Awaitable[None]]
SendMail = Callable[[EmailMessage, str], Awaitable[None]]
Context = tuple[dict[str, Event], DirectoryView] | Exception


# ---- the worker ----------------------------------------------------------------------------


class DeliveryWorker:
    def __init__(self, store: NotificationStore, settings: NotificationsSettings, routes: dict[str, Route],
                 publish: Publish, smtp: SmtpSender, webhook: WebhookSender,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.store, self.settings, self.routes, self.publish = store, settings, routes, publish
        self.smtp, self.webhook, self.now = smtp, webhook, now
        self.policy = settings.retry_policy
        self.worker_id = uuid.uuid4().hex  # a lease belongs to this process only
        self._claims = itertools.count(1)  # with worker_id, a token per claim
        self._mail_batch_limit = settings.delivery_batch_size  # how many mails the next batch claims
        self._unrecorded = asyncio.Semaphore(max(settings.delivery_concurrency, 1))
        self.outcomes = _Outcomes(store, publish, now)
        self.links = ActionLinks.from_settings(settings)
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._claim_loop(), name="delivery-claims"),
                       asyncio.create_task(self._outbox_loop(), name="delivery-outbox")]

    async def stop(self, timeout: float) -> None:
        """Stop claiming; batches stop sending and hand back what they did not try; give what
        is in flight `timeout` seconds, then abandon it (its leases expire and another
        instance sends it)."""
        self._stopping.set()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=timeout)
            for task in pending:
                task.cancel()
        self.outcomes.cancel()

    async def _claim_loop(self) -> None:
        """Claim due deliveries while their channel's lane has room. Each channel has its own
        lane: receivers slow to answer fill the webhook lane and the mail goes on. The mail
        lane runs up to `delivery_concurrency` batches (connections) at once, the webhook
        lane up to `webhook_concurrency` calls. A lane whose last claim took everything due is
        not looked at again within a poll interval."""
        s = self.settings
        lanes = _Lanes({EMAIL: s.delivery_concurrency,
                        WEBHOOK: s.webhook_concurrency if s.delivery_concurrency > 0 else 0})
        loop = asyncio.get_running_loop()
        idle_until: dict[str, float] = {}
        # Expired leases are rare (a crashed instance): looked for about once a second.
        leases_at: dict[str, float] = {}
        while not self._stopping.is_set():
            looked = False
            for channel in lanes.with_room():
                if idle_until.get(channel, 0.0) > loop.time():
                    continue
                looked = True
                limit = self._mail_batch_limit if channel == EMAIL else min(lanes.free[channel], s.delivery_batch_size)
                expired = leases_at.get(channel, 0.0) <= loop.time()
                if expired:
                    leases_at[channel] = loop.time() + max(s.delivery_poll_seconds, 1.0)
                batch = await self._claim(channel, limit, expired)
                if len(batch) < limit:  # everything due was claimed
                    idle_until[channel] = loop.time() + max(s.delivery_poll_seconds, 0.05)
                if batch:
                    self._spawn(channel, batch, lanes)
            if not looked:
                wake = min((idle_until.get(c, 0.0) for c in lanes.with_room()), default=None)
                await self._room(lanes, max(wake - loop.time(), 0.01) if wake is not None
                                 else max(s.delivery_poll_seconds, 0.05))

    async def _claim(self, channel: str, limit: int, expired: bool) -> list[dict]:
        token = f"{self.worker_id}:{next(self._claims)}"
        try:
            return await self.store.claim_due(channel, self.now(), limit, self.settings.delivery_lease_seconds,
                                              token, expired=expired)
        except Exception:  # noqa: BLE001 - an outage must not end the loop
            log.warning("claiming due %s deliveries failed; retrying", channel, exc_info=True)
            return []

    def _spawn(self, channel: str, batch: list[dict], lanes: "_Lanes") -> None:
        if channel == EMAIL:
            # The last mail of a batch starts with half its lease left at least, as much as a
            # lone send had when the lease was sized: a send never outlives its claim for it.
            deadline = asyncio.get_running_loop().time() + self.settings.delivery_lease_seconds / 2
            slots, work = 1, self._mail_batch(batch, deadline)
        else:
            slots, work = len(batch), self._webhooks(batch, lanes)
        lanes.take(channel, slots)
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(lambda t: (self._in_flight.discard(t), lanes.give(EMAIL) if channel == EMAIL else None))

    async def _room(self, lanes: "_Lanes", timeout: float) -> None:
        """Until a lane has room again, the worker stops, or `timeout` passes."""
        lanes.freed.clear()
        stopping = asyncio.ensure_future(self._stopping.wait())
        freed = asyncio.ensure_future(lanes.freed.wait())
        try:
            await asyncio.wait({stopping, freed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
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

    # ---- sending -------------------------------------------------------------------------------

    async def attempt(self, delivery: dict) -> None:
        """Try one claimed delivery (mail on a connection of its own), record and publish its outcome."""
        await self._deliver([delivery], self.smtp.send, deadline=None)

    async def _mail_batch(self, batch: list[dict], deadline: float) -> None:
        async with self.smtp.session() as session:
            tried = await self._deliver(batch, session.send, deadline)
        # A batch its lease's time for sending could not finish is claimed, then partly handed
        # back (two writes more): the next claims what this one got through. One that
        # finished lets the next grow again, so a slow spell (an outage) is soon forgotten.
        cap = self.settings.delivery_batch_size
        self._mail_batch_limit = max(1, tried) if tried < len(batch) else min(cap, max(self._mail_batch_limit, tried) * 2)

    async def _deliver(self, batch: list[dict], send_mail: SendMail, deadline: float | None) -> int:
        """Try the deliveries in turn, each once a slot for an unrecorded mail is free; hand
        back the rest if the worker stops or the claim's time for sending is over. Returns
        how many were tried."""
        loop = asyncio.get_running_loop()
        context = await self._context(batch)
        settling: list[asyncio.Future] = []
        try:
            for n, delivery in enumerate(batch):
                await self._unrecorded.acquire()
                if self._stopping.is_set() or (deadline is not None and loop.time() > deadline):
                    self._unrecorded.release()
                    await self._release(batch[n:])
                    return n
                try:
                    settled = await self._try(delivery, context, send_mail)
                except BaseException:
                    self._unrecorded.release()
                    raise
                recorded, published = self.outcomes.submit(settled)
                recorded.add_done_callback(lambda _: self._unrecorded.release())
                settling.append(published)
        finally:
            await asyncio.gather(*settling, return_exceptions=True)
        return len(batch)

    async def _webhooks(self, batch: list[dict], lanes: "_Lanes") -> None:
        context = await self._context(batch)

        async def call(delivery: dict) -> None:
            try:
                _, published = self.outcomes.submit(await self._try(delivery, context, self.smtp.send))
                await published
            finally:
                lanes.give(WEBHOOK)

        await asyncio.gather(*(call(delivery) for delivery in batch), return_exceptions=True)

    async def _release(self, deliveries: list[dict]) -> None:
        try:
            await self.store.release(deliveries, self.now())
        except Exception:  # noqa: BLE001 - their leases expire instead
            log.warning("handing back %d deliveries failed; their leases will expire", len(deliveries), exc_info=True)

    async def _context(self, batch: list[dict]) -> Context:
        """The notified events and one directory view for the whole batch, or why not."""
        try:
            events = await self.store.events_by_key([d["event_key"] for d in batch])
            needs = [needs_of(self.routes[e.type], e, d) for d in batch
                     if (e := events.get(d["event_key"])) is not None and e.type in self.routes]
            return events, await self.store.load_views(needs)
        except Exception as exc:  # noqa: BLE001 - each delivery's own failure, below
            return exc

    async def _try(self, delivery: dict, context: Context, send_mail: SendMail) -> Settled:
        """One try. What is recorded of a failure is its error class only (errors.py)."""
        with logs.about(event_id=delivery["event_id"], event_type=delivery["event_type"],
                        subject=delivery["recipient_id"], delivery_id=delivery["_id"]):
            attempts = delivery["attempts"]
            address = delivery.get("address")
            try:
                if isinstance(context, Exception):
                    raise context
                events, view = context
                event = events.get(delivery["event_key"])
                if event is None:
                    raise PermanentFailure(errors.EVENT_MISSING)
                address, subject = await self._send(delivery, event, view, send_mail)
            except PermanentFailure as exc:
                if exc.code == domain.RECIPIENT_ERASED and address is not None:
                    address = ERASED  # the claimed copy may predate the erasure: never an address of theirs
                return self._failed(delivery, exc.code, address)
            except Exception as exc:  # noqa: BLE001 - transient, or a bug: retried, then failed
                if isinstance(exc, DeliveryFailure):
                    code = exc.code
                else:
                    log.exception("delivery %s failed unexpectedly", delivery["_id"])
                    code = errors.INTERNAL
                retry_at = self.policy.next_attempt(attempts, self.now(), delivery["_id"])
                if retry_at is None:
                    log.info("delivery %s: giving up after %d attempts (%s)", delivery["_id"], attempts, code)
                    return self._failed(delivery, code, address)
                log.info("delivery %s attempt %d failed (%s); next at %s", delivery["_id"], attempts, code, retry_at)
                return Settled(delivery, PENDING, error=code[:500], retry_at=retry_at)
            return Settled(delivery, SENT, outcome=self._outcome(NotificationSent, delivery, address),
                           subject=subject, address=address)

    async def _send(self, delivery: dict, event: Event, view: DirectoryView, send_mail: SendMail) -> tuple[str, str]:
        channel = Channel(delivery["channel"])
        recipient_id = delivery["recipient_id"]
        address, why = domain.current_address(recipient_id, channel, view)
        if why in (errors.RECIPIENT_REMOVED, domain.RECIPIENT_ERASED):  # erased: their addresses read "đã xóa"
            raise PermanentFailure(why)
        if address is None:
            # The directory may not have caught up yet: a normal, retried failure.
            raise TransientFailure(why or "no_address")
        action_url = self.links.for_delivery(delivery, event, self.now()) if self.links else None
        recipient, rendered = render(delivery, event, view, self.settings.mail_from_name, action_url)
        if channel is Channel.EMAIL:
            message = messages.build_email(
                rendered, delivery_id=delivery["_id"], event=event, sender_address=self.settings.mail_from,
                sender_name=self.settings.mail_from_name, to_address=address, to_name=recipient.name,
                domain=self.settings.message_id_domain, now=self.now())
            await send_mail(message, address)
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

    def _failed(self, delivery: dict, error: str, address: str | None) -> Settled:
        log.warning("delivery %s failed: %s", delivery["_id"], error)  # an error class, never remote text
        return Settled(delivery, FAILED, error=error[:500],
                       outcome=self._outcome(NotificationFailed, delivery, address, error=error[:500]))

    @staticmethod
    def _outcome(model, delivery: dict, address: str | None, **extra) -> Event:
        payload = model(delivery_id=delivery["_id"], notified_event_id=delivery["event_id"],
                        notified_event_type=delivery["event_type"], recipient_id=delivery["recipient_id"],
                        channel=delivery["channel"], address=address or "unknown", attempts=delivery["attempts"],
                        **extra)
        # Deterministic id: a republished outcome is recognisably the same event.
        return new_event(payload, key=delivery["recipient_id"], source=SOURCE, id_parts=(delivery["_id"],))


class _Outcomes:
    """Outcomes written in groups: whatever was settled while the previous write was under way
    goes in the next `bulk_write`; the final ones are then published in groups the same way,
    then marked published (until then they are the outbox the outbox loop republishes)."""

    def __init__(self, store: NotificationStore, publish: Publish, now: Callable[[], dt.datetime]) -> None:
        self.store, self.publish, self.now = store, publish, now
        self._writes: list[tuple[Settled, asyncio.Future, asyncio.Future]] = []
        self._publications: list[tuple[Settled, asyncio.Future]] = []
        self._tasks: dict[str, asyncio.Task] = {}

    def submit(self, settled: Settled) -> tuple[asyncio.Future, asyncio.Future]:
        """Futures done once `settled` is recorded, and once its outcome was published (or left to the outbox)."""
        loop = asyncio.get_running_loop()
        recorded, published = loop.create_future(), loop.create_future()
        self._writes.append((settled, recorded, published))
        self._run("write", self._write)
        return recorded, published

    def _run(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        if name not in self._tasks or self._tasks[name].done():
            self._tasks[name] = asyncio.create_task(work(), name=f"delivery-outcomes-{name}")

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _write(self) -> None:
        while self._writes:
            group, self._writes = self._writes, []
            won = await self._settle([settled for settled, _, _ in group])
            for settled, recorded, published in group:
                recorded.set_result(None)
                if (settled.delivery["_id"], settled.delivery.get("claimed_by")) in won:
                    self._publications.append((settled, published))
                else:
                    published.set_result(None)
            if self._publications:
                self._run("publish", self._publish)

    async def _settle(self, group: list[Settled]) -> set[tuple[str, str]]:
        """Retried while the claims last: until then no more mail is sent (the slots are
        held), so an outage repeats no more than the mails waiting here."""
        leases = [d if d.tzinfo else d.replace(tzinfo=dt.UTC)
                  for s in group if isinstance(d := s.delivery.get("lease_until"), dt.datetime)]
        delay = 0.1
        while True:
            try:
                return await self.store.settle(group, self.now())
            except Exception:  # noqa: BLE001
                if not leases or self.now() >= max(leases):
                    log.warning("recording %d outcomes failed; their leases ran out, they will be sent again",
                                len(group), exc_info=True)
                    return set()
                log.warning("recording %d outcomes failed; retrying", len(group), exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _publish(self) -> None:
        while self._publications:
            group, self._publications = self._publications, []
            try:
                await asyncio.wait_for(self.publish([settled.outcome for settled, _ in group]), timeout=10.0)
                await self.store.outcomes_published([settled.delivery["_id"] for settled, _ in group])
            except Exception:  # noqa: BLE001 - left to the outbox loop
                log.warning("%d outcomes not published yet; the outbox will retry", len(group), exc_info=True)
            for _, published in group:
                published.set_result(None)


class _Lanes:
    """Free slots per channel."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.free = dict(sizes)
        self.freed = asyncio.Event()

    def with_room(self) -> list[str]:
        return sorted(c for c, n in self.free.items() if n > 0)

    def take(self, channel: str, n: int = 1) -> None:
        self.free[channel] -= n

    def give(self, channel: str) -> None:
        self.free[channel] += 1
        self.freed.set()
