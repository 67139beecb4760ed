"""`python -m services.nominations`: run the service with its read endpoints."""

from services.nominations.app import create_app
from services.nominations.settings import NominationsSettings
from shared.http import serve


def main() -> None:
    serve("nominations", NominationsSettings(), create_app)


if __name__ == "__main__":
    main()
