"""Personal data in events: which fields are personal, whose they are, and how they travel sealed.

Law 91/2025/QH15 on Personal Data Protection gives a person the right to have their data
deleted, and the log is append-only and kept forever (projections are rebuilt from it). So a
personal field never reaches the log in clear when one of our producers writes it: it is sealed
under a key of its own person (AES-256-GCM), and the key lives in a key store apart from the
log (`shared.vault`). Erasing the person deletes the key (crypto-shredding): every copy of the
field in every topic, dead-letter topics included, stops decrypting, and a consumer reads it
as `ERASED`, live and in every rebuild alike.

A sealed field is a string `pd1:<nonce and ciphertext, base64url>@<person id>`: the person is
named so that a batch's keys can be fetched in one query before anything is decoded (`owners_in`).
The ciphertext is bound to its person and field (associated data), so it cannot be moved to
another person's field or another field. The nonce derives from the key, the event id, the
field and the plaintext: sealing the same event twice gives the same bytes (an answer
republished after a crash is the same record), and different plaintexts never share a nonce.

Fields are sealed in the JSON of a payload, before its model validates it on the way in and
after it was dumped on the way out: in memory, handlers only ever see plaintext or `ERASED`.
A consumer also accepts a personal field in clear, from a producer that has no access to the
key store (an outside system); the README's personal-data inventory says where that leaves
data the key cannot shred.
"""

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.events.base import ERASED
PREFIX = "pd1:"
KEY_BYTES = 32
NONCE_BYTES = 12
UNIT_RECIPIENT = "unit:"
Keys = Mapping[str, bytes | None]  # person -> key, None once they are erased (shared.vault)  # a unit's own mailbox or webhook: the unit's, nobody's personal data

# The person ids a record's sealed fields name, found in its raw bytes (ids never need escaping in JSON).
_SEALED = re.compile(rb'"pd1:[A-Za-z0-9_-]+@([A-Za-z0-9][A-Za-z0-9_.:\-]*)"')


class Unreadable(ValueError):
    """A sealed field that does not open under its person's key: altered, or not ours."""


@dataclass(frozen=True)
class PersonalField:
    """A personal field of a payload: where it is (`*`: every value of a list or a mapping),
    where the id of the person it belongs to is, and why the programme keeps it."""

    path: tuple[str, ...]
    owner: tuple[str, ...]
    why: str


def _fields(owner: str, why: str, *paths: str) -> tuple[PersonalField, ...]:
    return tuple(PersonalField(tuple(p.split(".")), tuple(owner.split(".")), why) for p in paths)


_NOMINEE = _fields("nominee.staff_id", "who is nominated, for the panel and the council",
                   "nominee.name", "nominee.position")
_SHEET = _fields("evaluator_id", "the evaluator's reasons, for the panel, the council and the unit's feedback",
                 "comment", "criterion_comments.*")

# Event type -> its personal fields. Only an individual is a person: a collective nominee, or a
# unit's mailbox, names nobody, and their fields stay in clear (their owner is absent or a unit).
PERSONAL: dict[str, tuple[PersonalField, ...]] = {
    "staff.registered": _fields("staff_id", "to reach staff and know their unit and roles",
                                "full_name", "position", "email", "webhook_url"),
    "nomination.submitted": _NOMINEE,
    "nomination.accepted": _NOMINEE,
    "evaluation.score_submitted": _SHEET,
    "evaluation.score_recorded": _SHEET,
    "evaluation.conflict_declared": _fields("evaluator_id", "why an evaluator steps down", "reason"),
    "evaluation.evaluator_replaced": _fields("recused_id", "why an evaluator stepped down", "reason"),
    "evaluation.comment_posted": _fields("evaluator_id", "what a member said in a panel's discussion", "comment"),
    "evaluation.comment_recorded": _fields("evaluator_id", "what a member said in a panel's discussion", "comment"),
    "exemplar.recognized": _fields("nominee_staff_id", "the recognition, published to every unit", "nominee_name"),
    "exemplar.revoked": _fields("nominee_staff_id", "the revocation, published to every unit", "nominee_name"),
    "notification.sent": _fields("recipient_id", "proof of what was sent where", "address"),
    "notification.failed": _fields("recipient_id", "proof of what was sent where", "address"),
}


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def owners_in(raw: bytes | None) -> set[str]:
    """The persons whose keys a record's sealed fields need."""
    return {m.decode() for m in _SEALED.findall(raw)} if raw and b'"pd1:' in raw else set()


