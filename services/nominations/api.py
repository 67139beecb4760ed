"""Read endpoints of the nominations projection.

Operators and the ministry office read every unit's nominations; a unit reads its own
(shared/readers.py). Nominations hold no contact data, so nothing more is held back.
"""

from typing import Any

from fastapi import Depends, FastAPI, Query

from services.nominations.domain import Status
from services.nominations.store import NominationStore
from shared.http import Lifespan, Readiness, service_api
from shared.programme import Programme
from shared.readers import ReadAccess, Reader, not_found


def create_api(store: NominationStore, programme: Programme, access: ReadAccess, readiness: Readiness,
               lifespan: Lifespan) -> FastAPI:
    api = service_api("nominations", readiness, lifespan)

    @api.get("/nominations")
    async def nominations(unit_id: str | None = None, year: int | None = None, status: Status | None = None,
                          limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                          reader: Reader = Depends(access)) -> list[dict[str, Any]]:
        reader.require(reader.reads_unit(unit_id) if unit_id else bool(reader.programme or reader.units))
        units = {unit_id} if unit_id else (None if reader.programme else reader.units)
        docs = await store.find(units=units, year=year, status=status.value if status else None,
                                limit=limit, offset=offset)
        return [_public(doc) for doc in docs]

    @api.get("/nominations/{nomination_id}")
    async def nomination(nomination_id: str, reader: Reader = Depends(access)) -> dict[str, Any]:
        doc = await store.nomination(nomination_id)
        if doc is None or not reader.reads_unit(doc["unit_id"]):
            raise not_found(reader, f"no nomination {nomination_id}")
        return _public(doc)

    @api.get("/units/{unit_id}/quota/{year}")
    async def quota(unit_id: str, year: int, reader: Reader = Depends(access)) -> dict[str, Any]:
        reader.require(reader.reads_unit(unit_id))
        holding = await store.quota(unit_id, year)
        return {
            "unit_id": unit_id, "year": year, "accepted": len(holding),
            "yearly_minimum": programme.yearly_minimum, "yearly_maximum": programme.yearly_maximum,
            "remaining": max(programme.yearly_maximum - len(holding), 0),
            "below_minimum": len(holding) < programme.yearly_minimum,
            "nominations": [{"nomination_id": d["_id"], "status": d["status"], "title": d["submission"]["title"],
                             "nominee": d["submission"]["nominee"]["name"]} for d in holding],
        }

    return api


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in doc.items() if k not in ("outbox", "nominee_key")}
    doc["nomination_id"] = doc.pop("_id")
    return doc
