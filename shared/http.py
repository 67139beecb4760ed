"""What every service's HTTP side shares: the health endpoints and the uvicorn runner."""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared import logs
from shared.settings import ServiceSettings

Readiness = Callable[[], Awaitable[dict[str, bool]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_api(service: str, readiness: Readiness, lifespan: Lifespan) -> FastAPI:
    """A FastAPI app with `/health/live` and `/health/ready` (503 unless every check passes)."""
    api = FastAPI(title=f"Exemplars — {service}", version="1", lifespan=lifespan)

    @api.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @api.get("/health/ready")
    async def ready() -> JSONResponse:
        checks = await readiness()
        healthy = all(checks.values())
        return JSONResponse({"ready": healthy, "checks": checks}, status_code=200 if healthy else 503)

    return api


def serve(service: str, settings: ServiceSettings, create_app: Callable[[ServiceSettings], FastAPI]) -> None:
    """Run a service until SIGTERM/SIGINT; shutdown gives in-flight work the graceful timeout."""
    logs.configure(service, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                timeout_graceful_shutdown=int(settings.graceful_timeout_seconds))
