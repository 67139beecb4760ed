"""shared/credentials.py: what a service signs and what its consumers accept; the README's
signing example, run as written; the development keyring."""

import datetime as dt
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from deploy.dev_keys import Keyring, SigningProducer
from shared import envelope, keys, topics
from shared.credentials import UNAUTHENTICATED, Authenticator, Credentials, Signer
from shared.envelope import PoisonMessage, Received, new_event
from shared.events import CorrectionRecorded, PersonErased, RevocationRecorded, ScoreSubmitted
from shared.settings import ServiceSettings
from shared.trust import ReloadingRegistry
from shared.vocabulary import RevocationGround

README = Path(__file__).resolve().parents[2] / "README.md"
NOW = dt.datetime.now(dt.UTC)
SENDER = StaffMember("S-1", "QLDD", "Nguyễn Văn An", (), ())


@pytest.fixture
def keyring(tmp_path) -> Keyring:
    return Keyring(tmp_path / "keys").ensure()


def received(value: bytes, headers: list) -> tuple[SimpleNamespace, envelope.Event]:
    record = SimpleNamespace(topic="t", partition=0, offset=0, key=b"k", value=value, headers=headers,
                             timestamp=int(NOW.timestamp() * 1000))
    event = envelope.decode(record.key, value, headers, received=Received("t", 0, 0, NOW))
    return record, event


def binary(event, signer: Signer | None) -> tuple[bytes, list]:
    _, value, headers = envelope.encode(event)
    if signer:
        headers = signer.headers(headers, value)
    return value, [(n, v.encode()) for n, v in headers.items()]


def nomination(source: str = "urn:unit:QLDD"):
    sub = submission("NOM-2025-QLDD-1", SENDER, 2025, MODELS[0])
    return new_event(sub, key=sub.nomination_id, source=source)


def test_a_signed_record_is_proven_as_its_producer(keyring):
    authenticator = Authenticator(ReloadingRegistry(keyring.trust_file))
    proof = authenticator.check(*received(*binary(nomination(), keyring.signer("unit-systems"))))
    assert proof.producer == "unit-systems" and proof.keyid == keyring.signer("unit-systems").keyid


@pytest.mark.parametrize("case, why", [
    ("unsigned", "unsigned"),
    ("stranger", "unknown_key"),
    ("another producer's key", "unknown_key"),
    ("changed after signing", "digest_mismatch"),
])
def test_what_is_not_proven_is_poison_of_its_own_reason(keyring, case, why):
    event = nomination()
    signer = {"unsigned": None, "stranger": Signer(keys.generate_signing_key()),
              "another producer's key": keyring.signer("hr")}.get(case, keyring.signer("unit-systems"))
    value, headers = binary(event, signer)
    if case == "changed after signing":
        value = value.replace(b"2025", b"2024")
    with pytest.raises(PoisonMessage) as refused:
        Authenticator(ReloadingRegistry(keyring.trust_file)).check(*received(value, headers))
    assert refused.value.reason == UNAUTHENTICATED and str(refused.value).startswith(why)


def test_unsigned_operation_accepts_anything_and_says_so_at_start(keyring, caplog):
    settings = ServiceSettings(allow_unsigned=True)
    with caplog.at_level(logging.WARNING):
        credentials = Credentials.from_settings(settings, "nominations", "urn:exemplars:nominations")
    assert "ALLOW_UNSIGNED is on" in caplog.text
    assert credentials.authenticator.check(*received(*binary(nomination(), None))) is None


