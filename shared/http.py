"""What every service's HTTP side shares: health, metrics and AsyncAPI endpoints, the uvicorn runner."""

import asyncio
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, contextmanager
from functools import cache
from typing import Any

import uvicorn
import yaml
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shared import asyncapi, logs
from shared.metrics import ServiceMetrics
from shared.progress import PROGRESS
from shared.settings import ServiceSettings

Readiness = Callable[[], Awaitable[dict[str, bool]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_api(service: str, readiness: Readiness, lifespan: Lifespan) -> FastAPI:
    """A FastAPI app for a service's reads; its operations routes (`api.state.operations`)
    start with `/health/live` and `/health/ready` (503 unless every check passes, a consumed
    partition that keeps failing included: shared/progress.py)."""
    api = FastAPI(title=f"Exemplars — {service}", version="1", lifespan=lifespan)
    operations = api.state.operations = APIRouter()

    @operations.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @operations.get("/health/ready")
    async def ready() -> JSONResponse:
        checks = await readiness()
        stalled = PROGRESS.stalled()
        checks["consumers"] = not stalled
        healthy = all(checks.values())
        body: dict[str, Any] = {"ready": healthy, "checks": checks}
        if stalled:
            body["stalled"] = [{"group": s.group, "topic": s.topic, "partition": s.partition, "failures": s.failures}
                               for s in stalled]
        return JSONResponse(body, status_code=200 if healthy else 503)

    return api


def with_operations(api: FastAPI, metrics: ServiceMetrics, asyncapi_document: Callable[[], dict[str, Any]],
                    settings: ServiceSettings) -> FastAPI:
    """Add `/metrics` (Prometheus text format) and the AsyncAPI document at `/docs/asyncapi` (HTML),
    `/docs/asyncapi.json` and `/docs/asyncapi.yaml` to the operations routes, and serve those
    beside the reads unless they have an address of their own (`serve`).
    `api.state.asyncapi()` gives the document."""
    document = cache(asyncapi_document)  # the broker's declarations do not change once built
    api.state.asyncapi = document
    operations: APIRouter = api.state.operations

    @operations.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus() -> Response:
        body, content_type = await metrics.exposition()
        return Response(body, media_type=content_type)

    @operations.get("/docs/asyncapi", tags=["operations"], response_class=HTMLResponse)
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(asyncapi.to_html(document()))

    @operations.get("/docs/asyncapi.json", tags=["operations"])
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(document())

    @operations.get("/docs/asyncapi.yaml", tags=["operations"], response_class=Response)
    async def asyncapi_yaml() -> Response:
        text = yaml.safe_dump(document(), allow_unicode=True, sort_keys=False)
        return Response(text, media_type="application/yaml")

    if settings.ops_http_port is None:
        api.include_router(operations)
    return api


class _Companion(uvicorn.Server):
    """The operations server beside the main one: the main server owns the signals and the
    lifespan; this one stops when it does."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve_apart(api: FastAPI, settings: ServiceSettings) -> None:
    main = uvicorn.Server(uvicorn.Config(api, host=settings.http_host, port=settings.http_port, log_config=None,
                                         timeout_graceful_shutdown=int(settings.graceful_timeout_seconds)))
    ops_api = FastAPI(title=api.title + " — operations", version="1")
    ops_api.include_router(api.state.operations)
    ops = _Companion(uvicorn.Config(ops_api, host=settings.ops_http_host, port=settings.ops_http_port,
                                    log_config=None, lifespan="off"))
    companion = asyncio.create_task(ops.serve())
    try:
        await main.serve()
    finally:
        ops.should_exit = True
        await companion


def serve(service: str, settings: ServiceSettings, create_app: Callable[[ServiceSettings], FastAPI]) -> None:
    """Run a service until SIGTERM/SIGINT; shutdown gives in-flight work the graceful timeout."""
    logs.configure(service, settings.log_level)
    api = create_app(settings)
    if settings.ops_http_port is not None:
        asyncio.run(_serve_apart(api, settings))
        return
    uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_config=None,
                timeout_graceful_shutdown=int(settings.graceful_timeout_seconds))
