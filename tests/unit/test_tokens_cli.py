"""`exemplars tokens`: an operator gives, lists and revokes read tokens; the file never holds one."""

import asyncio
import datetime as dt

import pytest

from deploy.cli import main
from shared.readers import Reader, TokenFile


def test_add_list_and_revoke(tmp_path, capsys):
    path = tmp_path / "trust" / "readers.yaml"
    assert main(["tokens", "add", "--file", str(path), "--subject", "qldd-officer", "--scope", "unit:QLDD",
                 "--expires", "2099-12-31"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("exr_") and token not in path.read_text()
    found = asyncio.run(TokenFile(path).reader(token))
    assert found == Reader.of("qldd-officer", ["unit:QLDD"])

    assert main(["tokens", "list", "--file", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "qldd-officer" in listed and "unit:QLDD" in listed and "2100-01-01" in listed and token not in listed

    assert main(["tokens", "revoke", "--file", str(path), "--subject", "qldd-officer"]) == 0
    assert asyncio.run(TokenFile(path).reader(token)) is None
    assert main(["tokens", "revoke", "--file", str(path), "--subject", "qldd-officer"]) == 2


def test_an_unknown_scope_is_refused_before_anything_is_written(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tokens", "add", "--file", str(tmp_path / "r.yaml"), "--subject", "x", "--scope", "admin"])
    assert exit_.value.code == 2 and "unit:<id>" in capsys.readouterr().err
    assert not (tmp_path / "r.yaml").exists()


def test_a_token_past_its_last_day_is_refused(tmp_path, capsys):
    path = tmp_path / "readers.yaml"
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    main(["tokens", "add", "--file", str(path), "--subject", "x", "--scope", "operator", "--expires", yesterday])
    assert asyncio.run(TokenFile(path).reader(capsys.readouterr().out.strip())) is None
