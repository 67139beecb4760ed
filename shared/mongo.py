"""MongoDB helpers on PyMongo's asynchronous API."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.settings import ServiceSettings

log = logging.getLogger("exemplars.mongo")


def connect(settings: ServiceSettings) -> AsyncMongoClient:
    # tz_aware: datetimes come back as aware UTC, as they went in.
    return AsyncMongoClient(settings.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5_000,
                            appname=settings.mongo_database)


async def ensure_indexes(db: AsyncDatabase, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            await db[collection].create_indexes(list(models))


# How many applied-event markers a document keeps, atomic with its changes: a redelivery
# (after a crash, a rebalance) comes within a few events of the first copy on the same
# document. A list of every event ever applied would grow with history until the 16 MB
# limit; every marker is also kept for good in a collection of its own (`keep_applied`),
# for a duplicate that comes much later (a producer's retry, a dead letter replayed), which
# would otherwise bring back an old version.
APPLIED_MARKERS = 64


def marker_push(event_key: str) -> dict:
    """The `$push` of a marker that keeps the last `APPLIED_MARKERS` of them."""
    return {"applied": {"$each": [event_key], "$slice": -APPLIED_MARKERS}}


def with_marker(markers: list[str], event_key: str) -> list[str]:
    """`marker_push` on a plain list (the in-memory stores of a rebuild)."""
    return [*markers, event_key][-APPLIED_MARKERS:]


# How many answers an aggregate keeps beside its state (its outbox), for a change and its
# answer to be one write. Every answer is also kept in its service's `answers` collection,
# for duplicates that come later than this many inputs on the same aggregate.
OUTBOX_KEEP = 10


def outbox_push(entry: dict) -> dict:
    """The `$push` of an outbox entry that keeps the last `OUTBOX_KEEP`."""
    return {"outbox": {"$each": [entry], "$slice": -OUTBOX_KEEP}}


def with_entry(outbox: list[dict], entry: dict) -> list[dict]:
    """`outbox_push` on a plain list (the in-memory stores of a rebuild)."""
    return [*outbox, entry][-OUTBOX_KEEP:]


async def insert_once(collection: AsyncCollection, doc: dict) -> None:
    """Insert `doc` unless its `_id` exists (written by an earlier copy of the same input)."""
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        pass


async def apply_once(collection: AsyncCollection, doc_id: Any, event_key: str, update: dict,
                     *, upsert: bool = True, where: dict | None = None) -> bool:
    """Apply `update` to document `doc_id` unless the event `event_key` was applied to it recently.

    The guard and the change are one single-document write, so a crash can never leave the
    change without its marker. Returns False when the event had been applied before (or,
    without `upsert`, when the document does not exist, or when it does not match `where`).
    """
    update = dict(update)
    update["$push"] = {**update.get("$push", {}), **marker_push(event_key)}
    try:
        result = await collection.update_one({"_id": doc_id, "applied": {"$ne": event_key}, **(where or {})},
                                             update, upsert=upsert)
    except DuplicateKeyError:
        # The document exists and carries the marker (or fails `where`): the upsert tried to insert a twin.
        return False
    return result.modified_count > 0 or result.upserted_id is not None


def applied_id(collection: str, doc_id: Any, event_key: str) -> str:
    return f"{collection}/{doc_id}|{event_key}"


async def applied_before(log: AsyncCollection, collection: AsyncCollection, doc_id: Any, event_key: str) -> bool:
    """Whether the event was applied to the document, however long ago (see `keep_applied`)."""
    return await log.find_one({"_id": applied_id(collection.name, doc_id, event_key)}, {"_id": 1}) is not None


async def keep_applied(log: AsyncCollection, collection: AsyncCollection, doc_id: Any, event_key: str) -> None:
    """Remember for good that the event was applied: after `apply_once`, and again on every copy
    the document's own markers caught (a crash may have come between the two writes)."""
    await insert_once(log, applied_document(collection.name, doc_id, event_key))


def applied_document(collection: str, doc_id: Any, event_key: str) -> dict:
    return {"_id": applied_id(collection, doc_id, event_key), "collection": collection, "doc_id": doc_id,
            "input": event_key}


async def ping(client: AsyncMongoClient) -> bool:
    try:
        await client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        log.debug("mongo ping failed: %r", exc)
        return False
    return True