def test_a_service_refuses_to_start_without_keys_or_with_a_key_nobody_trusts(keyring):
    with pytest.raises(ValueError, match="SIGNING_KEY and TRUST_REGISTRY"):
        Credentials.from_settings(ServiceSettings(), "nominations", "urn:exemplars:nominations")
    with pytest.raises(ValueError, match="not valid for source"):  # the evaluations key, for nominations' source
        Credentials.from_settings(ServiceSettings(signing_key=str(keyring.key_file("evaluations")),
                                                  trust_registry=str(keyring.trust_file)),
                                  "nominations", "urn:exemplars:nominations")
    public = keyring.directory / "public.pem"
    keys.save_key(keys.load_key(keyring.key_file("nominations")).public_key(), public)
    with pytest.raises(ValueError, match="public key"):
        Credentials.from_settings(ServiceSettings(signing_key=str(public), trust_registry=str(keyring.trust_file)),
                                  "nominations", "urn:exemplars:nominations")


def test_the_keyring_keeps_its_keys_across_starts(keyring):
    before = keyring.signer("nominations").keyid
    assert Keyring(keyring.directory).ensure().signer("nominations").keyid == before


class Recorder:
    """Stands where a Kafka client's `send` would: what the README's example sends."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, topic, value, key=None, headers=None):
        self.sent.append((topic, value, key, headers))

    async def start(self) -> None: ...


def test_the_readme_example_signs_as_the_services_verify(keyring, tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## For unit systems"):text.index("### Event catalogue")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    key = keys.load_key(keyring.key_file("unit-systems"))
    monkeypatch.chdir(tmp_path)
    keys.save_key(key, "unit-QLDD.key")
    producer = Recorder()
    sub = json.loads(submission("NOM-2025-QLDD-1", SENDER, 2025, MODELS[0]).model_dump_json(exclude_none=True))
    exec(code, {"submission": sub, "producer": producer})

    (topic, value, key_bytes, headers), = producer.sent
    assert topic == "exemplars.nominations.intake" and key_bytes == b"NOM-2025-QLDD-1"
    record, event = received(value, headers)
    proof = Authenticator(ReloadingRegistry(keyring.trust_file)).check(record, event)
    assert event.type == "nomination.submitted" and proof.producer == "unit-systems"


async def test_the_development_producer_signs_both_modes_and_leaves_poison_alone(keyring):
    inner = Recorder()

    async def send(topic, value, key=None, headers=None):
        inner.sent.append((topic, value, key, headers))

    inner.send = send
    producer = SigningProducer(inner, keyring)
    authenticator = Authenticator(ReloadingRegistry(keyring.trust_file))
    for encode in (envelope.encode, envelope.encode_structured):
        key, value, headers = encode(nomination())
        await producer.send("t", value, key=key, headers=[(n, v.encode()) for n, v in headers.items()])
        _, sent, _, sent_headers = inner.sent[-1]
        assert authenticator.check(*received(sent, sent_headers)).producer == "unit-systems"
    await producer.send("t", b"\xff not json", key=b"k", headers=[("ce_source", b"urn:unit:QLDD")])
    assert inner.sent[-1][1] == b"\xff not json" and inner.sent[-1][3] == [("ce_source", b"urn:unit:QLDD")]


# ---- on whose behalf ---------------------------------------------------------------------------


def on_intake(value: bytes, headers: list, topic: str) -> tuple[SimpleNamespace, envelope.Event]:
    record, event = received(value, headers)
    record.topic = topic
    return record, event


def score(evaluator_id: str, source: str = "urn:exemplars:workspace"):
    data = ScoreSubmitted(nomination_id="NOM-2025-QLDD-1", evaluator_id=evaluator_id, scores={"effectiveness": 20})
    return new_event(data, key=data.nomination_id, source=source)


def signed_as(event, signer: Signer, actor: str | None, structured: bool = False) -> tuple[bytes, list]:
    if structured:
        _, value, headers = envelope.encode_structured(event)
        return signer.structured(value, actor), [(n, v.encode()) for n, v in headers.items()]
    _, value, headers = envelope.encode(event)
    return value, [(n, v.encode()) for n, v in signer.headers(headers, value, actor).items()]


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
def test_the_workspace_acts_only_for_the_person_it_signed_as(keyring, structured):
    authenticator = Authenticator(ReloadingRegistry(keyring.trust_file))
    workspace = keyring.signer("workspace")
    own = authenticator.check(*on_intake(*signed_as(score("EV-07"), workspace, "EV-07", structured),
                                         topics.EVALUATIONS_INTAKE))
    assert own.refusal is None and own.actor == "EV-07"
    assert own.as_document() == {"producer": "workspace", "keyid": workspace.keyid, "actor": "EV-07"}

    other = authenticator.check(*on_intake(*signed_as(score("EV-08"), workspace, "EV-07", structured),
                                           topics.EVALUATIONS_INTAKE))
    assert other.actor == "EV-07" and "EV-08" in other.refusal and "người đăng nhập" in other.refusal
    nobody = authenticator.check(*on_intake(*signed_as(score("EV-07"), workspace, None, structured),
                                            topics.EVALUATIONS_INTAKE))
    assert nobody.refusal and "không được ký xác nhận" in nobody.refusal


def test_an_actor_added_after_signing_is_not_believed(keyring):
    value, headers = signed_as(score("EV-07"), keyring.signer("workspace"), None)
    proof = Authenticator(ReloadingRegistry(keyring.trust_file)).check(
        *on_intake(value, [*headers, ("ce_actor", b"EV-07")], topics.EVALUATIONS_INTAKE))
    assert proof.actor is None and proof.refusal  # unsigned: not the person signed in


def test_a_unit_system_acts_for_its_staff_and_a_council_for_nobody(keyring):
    authenticator = Authenticator(ReloadingRegistry(keyring.trust_file))
    submitted = authenticator.check(*on_intake(*binary(nomination(), keyring.signer("unit-systems")),
                                               topics.NOMINATIONS_INTAKE))
    assert submitted.refusal is None and submitted.actor is None
    # The council's system may record decisions, for no person: a score naming one is refused.
    scored = authenticator.check(*on_intake(*binary(score("EV-07", "urn:council"), keyring.signer("council")),
                                            topics.EVALUATIONS_INTAKE))
    assert scored.refusal


def test_only_the_council_revokes_or_corrects_and_only_the_privacy_tool_announces_an_erasure(keyring):
    """The new ways in: who may send them, as the development keyring grants them."""
    authenticator = Authenticator(ReloadingRegistry(keyring.trust_file))
    revocation = RevocationRecorded(nomination_id="NOM-2025-QLDD-1", revocation_ref="45/QĐ-BNNMT",
                                    revoked_on=dt.date(2026, 1, 15), ground=RevocationGround.FRAUD, reason="Gian dối.")
    correction = CorrectionRecorded(nomination_id="NOM-2025-QLDD-1", decision_ref="15A/QĐ-BNNMT",
                                    corrected_on=dt.date(2026, 1, 15), reason="Sửa số quyết định.")
    for data in (revocation, correction):
        by = {name: authenticator.check(*on_intake(*signed_as(new_event(data, key=data.nomination_id, source=source),
                                                              keyring.signer(name), actor),
                                                   topics.EVALUATIONS_INTAKE))
              for name, source, actor in (("council", "urn:council", None),
                                          ("evaluator-portal", "urn:evaluator-portal", None),
                                          ("workspace", "urn:exemplars:workspace", "MO-01"))}
        assert by["council"].refusal is None
        assert by["evaluator-portal"].refusal and by["workspace"].refusal  # answered NOT_AUTHORIZED
    erased = PersonErased(staff_id="QLDD-05", erased_on=dt.date(2026, 1, 15))
    by = {name: authenticator.check(*received(*binary(new_event(erased, key="QLDD-05", source=source),
                                                      keyring.signer(name))))
          for name, source in (("privacy", "urn:exemplars:privacy"), ("hr", "urn:hr"))}
    assert by["privacy"].refusal is None
    assert by["hr"].refusal  # on the directory: dead-lettered, not_authorized
