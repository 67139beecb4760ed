"""Infrastructure failures, which waiting cures, as opposed to failures of an event."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from pymongo.errors import ConnectionFailure, WaitQueueTimeoutError

log = logging.getLogger("exemplars.outages")

T = TypeVar("T")

# The database or the broker unreachable: retrying is the only answer that loses nothing.
OUTAGES: tuple[type[BaseException], ...] = (ConnectionFailure, WaitQueueTimeoutError, KafkaError, OSError)
# Kafka errors about a record itself: waiting cures nothing, so they are never retried as
# outages (aiokafka's MessageSizeTooLargeError is a KafkaError; TRAPS.md).
REFUSED_RECORDS: tuple[type[BaseException], ...] = (MessageSizeTooLargeError, RecordTooLargeError,
                                                     RecordListTooLargeError)


async def until_available(operation: Callable[[], Awaitable[T]], what: str, max_backoff: float = 5.0) -> T:
    """Run `operation` until no outage stops it.

    Used at start-up: a service started while MongoDB or Kafka is down waits for them
    instead of exiting, so an orchestrator restarting both never sees a crash loop.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except OUTAGES as exc:
            attempt += 1
            log.warning("%s: waiting for the infrastructure (attempt %d): %r", what, attempt, exc)
            await asyncio.sleep(min(0.2 * 2**attempt, max_backoff))