def owners_of(event_type: str, data: Mapping[str, Any]) -> set[str]:
    """The persons a payload (as JSON) has personal fields of, to seal it."""
    return {owner for _, _, owner, _ in _personal_values(event_type, data)}


def seal(event_type: str, event_id: str, data: dict[str, Any], keys: Mapping[str, bytes | None]) -> dict[str, Any]:
    """`data` (a payload as JSON) with each personal field sealed under its person's key; a
    person without a key (erased) gets `ERASED`. Every person of `owners_of` must be in `keys`."""
    for parent, name, owner, field in list(_personal_values(event_type, data)):
        value = parent[name]
        if not isinstance(value, str) or value.startswith(PREFIX) or value == ERASED:
            continue
        key = keys[owner]
        parent[name] = ERASED if key is None else _seal_value(key, event_id, owner, field, value)
    return data


def unseal(event_type: str, data: dict[str, Any], keys: Mapping[str, bytes | None]) -> dict[str, Any]:
    """`data` with each sealed personal field opened; a person whose key is gone reads `ERASED`.
    A field in clear is taken as it is."""
    for parent, name, owner, field in list(_personal_values(event_type, data)):
        value = parent[name]
        if isinstance(value, str) and value.startswith(PREFIX):
            parent[name] = _open_value(keys.get(owner), owner, field, value)
    return data


def erase(event_type: str, data: dict[str, Any], person: str) -> bool:
    """`data`'s personal fields of `person` set to ERASED, in place: what a stored copy of an
    event (an answer, a notified event) must read once its person is erased, as the log does.
    True when something changed."""
    changed = False
    for parent, name, owner, _ in list(_personal_values(event_type, data)):
        if owner == person and parent[name] != ERASED:
            parent[name] = ERASED
            changed = True
    return changed


def _personal_values(event_type: str, data: Mapping[str, Any]) -> Iterator[tuple[Any, Any, str, PersonalField]]:
    """(container, key or index, owner, field) of every personal value present."""
    for field in PERSONAL.get(event_type, ()):
        owner = _get(data, field.owner)
        if not isinstance(owner, str) or not owner or owner.startswith(UNIT_RECIPIENT):
            continue
        for parent, name in _slots(data, field.path):
            if parent[name] is not None:
                yield parent, name, owner, field


def _slots(node: Any, path: tuple[str, ...]) -> Iterator[tuple[Any, Any]]:
    head, rest = path[0], path[1:]
    if head == "*":
        names = range(len(node)) if isinstance(node, list) else list(node) if isinstance(node, dict) else []
    else:
        names = [head] if isinstance(node, dict) and head in node else []
    for name in names:
        if rest:
            yield from _slots(node[name], rest)
        else:
            yield node, name


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for name in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
    return node


def _label(owner: str, field: PersonalField) -> bytes:
    return f"{owner}|{'.'.join(field.path)}".encode()


def _seal_value(key: bytes, event_id: str, owner: str, field: PersonalField, value: str) -> str:
    plain = value.encode("utf-8")
    nonce = hmac.new(key, b"|".join((event_id.encode(), _label(owner, field), plain)), hashlib.sha256).digest()
    nonce = nonce[:NONCE_BYTES]
    sealed = nonce + AESGCM(key).encrypt(nonce, plain, _label(owner, field))
    return f"{PREFIX}{base64.urlsafe_b64encode(sealed).rstrip(b'=').decode()}@{owner}"


def _open_value(key: bytes | None, owner: str, field: PersonalField, value: str) -> str:
    body, _, named = value[len(PREFIX):].rpartition("@")
    if named != owner:
        raise Unreadable(f"a sealed {'.'.join(field.path)} names {named!r}, the payload {owner!r}")
    if key is None:
        return ERASED
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _label(owner, field)).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise Unreadable(f"a sealed {'.'.join(field.path)} of {owner} does not open under their key") from exc
