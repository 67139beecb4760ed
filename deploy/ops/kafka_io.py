"""Reading topics for the console tools, without joining any consumer group.

A tool that joined a group would trigger a rebalance of the services it is looking at, or
leave committed offsets behind; these readers assign partitions themselves and commit
nothing. Each read stops at the end offsets taken when it began, so it always finishes.
"""

import asyncio
import datetime as dt
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.kafka_security import client_options

CLIENT_ID = "exemplars-ops"


class TopicMissing(LookupError):
    pass


@dataclass(frozen=True)
class Span:
    """The offsets a partition holds: [first, end)."""

    first: int
    end: int

    @property
    def count(self) -> int:
        return max(0, self.end - self.first)


class TopicReader:
    """One unattached consumer reused for every read of a command."""

    def __init__(self, bootstrap: str, timeout: float = 30.0) -> None:
        # fetch_max_wait_ms low: Tansu answers a fetch only when the wait expires (TRAPS.md).
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                          fetch_max_wait_ms=20, client_id=CLIENT_ID, request_timeout_ms=15_000,
                                          **client_options())
        self.bootstrap = bootstrap
        self._timeout = timeout

    async def __aenter__(self) -> "TopicReader":
        try:
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()  # a failed start leaves connections behind
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self._consumer.stop()

    async def partitions(self, topic: str) -> list[int]:
        found = self._consumer.partitions_for_topic(topic)
        if found is None:
            await self._consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            found = self._consumer.partitions_for_topic(topic)
        return sorted(found or ())

    async def spans(self, topic: str) -> dict[int, Span]:
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        if not tps:
            return {}
        first = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        return {tp.partition: Span(first[tp], await self._true_end(tp, first[tp], end[tp])) for tp in tps}

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {p: span.end for p, span in (await self.spans(topic)).items()}

    async def _true_end(self, tp: TopicPartition, first: int, reported: int) -> int:
        """The offset after the last record, checked by reading the last batch.

        Tansu answers ListOffsets with the base offset of the partition's last batch plus
        one: a batch of several records (any pipelined producer's) ends further on. A fetch
        at the reported end minus one returns that whole batch; on Apache Kafka it returns
        the last record and changes nothing.
        """
        if reported <= first:
            return reported
        last = await self.read_ranges(tp.topic, {tp.partition: (reported - 1, reported)}, whole_batch=True)
        return max([reported] + [r.offset + 1 for r in last])

    async def read(self, topic: str, since: dt.datetime | None = None) -> list[ConsumerRecord]:
        """Every record of `topic` (written at or after `since`), in offset order per partition."""
        spans = await self.spans(topic)
        if not spans:
            raise TopicMissing(topic)
        records = await self.read_ranges(topic, {p: (span.first, span.end) for p, span in spans.items()})
        if since is not None:
            # Filtered here, not sought with offsets_for_times: whether Tansu's time index
            # can be trusted is unknown, and dead-letter topics are small enough to read whole.
            floor = int(since.timestamp() * 1000)
            records = [r for r in records if r.timestamp >= floor]
        return records

    async def read_one(self, topic: str, partition: int, offset: int) -> ConsumerRecord | None:
        spans = await self.spans(topic)
        if not spans:
            raise TopicMissing(topic)
        span = spans.get(partition)
        if span is None or not span.first <= offset < span.end:
            return None
        found = await self.read_ranges(topic, {partition: (offset, offset + 1)})
        return next((r for r in found if r.offset == offset), None)

    async def read_ranges(self, topic: str, ranges: dict[int, tuple[int, int]],
                           whole_batch: bool = False) -> list[ConsumerRecord]:
        """Records in [lo, hi) per partition; `whole_batch` also keeps what the same fetch brought past hi."""
        wanted = {TopicPartition(topic, p): (lo, hi) for p, (lo, hi) in ranges.items() if lo < hi}
        if not wanted:
            return []
        consumer = self._consumer
        consumer.assign(list(wanted))
        for tp, (lo, _) in wanted.items():
            consumer.seek(tp, lo)
        records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in wanted}
        pending = set(wanted)
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            while pending:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"reading {topic}: still missing {sorted(tp.partition for tp in pending)}")
                batches = await consumer.getmany(*pending, timeout_ms=200)
                for tp, batch in batches.items():
                    hi = wanted[tp][1]
                    records[tp].extend(r for r in batch if r.offset < hi or whole_batch)
                for tp in list(pending):
                    # The position passes the end also over gaps (compaction, transaction markers).
                    if await consumer.position(tp) >= wanted[tp][1]:
                        pending.discard(tp)
        finally:
            # An assignment narrows the metadata the client tracks to its topics: the next
            # lookup of another topic would find nothing. Without a group this only clears.
            consumer.unsubscribe()
        return [r for tp in sorted(records, key=lambda t: t.partition) for r in records[tp]]
