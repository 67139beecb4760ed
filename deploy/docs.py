"""The committed AsyncAPI documents, docs/asyncapi/<service>.json: written by `exemplars docs`
(`make docs`), compared with the code by tests/unit/test_asyncapi_docs.py."""

import tempfile
from pathlib import Path

from pydantic import SecretStr

from deploy.dev_keys import Keyring
from shared import asyncapi

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"
# The documents describe a compose deployment whatever the environment of the machine that
# writes them: settings are built from the defaults, never from environment variables.
DOCUMENTED_SETTINGS = {"kafka_bootstrap_servers": "kafka:9092"}
PLACEHOLDER = "not a secret: the workspace's pages need one to start, the document none"


def _services() -> dict:
    from services.evaluations.app import create_app as evaluations
    from services.evaluations.settings import EvaluationsSettings
    from services.nominations.app import create_app as nominations
    from services.nominations.settings import NominationsSettings
    from services.notifications.app import create_app as notifications
    from services.notifications.settings import NotificationsSettings
    from services.workspace.app import create_app as workspace
    from services.workspace.settings import WorkspaceSettings

    return {
        "nominations": (nominations, NominationsSettings),
        "evaluations": (evaluations, EvaluationsSettings),
        "notifications": (notifications, NotificationsSettings),
        "workspace": (workspace, WorkspaceSettings),
    }


def documents() -> dict[str, str]:
    """Service name -> its AsyncAPI document as the JSON text that is committed."""
    texts = {}
    with tempfile.TemporaryDirectory() as scratch:
        keyring = Keyring(scratch).ensure()  # the apps refuse to start without keys and tokens; unused here
        for name, (create_app, settings_class) in _services().items():
            app = create_app(settings_class.model_construct(**DOCUMENTED_SETTINGS, signing_key=str(keyring.key_file(name)),
                                                            trust_registry=str(keyring.trust_file),
                                                            readers_file=str(keyring.readers_file),
                                                            link_secret=SecretStr(PLACEHOLDER),
                                                            session_secret=SecretStr(PLACEHOLDER)))
            texts[name] = asyncapi.to_json(app.state.asyncapi())
    return texts


def write(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in documents().items():
        path = directory / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = DOCS_DIR) -> list[str]:
    """Services whose committed document differs from what the code generates."""
    return [name for name, text in documents().items()
            if not (directory / f"{name}.json").is_file()
            or (directory / f"{name}.json").read_text(encoding="utf-8") != text]
