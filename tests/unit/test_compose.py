"""docker-compose.yml, deploy/Dockerfile and the topic job, checked without a Docker engine.

The compose specification (check-jsonschema's vendored schema) catches misspelt keys and
wrong types. It does not catch a `depends_on` pointing at a missing service, a
`service_healthy` target without a healthcheck, an undeclared volume, a grace period shorter
than the services' shutdown timeout, a command naming a module that is not in the image, or
a topic job that drifted from shared/topics.py: those are checked here in Python.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from shared.retention import RetentionError, RetentionPolicy
from shared.settings import ServiceSettings
from shared.topics import TOPICS, all_topic_names, dlq

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
TOPIC_SCRIPT = ROOT / "deploy" / "kafka" / "create-topics.sh"
MONGO_SCRIPT = ROOT / "deploy" / "mongo" / "replica-set.js"

# Compose service -> (module run by `python -m`, settings env prefix, HTTP port in the container).
APP_SERVICES: dict[str, tuple[str, str, int]] = {
    "nominations": ("services.nominations", "NOMINATIONS_", 8001),
    "evaluations": ("services.evaluations", "EVALUATIONS_", 8002),
    "notifications": ("services.notifications", "NOTIFICATIONS_", 8003),
    "workspace": ("services.workspace", "WORKSPACE_", 8004),
}

SECRET_KEY = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL")
# What .env must give before compose starts (a trial's values).
REQUIRED = {"NOTIFICATIONS_WEBHOOK_SECRET": "s3cret", "WORKSPACE_LINK_SECRET": "l" * 40,
            "WORKSPACE_SESSION_SECRET": "s" * 40}

# Compose service -> its settings class (pydantic-settings ignores unknown variables, so a
# misspelt or renamed one would be dropped silently).
SETTINGS_CLASSES: dict[str, str] = {
    "nominations": "services.nominations.settings:NominationsSettings",
    "evaluations": "services.evaluations.settings:EvaluationsSettings",
    "notifications": "services.notifications.settings:NotificationsSettings",
    "workspace": "services.workspace.settings:WorkspaceSettings",
}


# ---- helpers --------------------------------------------------------------------------------

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME, and $$.
_VARIABLE = re.compile(
    r"\$\$"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^${}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class RequiredVariable(str):
    """What an unset `${NAME:?error}` interpolates to here (compose would refuse to start)."""


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation with `env` as the environment (defaults when it is empty)."""
    env = env or {}
    required: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", ":?"):
            unset = not value
        else:
            unset = value is None
        if not unset:
            return value
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            required.append(name)
            return f"<required {name}>"
        return ""

    result = _VARIABLE.sub(replace, text)
    assert "${" not in result, f"unparsed (nested?) interpolation left in {text!r}"
    return RequiredVariable(result) if required else result


def resolve(node, env: dict[str, str] | None = None):
    """The compose document with every string interpolated."""
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def variables_in(node) -> dict[str, list[tuple[str, str | None]]]:
    """Every variable referenced, with (operator, argument) of each reference."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    if isinstance(node, dict):
        items = list(node.values())
    elif isinstance(node, list):
        items = node
    elif isinstance(node, str):
        for match in _VARIABLE.finditer(node):
            name = match.group("name") or match.group("bare")
            if name:
                found.setdefault(name, []).append((match.group("op") or "", match.group("arg")))
        return found
    else:
        return found
    for item in items:
        for name, uses in variables_in(item).items():
            found.setdefault(name, []).extend(uses)
    return found


def env_dict(service: dict) -> dict[str, str | None]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in environment)
        return {key: value for key, value in pairs}
    return {
        key: value if value is None or isinstance(value, str) else str(value)
        for key, value in environment.items()
    }


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: dict(spec or {}) for name, spec in deps.items()}


_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>h|ms|us|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def duration_seconds(text: str) -> float:
    """Compose durations: 30s, 1m30s, 1.5s, 500ms (a bare number is seconds)."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = list(_DURATION.finditer(text))
    assert parts and "".join(part.group(0) for part in parts) == text, f"not a duration: {text!r}"
    return sum(float(part["value"]) * _UNIT_SECONDS[part["unit"]] for part in parts)


def parse_port(entry) -> tuple[str, str]:
    """(host part, container port) of a `ports` entry, short or long syntax."""
    if isinstance(entry, dict):
        return str(entry.get("published", "")), str(entry["target"])
    text = str(entry).split("/", 1)[0]
    host, _, container = text.rpartition(":")
    return host, container


