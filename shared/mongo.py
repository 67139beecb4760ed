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


async def apply_once(collection: AsyncCollection, doc_id: Any, event_key: str, update: dict) -> bool:
    """Apply `update` to document `doc_id` unless the event `event_key` was applied to it already.

    The guard and the change are one single-document write, so a crash can never leave the
    change without its marker. Returns False when the event had been applied before.
    """
    update = dict(update)
    update["$addToSet"] = {**update.get("$addToSet", {}), "applied": event_key}
    try:
        result = await collection.update_one({"_id": doc_id, "applied": {"$ne": event_key}}, update, upsert=True)
    except DuplicateKeyError:
        # The document exists and carries the marker: the upsert tried to insert a twin.
        return False
    return result.modified_count > 0 or result.upserted_id is not None


async def ping(client: AsyncMongoClient) -> bool:
    try:
        await client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        log.debug("mongo ping failed: %r", exc)
        return False
    return True
