"""Read endpoints of the delivery ledger.

A delivery holds an address (a mail box or a webhook URL) and what went wrong reaching it:
operators only. The counts per status are the ministry office's too.
"""

from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query

from services.notifications.errors import public_error
from services.notifications.store import NotificationStore
from shared.http import Lifespan, Readiness, service_api
from shared.readers import ReadAccess, Reader

Status = Literal["pending", "sending", "sent", "failed"]


def create_api(store: NotificationStore, access: ReadAccess, readiness: Readiness,
               lifespan: Lifespan) -> FastAPI:
    api = service_api("notifications", readiness, lifespan)

    @api.get("/deliveries")
    async def deliveries(recipient_id: str | None = None, status: Status | None = None, event_id: str | None = None,
                         event_type: str | None = None, limit: int = Query(100, ge=1, le=1000),
                         offset: int = Query(0, ge=0), reader: Reader = Depends(access)) -> list[dict[str, Any]]:
        reader.require(reader.operator)
        docs = await store.find_deliveries(recipient_id=recipient_id, status=status, event_id=event_id,
                                           event_type=event_type, limit=limit, offset=offset)
        return [_public(doc) for doc in docs]

    @api.get("/deliveries/counts")
    async def counts(reader: Reader = Depends(access)) -> dict[str, int]:
        reader.require(reader.programme)
        return await store.counts()

    @api.get("/deliveries/{delivery_id}")
    async def delivery(delivery_id: str, reader: Reader = Depends(access)) -> dict[str, Any]:
        reader.require(reader.operator)
        doc = await store.delivery(delivery_id)
        if doc is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return _public(doc)

    return api


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in doc.items() if k not in ("claimed_by", "outcome_pending")}
    doc["delivery_id"] = doc.pop("_id")
    if "last_error" in doc:  # a class only; a ledger from before classes may hold remote text
        doc["last_error"] = public_error(doc["last_error"])
    return doc
