"""MongoDB helpers on PyMongo's asynchronous API."""

import logging
from collections.abc import Mapping, Sequence

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

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


async def ping(client: AsyncMongoClient) -> bool:
    try:
        await client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        log.debug("mongo ping failed: %r", exc)
        return False
    return True
