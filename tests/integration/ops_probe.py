"""`python -m tests.integration.ops_probe`: a service's HTTP side with nothing behind it (no
broker, no database), run by `shared.http.serve` as the services are: one read endpoint behind
a bearer token, and the operations routes. Settings from the environment (`PROBE_...`)."""

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from pydantic_settings import SettingsConfigDict

from shared.http import serve, service_api, with_operations
from shared.metrics import ServiceMetrics
from shared.readers import Reader, read_access
from shared.settings import ServiceSettings


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")


def create_app(settings: ServiceSettings) -> FastAPI:
    access = read_access(settings)

    async def readiness() -> dict[str, bool]:
        return {"probe": True}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield

    api = service_api("probe", readiness, lifespan)

    @api.get("/things")
    async def things(reader: Reader = Depends(access)) -> dict[str, str]:
        return {"subject": reader.subject}

    return with_operations(api, ServiceMetrics("probe"), lambda: {"asyncapi": "3.0.0"}, settings)


if __name__ == "__main__":
    serve("probe", ProbeSettings(), create_app)
