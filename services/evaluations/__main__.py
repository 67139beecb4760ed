"""`python -m services.evaluations`: run the service with its read endpoints."""

import uvicorn

from services.evaluations.app import create_app
from services.evaluations.settings import EvaluationsSettings
from shared import logs


def main() -> None:
    settings = EvaluationsSettings()
    logs.configure("evaluations", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                timeout_graceful_shutdown=int(settings.graceful_timeout_seconds))


if __name__ == "__main__":
    main()
