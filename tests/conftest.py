"""Session fixtures: the real servers on free loopback ports, started by the launcher `make run` uses."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from deploy import demo_data
from deploy.demo import send
from deploy.dev_keys import OPERATOR_TOKEN_FILE, SigningProducer
from deploy.processes import ManagedProcess
from deploy.stack import EmbeddedStack, StackConfig
from shared import envelope, topics
from shared.envelope import Event, PoisonMessage
from shared.outages import until_available
from shared.vault import MongoVault, keys_to_open


def pytest_collection_modifyitems(config, items):
    """The fault suite first: it brings a stack of its own, and the session's stack, once
    started, idles beside it to the end (four services polling their topics): the suite took
    223 s after it and 147 s alone."""
    items.sort(key=lambda item: item.path.name != "test_fault_suite.py")


@pytest.fixture(scope="session")
async def stack(tmp_path_factory) -> EmbeddedStack:
    root: Path = tmp_path_factory.mktemp("stack")
    # "Today" is frozen before the shortfall date so the shared instance never sends reminders
    # on its own; the shortfall test runs an instance of its own with a later clock.
    config = StackConfig.ephemeral(root, service_env={"CLOCK_TODAY": "2023-06-01", "SHORTFALL_CHECK_SECONDS": "1"})
    stack = EmbeddedStack(config)
    await stack.start_servers()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
async def producer(stack) -> SigningProducer:
    """Every test's producer: it signs each event as its source's producer in the stack's
    trust file (deploy/dev_keys.py); `producer.unsigned` sends without a signature."""
    producer = await stack.producer()
    yield producer
    await producer.stop()


@pytest.fixture(scope="session")
async def mongo(stack) -> AsyncMongoClient:
    client = AsyncMongoClient(stack.config.mongo_uri, tz_aware=True)
    yield client
    await client.close()


class TopicLog:
    """Everything published on a topic since offset 0, read by an independent consumer, with
    personal fields opened by the keys of the stack's key store as records arrive."""

    def __init__(self, bootstrap: str, topic: str, vault: MongoVault | None = None) -> None:
        self.topic = topic
        self.records: list = []
        self._events: list[Event] = []
        self.vault = vault
        self.keys: dict = {}
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
        self._task: asyncio.Task | None = None

    async def start(self) -> "TopicLog":
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self.topic) or set()
        self._consumer.assign([TopicPartition(self.topic, p) for p in partitions])
        await self._consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                # The fault suite stops the database under this log: wait for it, or the log
                # would stop growing and every later wait on it would time out.
                self.keys.update(await until_available(
                    lambda records=records: keys_to_open(self.vault, (r.value for r in records)), "the key store"))
                self.records.extend(records)
                # Decoded once, as they arrive: tests poll `events()` many times a second, and
                # decoding the whole topic each time took the CPU the services need.
                for record in records:
                    try:
                        self._events.append(envelope.decode(record.key, record.value, record.headers, keys=self.keys))
                    except PoisonMessage:
                        pass

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()
        if self.vault is not None:
            await self.vault.close()

    def events(self) -> list[Event]:
        return list(self._events)

    def about(self, key: str) -> list[Event]:
        return [e for e in self.events() if e.key == key]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := predicate():
                return result
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} on {self.topic}")


@pytest.fixture(scope="session")
async def topic_log(stack):
    logs: dict[str, TopicLog] = {}

    async def get(topic: str) -> TopicLog:
        if topic not in logs:
            logs[topic] = await TopicLog(stack.config.bootstrap, topic, stack.vault()).start()
        return logs[topic]

    yield get
    for log in logs.values():
        await log.stop()


@pytest.fixture(scope="session")
async def directory(stack, producer, mongo):
    """The demo directory, published once and applied by the nominations service."""
    events = demo_data.directory_events()
    await send(producer, topics.DIRECTORY, events)
    return events


@pytest.fixture(scope="session")
async def nominations_service(stack, directory, mongo):
    """One nominations instance for the session, once it has applied the directory."""
    proc = await stack.start_service("nominations")
    staff = demo_data.staff()

    async def applied():
        return await mongo["exemplars_nominations"]["staff"].count_documents({"full_name": {"$exists": True}}) >= len(staff)

    await wait_until(applied, what="the directory to be applied")
    return proc


def reads(service: ManagedProcess, token: str | None = None) -> httpx.AsyncClient:
    """A client of a service's read endpoints, with the local run's operator token unless
    another is given (the token the stack wrote beside the tokens file the service reads)."""
    readers = Path(next(v for k, v in service.env.items() if k.endswith("_READERS_FILE")))
    token = token or (readers.parent / OPERATOR_TOKEN_FILE).read_text(encoding="utf-8").strip()
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}", timeout=10.0,
                             headers={"Authorization": f"Bearer {token}"})


async def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await predicate():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
