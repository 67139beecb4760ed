"""Reference rates on the same servers, without the services: what the broker and the database
can do at best, so the pipeline's figures can be read as a fraction of them."""

import asyncio
import os
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, UpdateOne

REF_IN, REF_OUT = "bench.reference.in", "bench.reference.out"


async def kafka_consume_produce(bootstrap: str, messages: int, size: int = 1000, partitions: int = 6) -> dict:
    """Raw aiokafka consume -> produce, one output per input, pipelined: send a fetched batch
    without awaiting each send, await the confirmations together, then commit (the shape
    TRAPS.md measured at ~24,000 messages/s)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(REF_IN, partitions, 1), NewTopic(REF_OUT, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 << 10)
    await producer.start()
    try:
        payload = os.urandom(size // 2).hex().encode()
        futures = [await producer.send(REF_IN, payload, key=str(n).encode()) for n in range(messages)]
        await asyncio.gather(*futures)
        consumer = AIOKafkaConsumer(REF_IN, bootstrap_servers=bootstrap, group_id="bench.reference",
                                    auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=20,
                                    max_partition_fetch_bytes=4 << 20)
        await consumer.start()
        try:
            done, first = 0, None
            while done < messages:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                if first is None and batches:
                    first = time.perf_counter()  # the group join (~5 s on Tansu) is not the pipeline's cost
                sends = [await producer.send(REF_OUT, r.value, key=r.key) for rs in batches.values() for r in rs]
                await asyncio.gather(*sends)
                await consumer.commit()
                done += len(sends)
            elapsed = time.perf_counter() - first
        finally:
            await consumer.stop()
    finally:
        await producer.stop()
    return {"messages": messages, "bytes": size, "seconds": elapsed, "per_second": messages / elapsed}


def _doc(n: int, padding: str) -> dict:
    return {"n": n, "unit_id": f"U-{n % 97}", "status": "accepted", "payload": padding}


async def mongo_single_writes(uri: str, db: str, writes: int, size: int, concurrency: int = 16) -> dict:
    """Acknowledged single-document upserts from `concurrency` tasks at once."""
    client = AsyncMongoClient(uri, tz_aware=True)
    try:
        coll = client[db]["single"]
        await coll.drop()
        padding = "x" * max(0, int(size) - 80)
        counter = iter(range(writes))

        async def worker() -> None:
            for n in counter:
                await coll.update_one({"_id": f"doc-{n}"}, {"$set": _doc(n, padding)}, upsert=True)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        await coll.drop()
    finally:
        await client.close()
    return {"writes": writes, "concurrency": concurrency, "bytes": int(size), "seconds": elapsed,
            "per_second": writes / elapsed}


async def mongo_bulk_upserts(uri: str, db: str, documents: int, size: int, batch: int = 1000) -> dict:
    """Unordered bulk upserts of `documents` documents, `batch` per bulk_write: each document
    written once, the way a projection that folds its events in memory would write."""
    client = AsyncMongoClient(uri, tz_aware=True)
    try:
        coll = client[db]["bulk"]
        await coll.drop()
        padding = "x" * max(0, int(size) - 80)
        start = time.perf_counter()
        for first in range(0, documents, batch):
            await coll.bulk_write([UpdateOne({"_id": f"doc-{n}"}, {"$set": _doc(n, padding)}, upsert=True)
                                   for n in range(first, min(first + batch, documents))], ordered=False)
        elapsed = time.perf_counter() - start
        await coll.drop()
    finally:
        await client.close()
    return {"documents": documents, "batch": batch, "bytes": int(size), "seconds": elapsed,
            "per_second": documents / elapsed}
