"""Notices decided on a clock (shortfalls, reminders): decide, publish, mark published, repeat.

The decisions are stored before they are published, so a crash between the two only delays
them: the next run finds them unpublished and publishes them again under the same ids.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker

from shared import kafka
from shared.credentials import Signer
from shared.envelope import Event
from shared.settings import ServiceSettings

log = logging.getLogger("exemplars.schedule")


async def publish_on_schedule(*, what: str, every: float, topic: str, broker: KafkaBroker, settings: ServiceSettings,
                              signer: Signer,
                              decide: Callable[[], Awaitable[list[Event]]],
                              mark_published: Callable[[list[Event]], Awaitable[None]],
                              first_delay: float = 0.0) -> None:
    """Run until cancelled; `decide` returns every notice due and not yet published."""
    await asyncio.sleep(first_delay)
    while True:
        try:
            pending = await decide()
            if pending:
                await kafka.publish(broker, kafka.outgoing(topic, pending, signer), settings)
                await mark_published(pending)
                log.info("published %d %s", len(pending), what)
        except Exception:  # an outage or a bug must not end the schedule
            log.exception("%s: the check failed; trying again at the next interval", what)
        await asyncio.sleep(every)
