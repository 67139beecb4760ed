"""Publish the demo feed as the units' own systems would: a plain Kafka client, CloudEvents."""

import asyncio

from aiokafka import AIOKafkaProducer

from deploy.demo_data import directory_events, nomination_events
from shared import envelope, topics
from shared.envelope import Event


async def send(producer: AIOKafkaProducer, topic: str, events: list[Event], structured_every: int = 0) -> None:
    """Send all, then await every confirmation (pipelined, as TRAPS.md advises)."""
    futures = []
    for n, event in enumerate(events):
        # Some unit systems use a CloudEvents SDK in structured mode; show that both work.
        structured = structured_every and n % structured_every == 0
        key, value, headers = (envelope.encode_structured if structured else envelope.encode)(event)
        futures.append(await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]))
    await asyncio.gather(*futures)


async def publish_demo(bootstrap: str, year: int = 2024, settle_seconds: float = 3.0) -> dict[str, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        directory = directory_events()
        await send(producer, topics.DIRECTORY, directory)
        # Directory and intake are separate topics: give the services a moment to learn the units.
        await asyncio.sleep(settle_seconds)
        nominations = nomination_events(year)
        await send(producer, topics.NOMINATIONS_INTAKE, nominations, structured_every=3)
    finally:
        await producer.stop()
    return {"directory": len(directory), "nominations": len(nominations)}
