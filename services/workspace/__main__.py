"""`python -m services.workspace`: run the workspace's web pages and projection."""

from services.workspace.app import create_app
from services.workspace.settings import WorkspaceSettings
from shared.http import serve


def main() -> None:
    serve("workspace", WorkspaceSettings(), create_app)


if __name__ == "__main__":
    main()
