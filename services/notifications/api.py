"""Read endpoints of the delivery ledger."""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from services.notifications.store import NotificationStore

Readiness = Callable[[], Awaitable[dict[str, bool]]]
Status = Literal["pending", "sending", "sent", "failed"]


def create_api(store: NotificationStore, readiness: Readiness,
               lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> FastAPI:
    api = FastAPI(title="Exemplars — notifications", version="1", lifespan=lifespan)

    @api.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @api.get("/health/ready")
    async def ready() -> JSONResponse:
        checks = await readiness()
        return JSONResponse({"ready": all(checks.values()), "checks": checks},
                            status_code=200 if all(checks.values()) else 503)

    @api.get("/deliveries")
    async def deliveries(recipient_id: str | None = None, status: Status | None = None, event_id: str | None = None,
                         event_type: str | None = None, limit: int = Query(100, ge=1, le=1000),
                         offset: int = Query(0, ge=0)) -> list[dict[str, Any]]:
        docs = await store.find_deliveries(recipient_id=recipient_id, status=status, event_id=event_id,
                                           event_type=event_type, limit=limit, offset=offset)
        return [_public(doc) for doc in docs]

    @api.get("/deliveries/counts")
    async def counts() -> dict[str, int]:
        return await store.counts()

    @api.get("/deliveries/{delivery_id}")
    async def delivery(delivery_id: str) -> dict[str, Any]:
        doc = await store.delivery(delivery_id)
        if doc is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return _public(doc)

    return api


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in doc.items() if k not in ("claimed_by", "outcome_pending")}
    doc["delivery_id"] = doc.pop("_id")
    return doc
