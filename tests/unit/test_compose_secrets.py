"""`exemplars secrets init` and how a service reads its MongoDB user."""

import base64
import stat

import pytest

from deploy.cli import main
from deploy.compose_secrets import KEY_FILE, ROOT_PASSWORD, service_password
from deploy.stack import SERVICES
from shared.mongo import credentials
from shared.settings import ServiceSettings


def test_init_creates_owner_only_secrets_once(tmp_path, capsys):
    assert main(["secrets", "init", "--dir", str(tmp_path)]) == 0
    names = {ROOT_PASSWORD, KEY_FILE, *(service_password(s) for s in SERVICES)}
    assert {p.name for p in tmp_path.iterdir()} == names
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key = (tmp_path / KEY_FILE).read_text().strip()
    assert 6 <= len(key) <= 1024 and base64.b64decode(key)  # what mongod accepts as a key file
    passwords = {(tmp_path / service_password(s)).read_text() for s in SERVICES}
    assert len(passwords) == len(SERVICES)

    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert main(["secrets", "init", "--dir", str(tmp_path)]) == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before  # kept, not replaced
    assert "kept" in capsys.readouterr().out


def test_a_service_signs_in_as_its_own_user(tmp_path):
    assert credentials(ServiceSettings()) == {}
    (tmp_path / "pw").write_text("s3cret\n")
    given = credentials(ServiceSettings(mongo_username="nominations", mongo_password_file=str(tmp_path / "pw")))
    assert given == {"username": "nominations", "password": "s3cret", "authSource": "admin"}
    with pytest.raises(ValueError, match="mongo_password_file"):
        credentials(ServiceSettings(mongo_username="nominations"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        credentials(ServiceSettings(mongo_username="nominations", mongo_password_file=str(tmp_path / "empty")))


def test_init_gives_the_workspace_a_token_for_the_criteria(tmp_path, capsys):
    import asyncio

    from deploy.compose_secrets import WORKSPACE_TOKEN
    from shared.readers import TokenFile

    readers = tmp_path / "trust" / "readers.yaml"
    assert main(["secrets", "init", "--dir", str(tmp_path / "s"), "--readers", str(readers)]) == 0
    token = (tmp_path / "s" / WORKSPACE_TOKEN).read_text().strip()
    reader = asyncio.run(TokenFile(readers).reader(token))
    assert reader.subject == "workspace" and not (reader.programme or reader.units or reader.evaluators)
    before = readers.read_text()
    assert main(["secrets", "init", "--dir", str(tmp_path / "s"), "--readers", str(readers)]) == 0
    assert readers.read_text() == before  # kept: no second token
