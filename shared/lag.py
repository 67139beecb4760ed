"""How far a consumer group is behind the end of its topics.

Read with a consumer that joins no group (it only asks the group's coordinator for the
committed offsets), so measuring lag never triggers a rebalance of the group it measures.
Tansu does not answer the admin client's OffsetFetch for a whole group; this path works on
it and on Apache Kafka alike.

Tansu also answers ListOffsets with the base offset of a partition's last batch plus one:
after a pipelined producer's batch the true end is further on. The end is therefore checked
by reading the last batch (on Apache Kafka that read returns the last record and changes
nothing).
"""

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


class LagProbe:
    """One connection reused for many lag readings (status pages, metrics, schedules)."""

    def __init__(self, bootstrap_servers: str, options: Mapping[str, Any] | None = None) -> None:
        """`options`: the client's security (`shared.kafka_security.client_options`)."""
        self._bootstrap = bootstrap_servers
        self._options = dict(options or {})
        self._consumers: dict[str, AIOKafkaConsumer] = {}
        self._lock = asyncio.Lock()
        self._reader: AIOKafkaConsumer | None = None  # no group: reads the last batches
        self._reader_lock = asyncio.Lock()

    async def _consumer(self, group_id: str) -> AIOKafkaConsumer:
        async with self._lock:
            consumer = self._consumers.get(group_id)
            if consumer is None:
                consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=group_id,
                                            enable_auto_commit=False, client_id="exemplars-lag", **self._options)
                try:
                    await consumer.start()
                except BaseException:
                    await consumer.stop()  # a half-started client would leak its connections
                    raise
                self._consumers[group_id] = consumer
            return consumer

    async def end_offsets(self, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
        consumer = await self._consumer(group_id)
        partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(await _partitions(consumer, topic))]
        if not partitions:
            return {}
        reported = await consumer.end_offsets(partitions)
        return {tp: await self._true_end(tp, end) for tp, end in reported.items()}

    async def _true_end(self, tp: TopicPartition, reported: int) -> int:
        if reported == 0:
            return 0
        async with self._reader_lock:
            if self._reader is None:
                reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                          fetch_max_wait_ms=50, client_id="exemplars-lag", **self._options)
                try:
                    await reader.start()
                except BaseException:
                    await reader.stop()
                    raise
                self._reader = reader
            self._reader.assign([tp])
            self._reader.seek(tp, reported - 1)
            batch = await self._reader.getmany(tp, timeout_ms=2000)
        return max([reported] + [record.offset + 1 for record in batch.get(tp, [])])

    async def committed(self, group_id: str, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed offsets; a partition the group never committed counts as 0."""
        consumer = await self._consumer(group_id)
        return {tp: (await consumer.committed(tp)) or 0 for tp in partitions}

    async def lag(self, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
        ends = await self.end_offsets(group_id, topics)
        committed = await self.committed(group_id, ends)
        return {tp: max(0, end - committed[tp]) for tp, end in ends.items()}

    async def wait_caught_up(self, group_id: str, topics: Iterable[str], poll_seconds: float = 1.0) -> None:
        """Until the group has committed everything the topics held when this was called."""
        target = await self.end_offsets(group_id, list(topics))
        while True:
            committed = await self.committed(group_id, target)
            if all(committed[tp] >= end for tp, end in target.items()):
                return
            await asyncio.sleep(poll_seconds)

    async def close(self) -> None:
        async with self._lock:
            consumers, self._consumers = list(self._consumers.values()), {}
        async with self._reader_lock:
            if self._reader is not None:
                consumers.append(self._reader)
                self._reader = None
        for consumer in consumers:
            await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - the public API has no refresh
        partitions = consumer.partitions_for_topic(topic)
    return partitions or set()