def volume_mounts(service: dict) -> list[dict]:
    """Each volume entry as {type, source, target}."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append({"type": entry["type"], "source": entry.get("source"), "target": entry["target"]})
            continue
        parts = entry.split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
        if source is None:
            kind = "volume"  # anonymous
        elif source.startswith((".", "/", "~")):
            kind = "bind"
        else:
            kind = "volume"
        mounts.append({"type": kind, "source": source, "target": target})
    return mounts


def host_path_of(service: dict, container_path: str) -> Path | None:
    """The repository file a bind mount of `service` puts at `container_path`."""
    path = PurePosixPath(container_path)
    for mount in volume_mounts(service):
        if mount["type"] != "bind":
            continue
        target = PurePosixPath(mount["target"])
        if path == target or target in path.parents:
            return (ROOT / mount["source"] / path.relative_to(target)).resolve()
    return None


def check_jsonschema_command() -> list[str]:
    try:
        import check_jsonschema  # noqa: F401  (dev dependency of pyproject.toml)
    except ImportError:
        script = Path(sys.executable).with_name("check-jsonschema")
        if script.exists():
            return [str(script)]
        pytest.fail("check-jsonschema is not installed: pip install -e '.[dev]'")
    return [sys.executable, "-m", "check_jsonschema"]


def run_compose_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*check_jsonschema_command(), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def raw() -> dict:
    with COMPOSE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    """The compose document as compose sees it with no .env: every default applied."""
    return resolve(raw)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str | None]:
    """Variables of .env.example: value for `NAME=value`, None for a commented `# NAME=`."""
    documented: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        active = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        commented = re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=\s*", line.strip())
        if active:
            value = active.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            documented[active.group(1)] = value
        elif commented:
            documented.setdefault(commented.group(1), None)
    return documented


# ---- the compose specification ----------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification():
    result = run_compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_file(tmp_path):
    """The validator really runs: a misspelt key and a wrongly typed one are rejected."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  job:\n    image: busybox\n    depends_on: 5\n    helthcheck: {}\n")
    result = run_compose_schema(broken)
    assert result.returncode != 0, result.stdout
    good = tmp_path / "minimal.yml"
    good.write_text("services:\n  job:\n    image: busybox\n    restart: \"no\"\n")
    assert run_compose_schema(good).returncode == 0


# ---- what the schema cannot check ---------------------------------------------------------------


def test_every_depends_on_target_exists_and_its_condition_can_be_met(services):
    checked = 0
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                healthcheck = services[target].get("healthcheck") or {}
                assert healthcheck.get("test") and not healthcheck.get("disable"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                # PyYAML reads an unquoted `no` as False: write "no", as compose's docs do.
                assert services[target].get("restart", "no") == "no", (
                    f"{name} waits for {target} to complete, but {target} has restart "
                    f"{services[target]['restart']!r} (a one-shot job needs \"no\")"
                )
            checked += 1
    assert checked >= 7


def test_dependencies_have_no_cycle(services):
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"dependency cycle: {' -> '.join(path + (name,))}"
        if name in order:
            return
        visiting.add(name)
        for target in depends_on(services[name]):
            visit(target, path + (name,))
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name, ())
    assert order.index("kafka") < order.index("kafka-init") < order.index("nominations")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_topics_and_mongo_and_restarts(services, name):
    service = services[name]
    deps = depends_on(service)
    assert deps["kafka-init"]["condition"] == "service_completed_successfully"
    assert deps["mongo"]["condition"] == "service_healthy"
    assert service["restart"] in {"always", "unless-stopped", "on-failure"}
    assert service.get("init") is True, "an init process forwards SIGTERM and reaps children"


