"""Development keys: one Ed25519 key per producer of the local run, the trust file that lists
them, and the readers' tokens file with an operator's token (`make run` keeps them under
`.local/keys/`, each test session under its own directory). A real deployment writes its own trust file (deploy/trust/example.yaml shows
every field) and keeps each private key in its producer's secret store.

`SigningProducer` is the one place a development producer (the demo feed, the tests, the
benchmark) signs: it wraps an aiokafka producer and signs every CloudEvent it sends with
the key of the producer whose `source` pattern matches the event's source.
"""

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared import keys, topics
from shared.credentials import Signer
from shared.envelope import is_structured
from shared.events import ce_type
from shared.readers import add_token
from shared.trust import key_entry, load_registry, matches
from shared.vault import MongoVault, Vault

TRUST_FILE = "trust.yaml"
# Who may read the local run's endpoints: token digests, and the operator's token in clear
# for the person running it (shared/readers.py).
READERS_FILE = "readers.yaml"
OPERATOR_TOKEN_FILE = "operator.token"
VALID_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _types(*topic_names: str) -> list[str]:
    return [ce_type(t) for name in topic_names for t in topics.BY_NAME[name].event_types]


# The end of a discussion's time box is the evaluations service's own input, nobody else's.
TIME_UP = ce_type("evaluation.discussion_time_up")
# A decision once made is revoked or corrected by the council's own system only.
AMENDMENTS = [ce_type("council.revocation_recorded"), ce_type("council.correction_recorded")]
PEOPLE_INTAKE = [t for t in _types(topics.EVALUATIONS_INTAKE) if t != TIME_UP and t not in AMENDMENTS]
COUNCIL = [ce_type("council.decision_recorded"), *AMENDMENTS]
# An erasure is the operators' privacy tool's (`exemplars person erase`), never an HR system's.
ERASURE = ce_type("person.erased")
HR = [t for t in _types(topics.DIRECTORY) if t != ERASURE]
FOLLOW_UP = [ce_type(t) for t in ("exemplar.review_reported", "exemplar.replication_reported", "exemplar.visit_reported")]


@dataclass(frozen=True)
class DevProducer:
    name: str
    source: str  # exact, or a prefix ending in "*"
    grants: tuple[dict, ...]


# The producers of the local run: the services, the units' systems, an HR system, the
# evaluators' portal, the council's secretariat, the workspace, and the demo feed that plays
# them all.
PRODUCERS: tuple[DevProducer, ...] = (
    DevProducer("nominations", "urn:exemplars:nominations", ({"types": _types(topics.NOMINATIONS)},)),
    DevProducer("evaluations", "urn:exemplars:evaluations", ({"types": _types(topics.EVALUATIONS) + [TIME_UP]},)),
    DevProducer("notifications", "urn:exemplars:notifications", ({"types": _types(topics.NOTIFICATIONS)},)),
    DevProducer("unit-systems", "urn:unit:*", (
        {"types": _types(topics.NOMINATIONS_INTAKE) + FOLLOW_UP, "on_behalf_of": "unit_staff"},)),
    DevProducer("hr", "urn:hr*", ({"types": HR},)),
    DevProducer("evaluator-portal", "urn:evaluator-portal", ({"types": PEOPLE_INTAKE,
                                                             "on_behalf_of": "any"},)),
    DevProducer("portal", "urn:portal", ({"types": PEOPLE_INTAKE, "on_behalf_of": "any"},)),
    DevProducer("council", "urn:council", ({"types": COUNCIL},)),
    DevProducer("privacy", "urn:exemplars:privacy", ({"types": [ERASURE]},)),
    # The staff's workspace: acts only for the person signed in there, named in its signed `actor`.
    DevProducer("workspace", "urn:exemplars:workspace", ({"types": _types(topics.NOMINATIONS_INTAKE) + PEOPLE_INTAKE,
                                                          "on_behalf_of": "signed_person"},)),
    DevProducer("demo", "urn:exemplars:demo", ({"types": HR + PEOPLE_INTAKE,
                                                "on_behalf_of": "any"},)),
)


