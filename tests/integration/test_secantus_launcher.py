"""deploy/secantus_server.py really gives SecantusDB a shorter transaction lifetime: a
transaction left open (its service killed before the commit) stops holding its document once
the lifetime has passed, and its own late commit fails as a conflict the unit of work retries.
And the local stack runs SecantusDB through it."""

import asyncio
import time
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from deploy import stack as stack_module
from deploy.processes import ManagedProcess, free_port, python_module, wait_for_port
from deploy.secantus_server import LOCAL_TRANSACTION_LIFETIME_SECONDS
from deploy.stack import EmbeddedStack, StackConfig
from shared.settings import LOCAL_MONGO_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
LIFETIME = 2.0  # seconds: short, for the test, but far above a loopback round trip
WRITE_CONFLICT, NO_SUCH_TRANSACTION = 112, 251
TRANSIENT = "TransientTransactionError"


@pytest.fixture
async def client(tmp_path):
    port = free_port()
    server = ManagedProcess(
        "secantus", python_module("deploy.secantus_server", "--host", "127.0.0.1", "--port", str(port),
                                  "--storage-path", str(tmp_path / "data"), "--log-level", "WARNING",
                                  "--transaction-lifetime", str(LIFETIME)),
        tmp_path / "secantus.log", cwd=ROOT).start()
    client = None
    try:
        await wait_for_port(port, server, timeout=60)
        client = AsyncMongoClient(f"mongodb://127.0.0.1:{port}/?{LOCAL_MONGO_OPTIONS}", serverSelectionTimeoutMS=10_000)
        yield client
    finally:
        if client is not None:
            await client.close()
        assert server.stop() == 0, server.tail()  # secantus's own SIGTERM handling, kept by the launcher


async def test_an_abandoned_transaction_lets_go_of_its_document_after_the_lifetime(client):
    docs = client["launcher"]["docs"]
    await docs.insert_one({"_id": "doc", "by": "seed"})
    abandoned, heir = client.start_session(), client.start_session()
    try:
        await abandoned.start_transaction()
        written = time.monotonic()
        await docs.replace_one({"_id": "doc"}, {"by": "abandoned"}, session=abandoned)

        # Within the lifetime the uncommitted write holds the document, as after a SIGKILL.
        await heir.start_transaction()
        with pytest.raises(OperationFailure) as held:
            await docs.replace_one({"_id": "doc"}, {"by": "heir"}, session=heir)
        assert time.monotonic() - written < LIFETIME, "too slow to tell the lock from its expiry"
        assert held.value.code == WRITE_CONFLICT and held.value.has_error_label(TRANSIENT)
        await heir.abort_transaction()

        # Past it, the next transaction statement aborts the abandoned one, and the heir writes.
        await asyncio.sleep(LIFETIME + 0.5 - (time.monotonic() - written))
        await heir.start_transaction()
        await docs.replace_one({"_id": "doc"}, {"by": "heir"}, session=heir)
        await heir.commit_transaction()

        # The abandoned commit fails with the label shared/documents.py turns into `Conflict`.
        with pytest.raises(OperationFailure) as late:
            await abandoned.commit_transaction()
        assert late.value.code == NO_SUCH_TRANSACTION and late.value.has_error_label(TRANSIENT)
        assert await docs.find_one({"_id": "doc"}) == {"_id": "doc", "by": "heir"}
    finally:
        await abandoned.end_session()
        await heir.end_session()


async def test_the_local_stack_starts_secantus_through_the_launcher(tmp_path, monkeypatch):
    started: list[list[str]] = []

    class Recorded:
        def __init__(self, name, argv, *args, **kwargs) -> None:
            started.append(argv)

        def start(self) -> "Recorded":
            return self

    async def listening(*args, **kwargs) -> None:
        return None

    monkeypatch.setattr(stack_module, "ManagedProcess", Recorded)
    monkeypatch.setattr(stack_module, "wait_for_port", listening)
    await EmbeddedStack(StackConfig(root=tmp_path)).start_mongo()
    [argv] = started
    assert argv[1:3] == ["-m", "deploy.secantus_server"]
    lifetime = argv[argv.index("--transaction-lifetime") + 1]
    assert float(lifetime) == LOCAL_TRANSACTION_LIFETIME_SECONDS
