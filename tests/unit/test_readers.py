"""Who may read: scopes, the tokens file, and what a service needs before it serves reads."""

import datetime as dt
import os
import time

import pytest
import yaml

from shared.readers import Reader, TokenFile, add_token, read_access, token_digest
from shared.settings import ServiceSettings


def test_scopes_make_a_reader():
    reader = Reader.of("a", ["unit:U-1", "unit:U-2", "evaluator:E-9", "profile", "unit:", "email"])
    assert reader.units == {"U-1", "U-2"} and reader.evaluators == {"E-9"}
    assert not reader.programme and reader.reads_unit("U-1") and not reader.reads_unit("U-3")
    assert Reader.of("m", ["ministry"]).programme and Reader.of("o", ["operator"]).operator
    assert Reader.of("m", ["ministry"]).reads_unit("anything")


async def test_the_tokens_file_holds_digests_and_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "readers.yaml"
    unit = add_token(path, "officer", ["unit:U-1"])
    assert unit not in path.read_text() and token_digest(unit) in path.read_text()
    tokens = TokenFile(path)
    assert await tokens.reader(unit) == Reader.of("officer", ["unit:U-1"])
    assert await tokens.reader(unit + "x") is None

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    expired = add_token(path, "gone", ["operator"], expires=past)
    assert await tokens.reader(expired) is None  # read again without a restart, and refused

    data = yaml.safe_load(path.read_text())
    data["tokens"] = [t for t in data["tokens"] if t["subject"] != "officer"]
    path.write_text(yaml.safe_dump(data))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same second, same size: still seen
    assert await tokens.reader(unit) is None  # revoked by deleting its line


async def test_a_broken_tokens_file_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "readers.yaml"
    token = add_token(path, "o", ["operator"])
    tokens = TokenFile(path)
    time.sleep(0.01)
    path.write_text("tokens: [ {sha256: ")
    assert (await tokens.reader(token)).operator


def test_a_service_without_a_token_source_refuses_to_start(tmp_path):
    with pytest.raises(ValueError, match="READERS_FILE"):
        read_access(ServiceSettings())
    with pytest.raises(ValueError, match="oidc_audience"):
        read_access(ServiceSettings(oidc_issuer="https://id.example/realms/x"))
    add_token(tmp_path / "r.yaml", "o", ["operator"])
    assert len(read_access(ServiceSettings(readers_file=str(tmp_path / "r.yaml"))).sources) == 1
