"""Creating the design's topics (the local stack and tests; compose has its own job)."""

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from shared.kafka_security import client_options
from shared.topics import TOPICS, dlq

log = logging.getLogger("exemplars.topics")


def topic_plan(partitions: int | None = None, replication: int = 1) -> list[NewTopic]:
    """Every topic with its partitions; event and dead-letter topics keep data forever."""
    config = {"retention.ms": "-1", "cleanup.policy": "delete"}
    plan = []
    for spec in TOPICS:
        count = partitions or spec.partitions
        plan.append(NewTopic(spec.name, count, replication, topic_configs=config))
        plan.append(NewTopic(dlq(spec.name), 1, replication, topic_configs=config))
    return plan


async def create_topics(bootstrap: str, partitions: int | None = None, timeout: float = 30.0) -> list[str]:
    """Create missing topics; returns the names created. Idempotent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **client_options())
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in topic_plan(partitions) if topic.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another runner got there first
        return [topic.name for topic in missing]
    finally:
        await admin.close()
