"""Where a unit of work's documents live: MongoDB for the services, memory for a rebuild.

Both keep the same promise (shared/unit_of_work.py `Documents`), and one contract test
suite holds them to it (tests/integration/test_documents_contract.py).
"""

import copy
from collections.abc import Mapping
from typing import Any

from pymongo import DeleteOne, InsertOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from shared.unit_of_work import ANSWERS, REVISION, Conflict, Where, Write

DUPLICATE_KEY = 11000


class MemoryDocuments:
    """Every collection as a dict, for one writer (a rebuild). Documents are shared with the
    unit of work, never copied: both treat them as values (shared/unit_of_work.py `View`)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[Any, dict]] = {}

    async def load(self, needs: Mapping[str, set]) -> dict[str, dict[Any, dict]]:
        found: dict[str, dict[Any, dict]] = {}
        for name, ids in needs.items():
            docs = self.collections.get(name, {})
            found[name] = {i: docs[i] for i in ids if i in docs}
        return found

    async def query(self, queries: list[Where]) -> dict[Where, list[dict]]:
        return {q: [d for d in self.collections.get(q.collection, {}).values() if q.matches(d)]
                for q in queries}

    async def answers(self, keys: list[str]) -> dict[str, dict]:
        kept = self.collections.get(ANSWERS, {})
        return {k: kept[k] for k in keys if k in kept}

    async def commit(self, writes: list[Write], answers: list[dict]) -> None:
        for write in writes:
            docs = self.collections.setdefault(write.collection, {})
            if (docs[write.id].get(REVISION) if write.id in docs else None) != write.expected:
                raise Conflict(f"{write.collection}/{write.id} moved")
        kept = self.collections.setdefault(ANSWERS, {})
        if twins := [a["_id"] for a in answers if a["_id"] in kept]:
            raise Conflict(f"answered meanwhile: {twins[0]}")
        for write in writes:
            docs = self.collections[write.collection]
            if write.doc is None:
                docs.pop(write.id, None)
            else:
                docs[write.id] = {**write.doc, REVISION: (write.expected or 0) + 1}
        for answer in answers:
            kept[answer["_id"]] = answer

    def put(self, collection: str, doc: dict) -> None:
        """A document that no input decides (a rebuild's scheduled decisions, taken from the log)."""
        self.collections.setdefault(collection, {})[doc["_id"]] = copy.deepcopy(doc)

    def documents(self) -> dict[str, list[dict]]:
        return {name: list(docs.values()) for name, docs in self.collections.items()}


class MongoDocuments:
    """One service's database. A commit is one transaction: per collection one ordered
    `bulk_write` of revision-guarded writes, then the answers."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.round_trips = 0  # queries and writes sent, for the benchmark

    async def load(self, needs: Mapping[str, set]) -> dict[str, dict[Any, dict]]:
        found: dict[str, dict[Any, dict]] = {}
        for name, ids in needs.items():
            self.round_trips += 1
            found[name] = {doc["_id"]: doc async for doc in self.db[name].find({"_id": {"$in": list(ids)}})}
        return found

    async def query(self, queries: list[Where]) -> dict[Where, list[dict]]:
        found = {}
        for q in queries:
            self.round_trips += 1
            where = {} if q.field is None else {q.field: {"$in": list(q.values)}}
            found[q] = await self.db[q.collection].find(where).to_list()
        return found

    async def answers(self, keys: list[str]) -> dict[str, dict]:
        if not keys:
            return {}
        self.round_trips += 1
        return {doc["_id"]: doc async for doc in self.db[ANSWERS].find({"_id": {"$in": keys}})}

    async def commit(self, writes: list[Write], answers: list[dict]) -> None:
        by_collection: dict[str, list[Write]] = {}
        for write in writes:
            by_collection.setdefault(write.collection, []).append(write)
        if not by_collection and not answers:
            return
        async with self.db.client.start_session() as session:
            try:
                async with await session.start_transaction():
                    for name, group in by_collection.items():
                        await self._write(session, name, group)
                    if answers:
                        self.round_trips += 1
                        await self.db[ANSWERS].bulk_write([InsertOne(a) for a in answers], session=session)
            except BulkWriteError as exc:
                if any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise Conflict(f"a document or answer was written meanwhile: {exc.details['writeErrors'][0]}") from exc
                raise
            except OperationFailure as exc:
                if exc.has_error_label("TransientTransactionError"):
                    raise Conflict(f"transaction aborted: {exc}") from exc
                raise

    async def _write(self, session: AsyncClientSession, name: str, group: list[Write]) -> None:
        operations = []
        for w in group:
            if w.doc is None:
                operations.append(DeleteOne({"_id": w.id, REVISION: w.expected}))
            elif w.expected is None:
                # Inserted only if absent: a twin makes the upsert collide on `_id`.
                operations.append(ReplaceOne({"_id": w.id, REVISION: {"$exists": False}}, {**w.doc, REVISION: 1},
                                             upsert=True))
            else:
                operations.append(ReplaceOne({"_id": w.id, REVISION: w.expected}, {**w.doc, REVISION: w.expected + 1}))
        self.round_trips += 1
        result = await self.db[name].bulk_write(operations, ordered=True, session=session)
        if result.matched_count + result.upserted_count + result.deleted_count != len(operations):
            raise Conflict(f"{name}: a document's revision moved")
