"""`exemplars keys`: what an operator or a unit system's developer does with it, end to end."""

import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.cli import main
from shared import keys

INTEROP = Path(__file__).resolve().parents[1] / "interop" / "sign_event.py"
EVENT = {"specversion": "1.0", "id": "e-1", "source": "urn:exemplars:unit:U-01", "type": "nomination.submitted",
         "time": "2026-12-01T10:00:00Z", "datacontenttype": "text/plain", "data": "Hồ sơ đề xuất của đơn vị",
         "actor": "U-01-OFF"}


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["keys", *argv])
    return code, capsys.readouterr().out


@pytest.fixture
def key_pair(tmp_path, capsys):
    path = tmp_path / "unit-U-01.key"
    code, out = run(capsys, "new", str(path))
    assert code == 0
    return path, Path(f"{path}.pub"), out


def test_new_writes_an_owner_only_private_key_its_public_half_and_the_trust_entry(key_pair, capsys):
    private, public, out = key_pair
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    kid = keys.key_id(keys.load_key(private))
    assert keys.key_id(keys.load_key(public)) == kid and not isinstance(keys.load_key(public), keys.SigningKey)
    [entry] = yaml.safe_load(out.split("under the producer's `keys:`):\n")[1])
    assert entry["kid"] == kid and keys.key_id(keys.public_key_from_raw(keys.b64decode(entry["x"]))) == kid
    assert main(["keys", "new", str(private)]) == 2  # never overwrites a key by accident
    assert f"id {kid}" in run(capsys, "show", str(public))[1]


def test_signed_by_the_cli_verifies_with_the_key_and_in_the_independent_verifier(key_pair, tmp_path, capsys,
                                                                                  monkeypatch):
    private, public, _ = key_pair
    (tmp_path / "event.json").write_text(json.dumps(EVENT), encoding="utf-8")
    code, out = run(capsys, "sign", "--key", str(private), "--signed-ext", "actor", str(tmp_path / "event.json"))
    signed = json.loads(out)
    assert code == 0 and signed["dssematerial"]
    assert run(capsys, "verify", "--key", str(public), stdin=out, monkeypatch=monkeypatch)[0] == 0
    # Written from the spec alone (tests/interop): it agrees.
    verifying = keys.load_key(public)
    request = {"event": signed, "keys": {keys.key_id(verifying): verifying.public_bytes_raw().hex()}}
    result = subprocess.run([sys.executable, str(INTEROP), "verify"], input=json.dumps(request), capture_output=True,
                            text=True, timeout=60)
    assert json.loads(result.stdout) == {"verified": True, "keyid": keys.key_id(verifying), "signedextattrs": ["actor"]}


@pytest.mark.parametrize("change", [{"data": "Hồ sơ khác"}, {"actor": "U-02-OFF"}, {"source": "urn:exemplars:unit:U-02"}])
def test_what_was_changed_after_signing_does_not_verify(key_pair, capsys, monkeypatch, change):
    private, public, _ = key_pair
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(EVENT)))
    signed = json.loads(run(capsys, "sign", "--key", str(private), "--signed-ext", "actor")[1])
    code, out = run(capsys, "verify", "--key", str(public), stdin=json.dumps({**signed, **change}),
                    monkeypatch=monkeypatch)
    assert code == 1 and out.startswith("not verified: digest_mismatch")


def test_against_a_trust_file_it_names_the_producer_and_judges_source_and_validity(key_pair, tmp_path, capsys,
                                                                                      monkeypatch):
    private, public, out = key_pair
    [entry] = yaml.safe_load(out.split("under the producer's `keys:`):\n")[1])
    trust = tmp_path / "trust.yaml"
    trust.write_text(yaml.safe_dump({"producers": [{
        "name": "unit-U-01", "source": "urn:exemplars:unit:U-01",
        "keys": [{**entry, "valid_from": "2026-01-01", "valid_to": "2027-01-01"}]}]}), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(EVENT)))
    signed = run(capsys, "sign", "--key", str(private))[1]
    verdicts = {}
    for name, extra, event in (("now", ["--at", "2026-12-01T10:00:00+00:00"], signed),
                               ("expired", ["--at", "2027-02-01T00:00:00+00:00"], signed),
                               ("other source", ["--at", "2026-12-01T10:00:00+00:00"],
                                json.dumps({**json.loads(signed), "source": "urn:exemplars:unit:U-02"}))):
        verdicts[name] = run(capsys, "verify", "--trust", str(trust), *extra, stdin=event, monkeypatch=monkeypatch)
    assert verdicts["now"][0] == 0 and verdicts["now"][1].startswith("verified by unit-U-01, key ")
    # A key that is not valid then, or not its producer's for that source, is an unknown key.
    assert verdicts["expired"][0] == 1 and "unknown_key" in verdicts["expired"][1]
    assert verdicts["other source"][0] == 1 and "unknown_key" in verdicts["other source"][1]


@pytest.mark.parametrize(("argv", "stdin", "says"), [
    (["show", "/nonexistent/unit.key"], None, "No such file"),
    (["sign", "--key", "{key}"], "not json", "Expecting value"),
    (["sign", "--key", "{key}"], '{"id": "e-1"}', "not a JSON-format CloudEvent"),
    (["verify", "--key", "{pub}"], "[]", "not a JSON-format CloudEvent"),
])
def test_bad_input_gets_one_line_and_status_2(key_pair, capsys, monkeypatch, argv, stdin, says):
    private, public, _ = key_pair
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    code = main(["keys", *(a.format(key=private, pub=public) for a in argv)])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_init_creates_a_key_per_producer_and_a_registry_the_services_accept(tmp_path, capsys):
    from deploy.cli import main
    from shared.credentials import Credentials
    from shared.settings import ServiceSettings

    trust = tmp_path / "trust" / "registry.yaml"
    assert main(["keys", "init", "--keys", str(tmp_path / "secrets"), "--trust", str(trust)]) == 0
    for service, source in (("nominations", "urn:exemplars:nominations"), ("evaluations", "urn:exemplars:evaluations"),
                            ("notifications", "urn:exemplars:notifications")):
        settings = ServiceSettings(signing_key=str(tmp_path / "secrets" / f"{service}.pem"), trust_registry=str(trust))
        assert Credentials.from_settings(settings, service, source).signer.key is not None
    assert main(["keys", "init", "--keys", str(tmp_path / "secrets"), "--trust", str(trust)]) == 2  # kept
    assert "exists" in capsys.readouterr().err