class Keyring:
    """`directory`/<producer>.pem for each producer (created once, kept across runs) and
    `directory`/trust.yaml listing their public halves (written again at every `ensure`)."""

    def __init__(self, directory: str | Path, producers: tuple[DevProducer, ...] = PRODUCERS) -> None:
        self.directory = Path(directory)
        self.producers = producers
        self._signers: dict[str, Signer] = {}

    @property
    def trust_file(self) -> Path:
        return self.directory / TRUST_FILE

    def key_file(self, producer: str) -> Path:
        return self.directory / f"{producer}.pem"

    @property
    def readers_file(self) -> Path:
        return self.directory / READERS_FILE

    @property
    def operator_token(self) -> str:
        return (self.directory / OPERATOR_TOKEN_FILE).read_text(encoding="utf-8").strip()

    @property
    def workspace_token_file(self) -> Path:
        """The workspace's bearer token for the evaluations service's criteria (no scope needed)."""
        return self.directory / "workspace.token"

    def secret(self, name: str) -> str:
        """A random secret of the local run (`link`: the mail links notifications mints and
        the workspace reads; `session`: the workspace's cookies), made once."""
        path = self.directory / f"{name}.secret"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()

    def reader_token(self, subject: str, *scopes: str, expires: dt.datetime | None = None) -> str:
        """A new bearer token for the local run's read endpoints (the services see it at once)."""
        return add_token(self.readers_file, subject, list(scopes), expires)

    def ensure(self) -> "Keyring":
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for producer in self.producers:
            path = self.key_file(producer.name)
            if not path.exists():
                keys.save_key(keys.generate_signing_key(), path)
            entries.append({"name": producer.name, "source": producer.source,
                            "keys": [key_entry(keys.load_key(path), VALID_FROM)],
                            "grants": [{"units": "*", "on_behalf_of": "none", **g} for g in producer.grants]})
        text = ("# Development trust registry, written by deploy/dev_keys.py at every start: not for production.\n"
                + yaml.safe_dump({"producers": entries}, sort_keys=False, allow_unicode=True))
        staged = self.trust_file.with_suffix(".tmp")
        staged.write_text(text, encoding="utf-8")
        staged.replace(self.trust_file)  # one rename: a service re-reading it never sees half a file
        load_registry(self.trust_file)  # what we wrote must load
        operator = self.directory / OPERATOR_TOKEN_FILE
        if not (operator.exists() and self.readers_file.exists() and self.workspace_token_file.exists()):
            self.readers_file.unlink(missing_ok=True)
            operator.touch(mode=0o600)
            operator.write_text(self.reader_token("operator", "operator") + "\n", encoding="utf-8")
            self.workspace_token_file.touch(mode=0o600)
            self.workspace_token_file.write_text(self.reader_token("workspace") + "\n", encoding="utf-8")
        return self

    def signer(self, producer: str) -> Signer:
        if producer not in self._signers:
            key = keys.load_key(self.key_file(producer))
            self._signers[producer] = Signer(key)  # type: ignore[arg-type]
        return self._signers[producer]

    def signer_for(self, source: str) -> Signer | None:
        """The signer of the first producer whose source pattern matches, or None."""
        for producer in self.producers:
            if matches(producer.source, source):
                return self.signer(producer.name)
        return None

    def sign_record(self, value: bytes | None, headers: list | None) -> tuple[bytes | None, list | None]:
        """A Kafka record's value and headers, signed as its event's source's producer would
        (binary or structured mode); a record that is no CloudEvent of a known source as it is."""
        if value is None:
            return value, headers
        try:
            named = {n.lower(): (raw or b"").decode("utf-8") for n, raw in headers or ()}
            if is_structured(named, value):
                signer = self.signer_for(json.loads(value).get("source") or "")
                return (signer.structured(value) if signer else value), headers
            signer = self.signer_for(named.get("ce_source", ""))
            if signer is None or "ce_id" not in named:
                return value, headers
            added = signer.headers(named, value)
            return value, [*headers, *((n, v.encode()) for n, v in added.items() if n not in named)]
        except Exception:  # noqa: BLE001 - not a CloudEvent we can read (deep nesting...): sent as it is
            return value, headers


class SigningProducer:
    """An aiokafka producer that signs every CloudEvent it sends, in binary or structured
    mode, with the keyring's key for the event's source. Records that are no CloudEvent of a
    known source go out as they are (poison, for the tests that send it on purpose).
    `unsigned` is the wrapped producer, for sending a valid event without a signature.
    `vault`: the key store its senders seal personal fields with (`deploy.demo.send`); None
    for a producer without access to it, whose personal fields travel in clear."""

    def __init__(self, producer, keyring: Keyring, vault: Vault | None = None) -> None:
        self.unsigned = producer
        self.keyring = keyring
        self.vault = vault

    async def start(self) -> None:
        await self.unsigned.start()

    async def stop(self) -> None:
        await self.unsigned.stop()
        if isinstance(self.vault, MongoVault):
            await self.vault.close()

    def __getattr__(self, name: str):
        return getattr(self.unsigned, name)

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers=None, **kwargs):
        value, headers = self.keyring.sign_record(value, headers)
        return await self.unsigned.send(topic, value, key=key, headers=headers, **kwargs)

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers=None,
                            **kwargs):
        return await (await self.send(topic, value, key=key, headers=headers, **kwargs))
