"""shared/groups.py lists every subscription the services make, and no other."""

import importlib

import pytest

from deploy.dev_keys import Keyring
from shared import groups, kafka

APPS = {
    "nominations": ("services.nominations.app", "services.nominations.settings", "NominationsSettings"),
    "evaluations": ("services.evaluations.app", "services.evaluations.settings", "EvaluationsSettings"),
    "notifications": ("services.notifications.app", "services.notifications.settings", "NotificationsSettings"),
    "workspace": ("services.workspace.app", "services.workspace.settings", "WorkspaceSettings"),
}
SECRETS = {"workspace": {"link_secret": "l" * 40, "session_secret": "s" * 40}}


@pytest.fixture
def made_subscriptions(monkeypatch, tmp_path) -> set[groups.Subscription]:
    """Build each service's app with `kafka.subscribe` recording its calls (no broker, no database)."""
    seen: set[groups.Subscription] = set()

    def record(broker, topic, *, service, name, ignore_unhandled, **_):
        seen.add(groups.Subscription(service, name, topic, ignore_unhandled))

    monkeypatch.setattr(kafka, "subscribe", record)
    keyring = Keyring(tmp_path).ensure()
    for service, (app_module, settings_module, settings_class) in APPS.items():
        settings = getattr(importlib.import_module(settings_module), settings_class)(
            signing_key=str(keyring.key_file(service)), trust_registry=str(keyring.trust_file),
            readers_file=str(keyring.readers_file), **SECRETS.get(service, {}))
        importlib.import_module(app_module).create_app(settings)
    return seen


def test_the_list_matches_the_subscribe_calls_of_the_services(made_subscriptions):
    assert made_subscriptions == set(groups.SUBSCRIPTIONS)


def test_lookups():
    assert groups.SERVICES == ("nominations", "evaluations", "notifications", "workspace")
    assert {s.service for s in groups.readers("exemplars.directory")} == set(groups.SERVICES)
    assert [s.name for s in groups.of_service("nominations")] == ["intake", "directory", "evaluations"]
    assert groups.subscription("evaluations", "intake").topic == "exemplars.evaluations.intake"
    with pytest.raises(KeyError):
        groups.subscription("evaluations", "nothing")
