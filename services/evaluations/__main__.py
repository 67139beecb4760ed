"""`python -m services.evaluations`: run the service with its read endpoints."""

from services.evaluations.app import create_app
from services.evaluations.settings import EvaluationsSettings
from shared.http import serve


def main() -> None:
    serve("evaluations", EvaluationsSettings(), create_app)


if __name__ == "__main__":
    main()
