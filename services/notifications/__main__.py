"""`python -m services.notifications`: run the service with its read endpoints."""

import uvicorn

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared import logs


def main() -> None:
    settings = NotificationsSettings()
    logs.configure("notifications", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                timeout_graceful_shutdown=int(settings.graceful_timeout_seconds))


if __name__ == "__main__":
    main()
