"""What a service proves and what it checks: its signing key, and the trust registry every
record it consumes is verified against (`../shared/DESIGN.md`, "Who may act").

Every service signs what it publishes (the CloudEvents Verifiability extension,
shared/verifiability.py). Its consumers verify every record before handling it, on every
topic: unsigned, a bad signature, an unknown or expired key, or a `source` other than the
key's producer is a dead letter with reason `unauthenticated`, and the claimed source gets
no answer. Keys are judged at the broker's receive time, never at the sender's `time`.

A proven sender is then authorised by the registry's grants: the event's type, the unit it
acts for (`ACTING`: its payload's `unit_id`, the adopting or visiting unit of a follow-up
report; events about no unit need a grant for every unit), and on an intake topic the
person it acts for (`ACTING`: the submitter, the evaluator, the reporter...). That person
must be the one the producer signed as its actor (a `signed_person` grant: the workspace
names who signed in there), or be named by a producer allowed to act for persons at all;
whether a person really is staff of the unit stays the domain's check, against the
directory. What it may not say carries a Vietnamese refusal (`Sender.refusal`): on an
intake topic it is answered as a NOT_AUTHORIZED business refusal, elsewhere dead-lettered
(`not_authorized`).

Unsigned operation exists for development only: off unless ALLOW_UNSIGNED is set, and
every start logs a warning while it is on.
"""

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from shared import verifiability
from shared.envelope import Event, PoisonMessage, Sender, is_structured
from shared.events import ce_type
from shared.keys import SigningKey, key_id, load_key
from shared.topics import INTAKES
from shared.trust import Producer, ReloadingRegistry

log = logging.getLogger("exemplars.credentials")

UNAUTHENTICATED = "unauthenticated"
NOT_AUTHORIZED_LETTER = "not_authorized"  # the dead letter's reason, off the intake topics
ACTOR = "actor"  # the signed extension attribute naming the person a producer acts for

# Intake type -> (the payload field naming the person who acts, the field naming the unit
# it acts for). A review's unit is its exemplar's, which only the domain knows.
ACTING: dict[str, tuple[str | None, str | None]] = {
    "nomination.submitted": ("submitter_id", "unit_id"),
    "nomination.withdrawn": ("requested_by", "unit_id"),
    "evaluation.score_submitted": ("evaluator_id", None),
    "evaluation.conflict_declared": ("evaluator_id", None),
    "evaluation.comment_posted": ("evaluator_id", None),
    "evaluation.discussion_time_up": (None, None),  # the evaluations service's own clock
    "council.decision_recorded": (None, None),
    "council.revocation_recorded": (None, None),
    "council.correction_recorded": (None, None),
    "exemplar.review_reported": ("reported_by", None),
    "exemplar.replication_reported": ("reported_by", "adopting_unit_id"),
    "exemplar.visit_reported": (None, "visiting_unit_id"),
}


class Signer:
    """Adds the Verifiability extension to what a producer sends, in either content mode."""

    def __init__(self, key: SigningKey | None) -> None:
        self.key = key
        self.keyid = key_id(key) if key is not None else None

    def headers(self, headers: dict[str, str], value: bytes, actor: str | None = None) -> dict[str, str]:
        """A binary-mode record's headers with `ce_dssematerial` added; with `actor`, the
        person the producer acts for, as the signed extension attribute `actor`."""
        if self.key is None:
            return headers
        if actor is not None:
            headers = {**headers, f"ce_{ACTOR}": actor}
        signed = (ACTOR,) if actor is not None else ()
        return {**headers, **verifiability.sign_headers(headers, value, self.key, signed)}

    def structured(self, value: bytes, actor: str | None = None) -> bytes:
        """A structured-mode (JSON) event with its `dssematerial` member added (and `actor`)."""
        if self.key is None:
            return value
        body = json.loads(value)
        if actor is not None:
            body[ACTOR] = actor
        body.update(verifiability.sign_structured(body, self.key, (ACTOR,) if actor is not None else ()))
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Authenticator:
    """Verifies consumed records against the trust registry (None: unsigned operation)."""

    def __init__(self, registry: ReloadingRegistry | None) -> None:
        self.registry = registry

    def check(self, record, event: Event) -> Sender | None:
        """Who sent `record` (already decoded as `event`) and whether they may, or
        PoisonMessage(unauthenticated)."""
        if self.registry is None:
            return None
        at = event.received_at
        registry = self.registry.current()  # one file check per record
        keys = registry.verifying_keys(event.source, at)
        try:
            headers = {name.lower(): (raw or b"").decode("utf-8") for name, raw in record.headers}
            if is_structured(headers, record.value):
                verified = verifiability.verify_structured(json.loads(record.value), keys)
            else:
                verified = verifiability.verify_headers(record.headers, record.value, keys)
        except verifiability.NotVerified as exc:
            raise PoisonMessage(f"{exc} (source {event.source!r}, received {at.isoformat()})", UNAUTHENTICATED) from exc
        producer, _ = registry.key(verified.keyid, at)  # type: ignore[misc] - verified: it is there
        actor = verified.signed_ext_values.get(producer.actor_attribute)
        actor = str(actor) if actor is not None else None
        person_field, unit_field = ACTING.get(event.type, (None, "unit_id")) if record.topic in INTAKES \
            else (None, "unit_id")
        unit = getattr(event.data, unit_field, None) if unit_field else None
        person = getattr(event.data, person_field, None) if person_field else None
        if person is not None and unit is None and _for_staff_only(producer, ce_type(event.type)):
            person = None  # whose staff they are, only the directory says: the domain's check
        # The person acts for the unit the event names; the domain checks they are its staff.
        allowed = registry.authorize(producer, ce_type(event.type), unit, person, unit, signed_person=actor)
        return Sender(producer.name, verified.keyid, None if allowed.allowed else allowed.message_vi, actor)


def _for_staff_only(producer: Producer, event_type: str) -> bool:
    grants = [g for g in producer.grants if g.covers_type(event_type)]
    return bool(grants) and all(g.on_behalf_of == "unit_staff" for g in grants)


@dataclass(frozen=True)
class Credentials:
    signer: Signer
    authenticator: Authenticator

    @classmethod
    def from_settings(cls, settings, service: str, source: str) -> "Credentials":
        """The service's key (SIGNING_KEY) and registry (TRUST_REGISTRY), checked at start:
        a key the registry does not trust for `source` would have every answer dead-lettered."""
        if settings.allow_unsigned:
            log.warning("%s: ALLOW_UNSIGNED is on: records are consumed without verifying who sent them. "
                        "For development only; never in production.", service)
            key = _signing_key(settings.signing_key) if settings.signing_key else None
            return cls(Signer(key), Authenticator(None))
        missing = [name for name in ("signing_key", "trust_registry") if not getattr(settings, name)]
        if missing:
            raise ValueError(f"{service}: set {' and '.join(n.upper() for n in missing)} (or ALLOW_UNSIGNED=true "
                             "for a development run): every record is signed and verified")
        key = _signing_key(settings.signing_key)
        registry = ReloadingRegistry(settings.trust_registry)
        now = dt.datetime.now(dt.UTC)
        if registry.verifying_keys(source, now)(key_id(key)) is None:
            raise ValueError(f"{service}: its signing key {key_id(key)} is not valid for source {source!r} in "
                             f"{settings.trust_registry}: every record it publishes would be dead-lettered")
        return cls(Signer(key), Authenticator(registry))


def _signing_key(path: str | Path) -> SigningKey:
    key = load_key(path)
    if not isinstance(key, SigningKey):
        raise ValueError(f"{path} holds a public key; SIGNING_KEY must be the private key")
    return key

