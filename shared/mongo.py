"""MongoDB helpers on PyMongo's asynchronous API."""

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import ServiceSettings

log = logging.getLogger("exemplars.mongo")


def connect(settings: ServiceSettings) -> AsyncMongoClient:
    # tz_aware: datetimes come back as aware UTC, as they went in.
    return AsyncMongoClient(settings.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5_000,
                            appname=settings.mongo_database, **credentials(settings))


def credentials(settings: ServiceSettings) -> dict[str, str]:
    """The service's MongoDB user, when it has one; a user without its password refuses to start."""
    if not settings.mongo_username:
        return {}
    if not settings.mongo_password_file:
        raise ValueError("mongo_username needs mongo_password_file")
    password = Path(settings.mongo_password_file).read_text(encoding="utf-8").strip()
    if not password:
        raise ValueError(f"mongo_password_file {settings.mongo_password_file} is empty")
    return {"username": settings.mongo_username, "password": password, "authSource": settings.mongo_auth_source}


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
