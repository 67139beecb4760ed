"""The key store of personal data: one key per person, apart from the log (shared/personal.py).

`Vault` is the small interface a service needs; `MongoVault` keeps the keys in a MongoDB
collection of their own database (the local run and compose), and an external KMS fits behind
the same four calls. A person's key is made the first time one of their fields is sealed and
deleted when they are erased; the tombstone stays, so a record about them sealed later (a
replay, an HR system sending them again) is written as erased instead of under a new key.

No cache: every batch asks for the keys it needs (one query), so an erasure holds from the
next batch on in every service, with nothing to invalidate.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Protocol

from bson import Binary
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared import personal
from shared.envelope import Event

KEYS = "person_keys"
DUPLICATE_KEY = 11000

Keys = dict[str, bytes | None]  # person -> key, or None once erased (a `personal.Keys`)


class Vault(Protocol):
    async def keys(self, persons: Collection[str]) -> Keys:
        """The keys of the persons that have one, None for the erased; the others are absent."""

    async def keys_for_sealing(self, persons: Collection[str]) -> Keys:
        """Every person's key, made for those without one; None for the erased."""

    async def erase(self, person: str, at: dt.datetime) -> bool:
        """Deletes the person's key (True when there was one); the tombstone stays."""

    async def state(self, person: str) -> dict | None:
        """When the person's key was made and erased, never the key itself."""


class MongoVault:
    def __init__(self, db: AsyncDatabase, owned: AsyncMongoClient | None = None) -> None:
        self.collection = db[KEYS]
        self._owned = owned

    @classmethod
    def connect(cls, client: AsyncMongoClient, database: str) -> "MongoVault":
        """On a service's own client, which the service closes."""
        return cls(client[database])

    @classmethod
    def open(cls, uri: str, database: str, **options) -> "MongoVault":
        """On a client of its own, for a tool (`options`: its MongoDB user): `close` it."""
        client = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000, appname="exemplars-keys",
                                  **options)
        return cls(client[database], owned=client)

    async def close(self) -> None:
        if self._owned is not None:
            await self._owned.close()

    async def keys(self, persons: Collection[str]) -> Keys:
        if not persons:
            return {}
        found = self.collection.find({"_id": {"$in": sorted(persons)}}, {"key": 1})
        return {doc["_id"]: bytes(doc["key"]) if doc.get("key") is not None else None async for doc in found}

    async def keys_for_sealing(self, persons: Collection[str]) -> Keys:
        known = await self.keys(persons)
        missing = sorted(set(persons) - known.keys())
        if not missing:
            return known
        now = dt.datetime.now(dt.UTC)
        try:
            await self.collection.insert_many(
                [{"_id": person, "key": Binary(personal.new_key()), "created_at": now} for person in missing],
                ordered=False)
        except BulkWriteError as exc:  # another instance made some of them first: theirs stand
            if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise
        return known | await self.keys(missing)

    async def erase(self, person: str, at: dt.datetime) -> bool:
        before = await self.collection.find_one_and_update(
            {"_id": person}, {"$set": {"key": None, "erased_at": at}, "$setOnInsert": {"created_at": at}},
            upsert=True)
        return bool(before and before.get("key") is not None)

    async def state(self, person: str) -> dict | None:
        return await self.collection.find_one({"_id": person}, {"key": 0})


class MemoryVault:
    """The same rules in memory: unit tests, and rebuild rehearsals that must not touch the keys."""

    def __init__(self) -> None:
        self.stored: Keys = {}

    async def keys(self, persons: Collection[str]) -> Keys:
        return {p: self.stored[p] for p in persons if p in self.stored}

    async def keys_for_sealing(self, persons: Collection[str]) -> Keys:
        for person in persons:
            self.stored.setdefault(person, personal.new_key())
        return await self.keys(persons)

    async def erase(self, person: str, at: dt.datetime) -> bool:
        had = self.stored.get(person) is not None
        self.stored[person] = None
        return had

    async def state(self, person: str) -> dict | None:
        return {"_id": person, "erased": self.stored[person] is None} if person in self.stored else None


async def keys_to_open(vault: Vault | None, values: Iterable[bytes | None]) -> Keys:
    """The keys a batch of records' sealed fields name, in one query (none without a vault:
    everything sealed then reads as erased)."""
    persons = set().union(*(personal.owners_in(value) for value in values))
    return await vault.keys(persons) if vault is not None and persons else {}


async def keys_to_seal(vault: Vault | None, events: Iterable[Event]) -> Keys | None:
    """The keys to seal `events` with (made where missing), or None without a vault: the
    events then travel in clear, as an outside producer without the key store sends them."""
    if vault is None:
        return None
    persons = set().union(*(personal.owners_of(e.type, e.data.model_dump(mode="json"))
                            for e in events if e.type in personal.PERSONAL))
    return await vault.keys_for_sealing(persons) if persons else {}


# Any key gives a sealed record its true size: the check that an answer fits the broker runs
# before the commit, where the persons' keys are not fetched yet.
SIZING_KEYS: Keys = defaultdict(lambda: bytes(personal.KEY_BYTES))