def test_named_volumes_are_declared_and_bind_mounts_exist(services, compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for mount in volume_mounts(service):
            if mount["type"] == "volume" and mount["source"]:
                assert mount["source"] in declared, f"{name} uses undeclared volume {mount['source']!r}"
                used.add(mount["source"])
            elif mount["type"] == "bind":
                source = (ROOT / mount["source"]).resolve()
                assert source.exists(), f"{name} mounts {mount['source']!r}, missing from the repository"
                assert ROOT in source.parents, f"{name} mounts {source} from outside the repository"
    assert declared == used, f"declared but unused volumes: {declared - used}"
    # The data that must survive a `docker compose down`.
    kafka_dirs = {m["target"] for m in volume_mounts(services["kafka"]) if m["type"] == "volume"}
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] in kafka_dirs
    assert "/data/db" in {m["target"] for m in volume_mounts(services["mongo"]) if m["type"] == "volume"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_stop_grace_period_exceeds_the_graceful_shutdown_timeout(services, name):
    _, prefix, _ = APP_SERVICES[name]
    service = services[name]
    configured = env_dict(service).get(f"{prefix}GRACEFUL_TIMEOUT_SECONDS")
    default = ServiceSettings.model_fields["graceful_timeout_seconds"].default
    timeout = float(configured) if configured else default
    assert "stop_grace_period" in service, f"{name} has no stop_grace_period (Docker's default is 10 s)"
    grace = duration_seconds(service["stop_grace_period"])
    # Room for the in-flight work, then the commit and the clients' close.
    assert grace >= timeout + 5, f"{name}: stop_grace_period {grace}s vs graceful timeout {timeout}s"


def test_duration_parser():
    assert duration_seconds("30s") == 30
    assert duration_seconds("1m30s") == 90
    assert duration_seconds("1.5s") == 1.5
    assert duration_seconds("500ms") == 0.5
    assert duration_seconds("12") == 12


@pytest.mark.parametrize("name", APP_SERVICES)
def test_command_runs_a_module_that_the_image_contains(services, name):
    module, _, _ = APP_SERVICES[name]
    command = services[name]["command"]
    assert command == ["python", "-m", module]
    main = ROOT.joinpath(*module.split("."), "__main__.py")
    assert main.is_file(), f"`python -m {module}` needs {main.relative_to(ROOT)}"
    assert in_wheel(main), f"{main.relative_to(ROOT)} is not packaged by pyproject.toml, so not in the image"


def in_wheel(path: Path) -> bool:
    """Whether `pip install .` puts this repository file into site-packages.

    setuptools' rules for pyproject.toml: [tool.setuptools.packages.find] with namespace
    packages on by default (folders without __init__.py count), modules of those packages,
    and data files matching [tool.setuptools.package-data] directly inside a package folder.
    """
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    find = tool["packages"]["find"]
    relative = path.resolve().relative_to(ROOT)
    package = ".".join(relative.parent.parts)
    if not package or not any(fnmatch.fnmatchcase(package, pattern) for pattern in find.get("include", ["*"])):
        return False
    if any(fnmatch.fnmatchcase(package, pattern) for pattern in find.get("exclude", [])):
        return False
    if not find.get("namespaces", True) and not all(
        (ROOT.joinpath(*relative.parent.parts[: depth + 1]) / "__init__.py").is_file()
        for depth in range(len(relative.parent.parts))
    ):
        return False
    if path.suffix == ".py":
        return True
    data = tool.get("package-data", {})
    patterns = [*data.get("*", []), *data.get(package, [])]
    return any(fnmatch.fnmatchcase(path.name, pattern) for pattern in patterns)


DATA_SUFFIXES = {".yaml", ".yml", ".json", ".j2", ".html", ".txt", ".toml", ".csv"}


def test_the_image_contains_every_data_file_of_the_services():
    """Templates, criteria sets, the programme: a file left out of the wheel breaks the container."""
    data_files = [
        path for top in ("shared", "services") for path in (ROOT / top).rglob("*")
        if path.is_file() and path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts
    ]
    assert data_files, "no data files found: the search is broken"
    missing = [str(path.relative_to(ROOT)) for path in data_files if not in_wheel(path)]
    assert not missing, f"not packaged by pyproject.toml: {missing}"
    # The rules above, on cases whose answer is known.
    assert in_wheel(ROOT / "shared" / "topics.py")
    assert not in_wheel(ROOT / "tests" / "unit" / "test_compose.py")
    assert not in_wheel(ROOT / "services" / "notes.md")


def test_app_services_share_one_image_built_from_deploy_dockerfile(services):
    builds = {name: services[name]["build"] for name in APP_SERVICES}
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name, build in builds.items():
        assert (ROOT / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name


# ---- Kafka and its topics -------------------------------------------------------------------------


def script_topics() -> dict[str, tuple[int, str]]:
    """The job's list: topic -> (partitions, default retention.ms)."""
    text = TOPIC_SCRIPT.read_text(encoding="utf-8")
    block = re.search(r"# BEGIN TOPICS.*?\nTOPICS='(.*?)'\n# END TOPICS", text, re.S)
    assert block, "create-topics.sh lost its BEGIN/END TOPICS markers"
    topics: dict[str, tuple[int, str]] = {}
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s+(\d+)\s+(-1|\d+)\s*", line)
        assert match, f"not `name partitions retention.ms`: {line!r}"
        assert match.group(1) not in topics, f"{match.group(1)} listed twice"
        topics[match.group(1)] = (int(match.group(2)), match.group(3))
    return topics


def test_topic_job_creates_exactly_the_topics_of_shared_topics_with_their_retention():
    topics = script_topics()
    assert sorted(topics) == sorted(all_topic_names())
    for spec in TOPICS:
        assert topics[spec.name][0] == spec.partitions, spec.name
        assert topics[dlq(spec.name)][0] == 1, dlq(spec.name)
    default = RetentionPolicy.from_text("")
    assert {name: retention for name, (_, retention) in topics.items()} == {
        name: default.retention_ms(name) for name in all_topic_names()
    }


def test_topic_job_agrees_with_the_local_stack_plan():
    """deploy/topics.py creates the topics of local runs; compose must create the same ones."""
    from deploy.topics import topic_plan

    plan = {topic.name: topic for topic in topic_plan(policy=RetentionPolicy.from_text(""))}
    topics = script_topics()
    assert {name: (topic.num_partitions, topic.topic_configs["retention.ms"]) for name, topic in plan.items()} == topics
    script = TOPIC_SCRIPT.read_text(encoding="utf-8")
    assert {key for topic in plan.values() for key in topic.topic_configs} == {"retention.ms", "cleanup.policy"}
    assert all(topic.topic_configs["cleanup.policy"] == "delete" for topic in plan.values())
    assert '--config "retention.ms=$retention" --config cleanup.policy=delete' in script
    assert "--if-not-exists" in script, "the job must be safe to run on every `up`"


def test_topic_job_runs_the_script_of_the_repository(services):
    job = services["kafka-init"]
    argv = list(job.get("entrypoint") or []) + list(job.get("command") or [])
    assert argv[:1] == ["/bin/sh"] and len(argv) == 2, argv
    assert host_path_of(job, argv[1]) == TOPIC_SCRIPT.resolve()
    assert job["image"] == services["kafka"]["image"], "same Kafka tools as the broker"
    kafka_internal = advertised_listeners(services["kafka"])["PLAINTEXT"]
    assert job["environment"]["BOOTSTRAP_SERVERS"] == kafka_internal


def test_topic_job_takes_the_retention_overrides_from_env(raw, services):
    job = raw["services"]["kafka-init"]
    assert variables_in(job["environment"]["TOPIC_RETENTION"]) == {"KAFKA_TOPIC_RETENTION": [(":-", "")]}
    assert services["kafka-init"]["environment"]["TOPIC_RETENTION"] == ""  # the defaults
    given = resolve(raw, {"KAFKA_TOPIC_RETENTION": "exemplars.directory.dlq=90d"})
    assert given["services"]["kafka-init"]["environment"]["TOPIC_RETENTION"] == "exemplars.directory.dlq=90d"


def test_topic_script_is_valid_posix_shell():
    result = subprocess.run(["sh", "-n", str(TOPIC_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- the topic job run against stand-ins of kafka-topics.sh and kafka-configs.sh --------------

# Kafka's tools as far as the job uses them, over a JSON file instead of a broker. The output
# is Kafka's own: kafka-configs.sh --describe prints "Dynamic configs for topic NAME are:" and
# then "  key=value sensitive=false synonyms={...}" (ConfigCommand.describeResourceConfig).
FAKE_KAFKA_TOOL = """\
import json, os, sys
from pathlib import Path

state_file = Path(os.environ["FAKE_KAFKA_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {"topics": {}, "ignore_alter": False}
args = sys.argv[1:]
with open(os.environ["FAKE_KAFKA_CALLS"], "a") as calls:
    calls.write(json.dumps([Path(sys.argv[0]).name, *args]) + "\\n")

def value(option):
    return args[args.index(option) + 1]

topics = state["topics"]
if Path(sys.argv[0]).name == "kafka-topics.sh":
    if "--list" in args:
        print("\\n".join(sorted(topics)))
    elif "--create" in args:
        configs = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--config")
        topics.setdefault(value("--topic"), {"partitions": int(value("--partitions")), "configs": configs})
else:
    assert value("--entity-type") == "topics", args
    if "--describe" in args:
        for name in sorted(topics):
            print(f"Dynamic configs for topic {name} are:")
            for key, val in sorted(topics[name]["configs"].items()):
                print(f"  {key}={val} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{key}={val}}}")
    elif "--alter" in args and not state["ignore_alter"]:
        key, val = value("--add-config").split("=", 1)
        topics[value("--entity-name")]["configs"][key] = val
state_file.write_text(json.dumps(state))
"""


class FakeKafka:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in ("kafka-topics.sh", "kafka-configs.sh"):
            path = self.bin / tool
            path.write_text(f"#!{sys.executable}\n{FAKE_KAFKA_TOOL}", encoding="utf-8")
            path.chmod(0o755)
        self.state = root / "state.json"
        self.calls_file = root / "calls.jsonl"

    def holds(self, topics: dict[str, dict[str, str]], ignore_alter: bool = False) -> None:
        self.state.write_text(json.dumps({"ignore_alter": ignore_alter, "topics": {
            name: {"partitions": 1, "configs": configs} for name, configs in topics.items()}}))

    def topics(self) -> dict[str, dict]:
        return json.loads(self.state.read_text())["topics"]

    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def run_job(self, retention: str | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(self.bin), "BOOTSTRAP_SERVERS": "kafka:9092",
               "FAKE_KAFKA_STATE": str(self.state), "FAKE_KAFKA_CALLS": str(self.calls_file)}
        if retention is not None:
            env["TOPIC_RETENTION"] = retention
        return subprocess.run(["sh", str(TOPIC_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def fake_kafka(tmp_path) -> FakeKafka:
    return FakeKafka(tmp_path)


def retention_of(topics: dict[str, dict]) -> dict[str, str]:
    return {name: topic["configs"].get("retention.ms") for name, topic in topics.items()}


def test_topic_job_creates_every_topic_with_the_default_retention(fake_kafka):
    result = fake_kafka.run_job()
    assert result.returncode == 0, result.stderr
    topics = fake_kafka.topics()
    default = RetentionPolicy.from_text("")
    assert retention_of(topics) == {name: default.retention_ms(name) for name in all_topic_names()}
    assert {topic["configs"]["cleanup.policy"] for topic in topics.values()} == {"delete"}
    assert {name: topic["partitions"] for name, topic in topics.items()} == {
        name: partitions for name, (partitions, _) in script_topics().items()}
    assert not [call for call in fake_kafka.calls() if "--alter" in call], "nothing to change on a fresh broker"
    assert "12 topic(s) created, retention changed on 0" in result.stdout


def test_topic_job_sets_the_retention_of_existing_topics_and_keeps_their_other_configs(fake_kafka):
    """A broker the previous job filled (everything kept forever) takes the dead-letter default."""
    fake_kafka.holds({name: {"retention.ms": "-1", "cleanup.policy": "delete", "min.insync.replicas": "2"}
                      for name in all_topic_names()})
    result = fake_kafka.run_job()
    assert result.returncode == 0, result.stderr
    topics = fake_kafka.topics()
    default = RetentionPolicy.from_text("")
    assert retention_of(topics) == {name: default.retention_ms(name) for name in all_topic_names()}
    assert all(topic["configs"]["min.insync.replicas"] == "2" for topic in topics.values())
    altered = sorted(call[call.index("--entity-name") + 1] for call in fake_kafka.calls() if "--alter" in call)
    assert altered == sorted(dlq(spec.name) for spec in TOPICS)
    assert not [call for call in fake_kafka.calls() if "--create" in call]
    assert f"retention {dlq(TOPICS[0].name)}: -1 -> {30 * 86_400_000} ms" in result.stdout


def test_topic_job_applies_the_overrides_as_shared_retention_reads_them(fake_kafka):
    overrides = f" {dlq(TOPICS[0].name)}=14d, {dlq(TOPICS[2].name)} = 2160h,{dlq(TOPICS[3].name)}=forever ,"
    fake_kafka.holds({TOPICS[2].name: {"retention.ms": "-1"}, dlq(TOPICS[2].name): {"retention.ms": "-1"}})
    result = fake_kafka.run_job(overrides)
    assert result.returncode == 0, result.stderr
    policy = RetentionPolicy.from_text(overrides)
    assert retention_of(fake_kafka.topics()) == {name: policy.retention_ms(name) for name in all_topic_names()}
    assert policy.retention_ms(dlq(TOPICS[0].name)) == str(14 * 86_400_000)


def test_topic_job_warns_when_an_event_topic_no_longer_keeps_everything(fake_kafka):
    result = fake_kafka.run_job(f"{TOPICS[0].name}=3650d")
    assert result.returncode == 0, result.stderr
    assert f"warning: {TOPICS[0].name} keeps {3650 * 86_400_000} ms only" in result.stderr


def test_topic_job_fails_when_the_broker_keeps_another_retention(fake_kafka):
    """The final check reads the retention back rather than trusting the exit codes."""
    fake_kafka.holds({name: {"retention.ms": "-1"} for name in all_topic_names()}, ignore_alter=True)
    result = fake_kafka.run_job()
    assert result.returncode == 1
    assert f"RETENTION {dlq(TOPICS[0].name)} is -1, not {30 * 86_400_000}" in result.stderr


# The shell job and shared/retention.py must accept and refuse the same settings.
ACCEPTED = ["", " ", ",", "exemplars.directory.dlq=90d", "exemplars.directory.dlq=1ms",
            "exemplars.directory.dlq=999999999d", "exemplars.directory=forever",
            "exemplars.nominations.intake.dlq=14d,exemplars.directory.dlq=90d",
            "exemplars.nominations.intake.dlq=14d\nexemplars.directory.dlq=12h",
            "\texemplars.directory.dlq =\t36h\t"]
REFUSED = ["exemplars.directory.dlq", "exemplars.directory.dlq=", "=14d", "exemplars.unknown=14d",
           "exemplars.directory.DLQ=14d", "exemplars\\.directory.dlq=14d", "*.dlq=14d",
           "exemplars.directory.dlq=14", "exemplars.directory.dlq=0d", "exemplars.directory.dlq=014d",
           "exemplars.directory.dlq=-1", "exemplars.directory.dlq=1000000000ms", "exemplars.directory.dlq=14 d",
           "exemplars.directory.dlq=14D", "exemplars.directory.dlq=2w", "exemplars.directory.dlq=1.5d",
           "exemplars.directory.dlq=14dms", "exemplars.directory.dlq=Forever", "exemplars.directory.dlq=14d=1",
           "exemplars.directory.dlq=14d,exemplars.directory.dlq=14d", "exemplars.directory.dlq=٣d"]


@pytest.mark.parametrize("overrides", ACCEPTED)
def test_topic_job_accepts_what_shared_retention_accepts(fake_kafka, overrides):
    policy = RetentionPolicy.from_text(overrides)
    result = fake_kafka.run_job(overrides)
    assert result.returncode == 0, result.stderr
    assert retention_of(fake_kafka.topics()) == {name: policy.retention_ms(name) for name in all_topic_names()}


@pytest.mark.parametrize("overrides", REFUSED)
def test_topic_job_refuses_what_shared_retention_refuses_before_asking_the_broker(fake_kafka, overrides):
    with pytest.raises(RetentionError):
        RetentionPolicy.from_text(overrides)
    result = fake_kafka.run_job(overrides)
    assert result.returncode == 1
    assert result.stderr.startswith("kafka-init: TOPIC_RETENTION: "), result.stderr
    assert fake_kafka.calls() == [], "the broker was asked before the setting was checked"


def advertised_listeners(kafka: dict) -> dict[str, str]:
    env = kafka["environment"]
    return dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))


def test_kafka_broker_is_kraft_without_auto_topic_creation(services):
    kafka = services["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env.get("CLUSTER_ID"), "a fixed cluster id, so the data volume is reused"
    # The healthcheck asks the internal listener, the one services and kafka-init use.
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    internal_port = listeners[env["KAFKA_INTER_BROKER_LISTENER_NAME"]].rsplit(":", 1)[1]
    test = kafka["healthcheck"]["test"]
    bootstrap = test[test.index("--bootstrap-server") + 1]
    assert bootstrap.rsplit(":", 1)[1] == internal_port
    # Every service connects to the advertised internal listener.
    internal = advertised_listeners(kafka)[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    for name, (_, prefix, _) in APP_SERVICES.items():
        assert env_dict(services[name])[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] == internal, name
    # The external listener is published on the port it advertises.
    external_port = advertised_listeners(kafka)["EXTERNAL"].rsplit(":", 1)[1]
    published = {parse_port(entry) for entry in kafka["ports"]}
    assert (f"127.0.0.1:{external_port}", listeners["EXTERNAL"].rsplit(":", 1)[1]) in published


# ---- MongoDB ----------------------------------------------------------------------------------------


def test_mongo_is_a_replica_set_that_initiates_itself(services):
    mongo = services["mongo"]
    assert mongo["image"].startswith("mongo:")
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    test = mongo["healthcheck"]["test"]
    assert test[:2] == ["CMD", "mongosh"]
    script = host_path_of(mongo, test[-1])
    assert script == MONGO_SCRIPT.resolve(), f"the healthcheck runs {test[-1]}, not deploy/mongo"
    text = MONGO_SCRIPT.read_text(encoding="utf-8")
    assert "rs.initiate(" in text and "isWritablePrimary" in text and "quit(1)" in text
    env = mongo["environment"]
    assert env["MONGO_REPLICA_SET"] == replica_set
    for name, (_, prefix, _) in APP_SERVICES.items():
        uri = urlsplit(env_dict(services[name])[f"{prefix}MONGO_URI"])
        assert uri.netloc == env["MONGO_REPLICA_HOST"], (name, uri.netloc)
        assert parse_qs(uri.query).get("replicaSet") == [replica_set], name


def test_mongo_requires_authentication_and_each_service_has_its_own_user(raw, services):
    mongo = services["mongo"]
    command, env = mongo["command"], env_dict(mongo)
    assert command[0] == "mongod" and "--keyFile" in command  # a replica set with auth needs one
    assert "--noauth" not in command
    # The image's entrypoint turns authentication on once it has made this root user.
    assert env["MONGO_INITDB_ROOT_USERNAME"] and env["MONGO_INITDB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    start = host_path_of(mongo, mongo["entrypoint"][-1])
    assert start == (ROOT / "deploy" / "mongo" / "start.sh").resolve()
    keyfile = command[command.index("--keyFile") + 1]
    assert keyfile in start.read_text() and "install -m 400" in start.read_text()
    subprocess.run(["sh", "-n", str(start)], check=True)

    users = dict(pair.split(":") for pair in env["MONGO_SERVICE_USERS"].split(","))
    for name, (_, prefix, _) in APP_SERVICES.items():
        service_env = env_dict(services[name])
        user = service_env[f"{prefix}MONGO_USERNAME"]
        assert users[user] == service_env[f"{prefix}MONGO_DATABASE"], name  # its own database, nobody else's
        password = service_env[f"{prefix}MONGO_PASSWORD_FILE"].removeprefix("/run/secrets/")
        assert password == f"{user}_mongo_password"  # the file the healthcheck creates the user with
        assert password in services[name]["secrets"] and password in mongo["secrets"]
        other = {f"{n}_mongo_password" for n in APP_SERVICES if n != name}
        assert not other & set(services[name]["secrets"]), f"{name} can read another service's password"
    assert len(set(users)) == len(APP_SERVICES)
    script = MONGO_SCRIPT.read_text(encoding="utf-8")
    assert 'role: "readWrite", db: database' in script and "createUser" in script and ".auth(" in script


def test_every_secret_file_is_one_that_exemplars_init_commands_create(raw):
    from deploy.compose_secrets import KEY_FILE, ROOT_PASSWORD, WORKSPACE_TOKEN, service_password

    made = {ROOT_PASSWORD, KEY_FILE, WORKSPACE_TOKEN, *(service_password(n) for n in APP_SERVICES),
            *(f"{n}.pem" for n in APP_SERVICES)}  # `exemplars keys init` writes the signing keys
    for name, secret in raw["secrets"].items():
        assert PurePosixPath(interpolate(secret["file"])).name in made, name


def test_one_database_per_service_and_no_local_only_uri_options(services):
    databases = {}
    for name, (_, prefix, _) in APP_SERVICES.items():
        env = env_dict(services[name])
        databases[name] = env[f"{prefix}MONGO_DATABASE"]
        assert "retrywrites=false" not in env[f"{prefix}MONGO_URI"].lower(), name
    assert len(set(databases.values())) == len(APP_SERVICES), databases
    # Neither in the raw file (any default) nor in the documented settings.
    assert "retrywrites=false" not in COMPOSE.read_text(encoding="utf-8").lower()
    assert "retrywrites=false" not in "\n".join(
        line for line in ENV_EXAMPLE.read_text(encoding="utf-8").lower().splitlines() if not line.startswith("#")
    )


# ---- HTTP, healthchecks, exec form -------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_http_port_environment_publish_and_healthcheck_agree(services, name):
    _, prefix, port = APP_SERVICES[name]
    service = services[name]
    env = env_dict(service)
    assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0", "loopback inside a container is unreachable"
    assert int(env[f"{prefix}HTTP_PORT"]) == port
    # The reads are published; health and metrics answer on their own port, inside the network.
    ops_port = int(env[f"{prefix}OPS_HTTP_PORT"])
    assert ops_port != port and env[f"{prefix}OPS_HTTP_HOST"] == "0.0.0.0"
    assert [parse_port(entry)[1] for entry in service["ports"]] == [str(port)]
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "slim images have no curl"
    urls = re.findall(r"https?://[^'\"\s]+", test[3])
    assert len(urls) == 1, test
    url = urlsplit(urls[0])
    assert url.port == ops_port and url.path == "/health/ready", urls[0]
    compile(test[3], f"<{name} healthcheck>", "exec")


def test_published_host_ports_do_not_collide(services):
    published = [
        parse_port(entry)[0] for service in services.values() for entry in service.get("ports") or []
    ]
    assert len(published) == len(set(published)), published


def test_mailpit_catches_the_mail_of_a_trial_run(services):
    mailpit = services["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert "8025" in {parse_port(entry)[1] for entry in mailpit["ports"]}
    env = env_dict(services["notifications"])
    assert env["NOTIFICATIONS_SMTP_HOST"] == "mailpit"
    assert env["NOTIFICATIONS_SMTP_PORT"] == "1025"


def test_healthchecks_and_commands_are_exec_form(services):
    with_healthcheck = 0
    for name, service in services.items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert isinstance(test, list) and test[0] == "CMD", f"{name}: healthcheck {test!r}"
            with_healthcheck += 1
        for key in ("command", "entrypoint"):
            if key in service:
                assert isinstance(service[key], list), f"{name}: {key} in shell form"
    assert with_healthcheck == len(services) - 1  # all but the one-shot kafka-init


# ---- settings and secrets -----------------------------------------------------------------------------


def test_no_secret_is_baked_into_the_file(raw):
    secrets_seen = 0
    for name, service in raw["services"].items():
        for key, value in env_dict(service).items():
            if not SECRET_KEY.search(key):
                continue
            secrets_seen += 1
            if value is None:
                continue  # passed through from the environment, unset when absent
            if key.endswith("_FILE") and value.startswith("/run/secrets/"):
                # A file a compose secret puts there: declared, and given to this service.
                secret = value.removeprefix("/run/secrets/")
                assert secret in raw["secrets"] and secret in service.get("secrets", []), (name, key)
                continue
            uses = variables_in(value)
            assert uses, f"{name}: {key} has a literal value"
            literal = _VARIABLE.sub("", value)
            assert literal == "", f"{name}: {key} has literal text around its variable"
            for op, arg in (use for found in uses.values() for use in found):
                assert not (op in ("-", ":-") and arg), f"{name}: {key} has a default value"
    assert secrets_seen >= 2  # the SMTP password and the webhook secret


def test_webhook_secret_is_required_from_the_environment(raw, compose):
    value = env_dict(raw["services"]["notifications"])["NOTIFICATIONS_WEBHOOK_SECRET"]
    uses = variables_in(value)["NOTIFICATIONS_WEBHOOK_SECRET"]
    assert all(op in ("?", ":?") for op, _ in uses), "compose must refuse to start without it"
    resolved = env_dict(compose["services"]["notifications"])["NOTIFICATIONS_WEBHOOK_SECRET"]
    assert isinstance(resolved, RequiredVariable)
    given = resolve(raw, {"NOTIFICATIONS_WEBHOOK_SECRET": "s3cret"})
    assert env_dict(given["services"]["notifications"])["NOTIFICATIONS_WEBHOOK_SECRET"] == "s3cret"


def settings_class(name: str):
    module, _, attribute = SETTINGS_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_a_service_gets_is_one_of_its_settings(services, name):
    _, prefix, _ = APP_SERVICES[name]
    cls = settings_class(name)
    assert cls.model_config.get("env_prefix") == prefix
    for key in env_dict(services[name]):
        assert key.startswith(prefix), f"{name}: {key} lacks the prefix {prefix}, so the service never reads it"
        field = key[len(prefix):].lower()
        assert field in cls.model_fields, (
            f"{name}: {key} is not a setting of {cls.__name__} (known: "
            f"{', '.join(sorted(prefix + f.upper() for f in cls.model_fields))})"
        )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_values_compose_gives_pass_the_settings_validation(raw, name, monkeypatch):
    """E.g. `SMTP_TLS=false` for a setting whose values are none|starttls|tls fails the start."""
    _, prefix, _ = APP_SERVICES[name]
    for variable in list(os.environ):
        if variable.upper().startswith(prefix):
            monkeypatch.delenv(variable)
    given = resolve(raw, REQUIRED)
    for key, value in env_dict(given["services"][name]).items():
        if value is not None:
            monkeypatch.setenv(key, value)
    settings = settings_class(name)()
    assert settings.http_host == "0.0.0.0"


def test_the_workspace_secrets_are_required_and_the_link_secret_is_shared(raw, compose):
    workspace, notifications = (env_dict(compose["services"][n]) for n in ("workspace", "notifications"))
    for value in (workspace["WORKSPACE_LINK_SECRET"], workspace["WORKSPACE_SESSION_SECRET"],
                  notifications["NOTIFICATIONS_LINK_SECRET"]):
        assert isinstance(value, RequiredVariable)  # compose refuses to start without them
    given = {n: env_dict(s) for n, s in resolve(raw, REQUIRED)["services"].items()}
    assert given["workspace"]["WORKSPACE_LINK_SECRET"] == given["notifications"]["NOTIFICATIONS_LINK_SECRET"]
    assert given["notifications"]["NOTIFICATIONS_WORKSPACE_URL"] == given["workspace"]["WORKSPACE_PUBLIC_BASE_URL"]
    evaluations = urlsplit(given["workspace"]["WORKSPACE_EVALUATIONS_URL"])
    assert (evaluations.hostname, evaluations.port) == ("evaluations", APP_SERVICES["evaluations"][2])


def test_interpolation_helper():
    assert interpolate("${A:-x}") == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("${A:--Xmx1g}") == "-Xmx1g"
    assert interpolate("$$HOME ${A}", {"A": "1"}) == "$HOME 1"
    assert isinstance(interpolate("${A:?needed}"), RequiredVariable)


def test_env_example_documents_every_variable_with_the_same_default(raw, env_example):
    referenced = variables_in(raw)
    passthrough = {
        key for service in raw["services"].values() for key, value in env_dict(service).items() if value is None
    }
    assert set(referenced) | passthrough == set(env_example), (
        f"undocumented: {sorted(set(referenced) | passthrough - set(env_example))}; "
        f"stale: {sorted(set(env_example) - set(referenced) - passthrough)}"
    )
    for name, uses in referenced.items():
        defaults = {arg for op, arg in uses if op in ("-", ":-")}
        assert len(defaults) <= 1, f"{name} has different defaults: {defaults}"
        if defaults and env_example[name] is not None:
            assert env_example[name] == defaults.pop(), f".env.example and compose disagree on {name}"
    for name, value in env_example.items():
        if SECRET_KEY.search(name):
            assert not value, f".env.example carries a value for the secret {name}"


# ---- the image ------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends in a continuation"
    return instructions


def final_stage() -> tuple[str, list[tuple[str, str]]]:
    instructions = dockerfile_instructions()
    args = {}
    for keyword, arguments in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in arguments:
            key, value = arguments.split("=", 1)
            args[key] = value
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    base = instructions[starts[-1]][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda match: args.get(match.group(1), match.group(0)), base)
    return base, instructions[starts[-1] + 1:]


def test_image_is_slim_python_3_11_and_runs_as_a_non_root_user():
    base, stage = final_stage()
    assert re.fullmatch(r"python:3\.11[.\d]*-slim(-\w+)?", base), base
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, "the final stage has no USER: the services would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    last_user = max(index for index, (keyword, _) in enumerate(stage) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _ in stage[last_user:]), "RUN after USER runs as the user"


def test_image_entry_is_an_exec_form_python_module():
    _, stage = final_stage()
    assert not [arguments for keyword, arguments in stage if keyword == "ENTRYPOINT"], (
        "an ENTRYPOINT would be prepended to compose's `command: [python, -m, ...]`"
    )
    cmds = [arguments for keyword, arguments in stage if keyword == "CMD"]
    assert cmds, "no CMD"
    argv = json.loads(cmds[-1])  # exec form is a JSON array
    assert argv[:2] == ["python", "-m"], argv
    module = argv[2]
    assert module in {module for module, _, _ in APP_SERVICES.values()}
    assert ROOT.joinpath(*module.split("."), "__main__.py").is_file(), f"`python -m {module}` has no __main__.py"


def test_image_installs_the_project_from_pyproject():
    text = DOCKERFILE.read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "pyproject.toml" in text
    assert "['project']['dependencies']" in text, "dependencies come from pyproject.toml"
    _, stage = final_stage()
    installs = [arguments for keyword, arguments in stage if keyword == "RUN" and "pip install" in arguments]
    assert installs and pyproject["project"]["name"] in shlex.split(installs[0]), installs


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
            regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
            regex = re.sub(r"\\\[(.*?)\\\]", r"[\1]", regex)
            patterns.append((re.compile(regex), negated))
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    excluded = False
    for regex, negated in patterns:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_the_sources_and_drops_the_rest():
    for kept in ("pyproject.toml", "shared/topics.py", "services/nominations/__init__.py",
                 "deploy/topics.py", "deploy/Dockerfile"):
        assert not dockerignore_excludes(kept), kept
    for dropped in (".git/config", ".venv/bin/python", "tests/unit/test_compose.py", ".env",
                    "shared/__pycache__/topics.cpython-311.pyc", "services/x.egg-info/PKG-INFO"):
        assert dockerignore_excludes(dropped), dropped
    # Every source the Dockerfile copies from the context (optional [x] patterns aside).
    for keyword, arguments in dockerfile_instructions():
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        for source in shlex.split(arguments)[:-1]:
            if source.startswith("--") or "[" in source:
                continue
            assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"
            assert not dockerignore_excludes(source), f"COPY {source}: left out by .dockerignore"
