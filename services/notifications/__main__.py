"""`python -m services.notifications`: run the service with its read endpoints."""

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.http import serve


def main() -> None:
    serve("notifications", NotificationsSettings(), create_app)


if __name__ == "__main__":
    main()
