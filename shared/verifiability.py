"""The CloudEvents *Verifiability* extension: DSSE-signed digests of an event, Ed25519 keys.

Spec: `cloudevents/extensions/verifiability.md` (payloadType `.../dsse/v0.1`) in the
CloudEvents spec repository, and DSSE v1.0.2 (`protocol.md`, `envelope.md`).

- `dssematerial` (type Binary) holds the UTF-8 JSON DSSE envelope; as a Kafka header or a
  JSON member it travels in Binary's string encoding, base64. The list of signed extension
  attributes is *inside* the signed payload, not an attribute of the event.
- Keys and their ids: shared/keys.py.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.exceptions import InvalidSignature

# Keys live in shared/keys.py; re-exported so one import serves signers and verifiers.
from shared.keys import (  # noqa: F401
    SigningKey,
    VerifyingKey,
    _b64url,
    b64decode,
    from_jwk,
    from_pem,
    generate_signing_key,
    key_id,
    load_key,
    public_key_from_raw,
    save_key,
    signing_key_from_seed,
    to_jwk,
    to_pem,
)

PAYLOAD_TYPE = "https://cloudevents.io/verifiability/dsse/v0.1"
MATERIAL = "dssematerial"
MATERIAL_HEADER = "ce_" + MATERIAL
# The digest order is the spec's; it is part of the signature.
CORE_ATTRIBUTES = ("id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time")
_FORBIDDEN_EXT = frozenset(CORE_ATTRIBUTES) | {MATERIAL}
_EMPTY_DIGEST = hashlib.sha256(b"").digest()

KeyLookup = Callable[[str], "VerifyingKey | None"]

UNSIGNED, MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, DIGEST_MISMATCH = (
    "unsigned", "malformed", "unknown_key", "bad_signature", "digest_mismatch")


class NotVerified(Exception):
    """The event is not proven; `reason` is one of the machine reasons above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What the signature proves: the core attributes and data, plus these extension values."""

    keyid: str
    signed_ext: tuple[str, ...] = ()
    # Only the signed extension attributes present on the event (strict mode: nothing unsigned).
    signed_ext_values: dict[str, object] = field(default_factory=dict)


class ExtType(StrEnum):
    """CloudEvents types, for the canonical serialization of signed extension attributes."""

    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    STRING = "String"
    BINARY = "Binary"
    URI = "URI"
    URI_REFERENCE = "URI-reference"
    TIMESTAMP = "Timestamp"


# ---------------------------------------------------------------- canonical serialization

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def normalize_time(value: "str | dt.datetime") -> str:
    """RFC 3339 Zulu with second precision: UTC, subseconds truncated (not rounded), a
    timezone-less value read as UTC. Raises ValueError for anything else."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        # The regex is the RFC 3339 grammar; fromisoformat alone would take other ISO 8601 forms.
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
        date, time, _, offset = match.groups()
        moment = dt.datetime.fromisoformat(f"{date}T{time}{'+00:00' if offset in ('Z', 'z') else offset or ''}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _infer_type(value: object) -> ExtType:
    # The signer must know each type; a typed value (structured JSON) says it, a header string is a String.
    for python_type, type_ in ((bool, ExtType.BOOLEAN), (int, ExtType.INTEGER), (bytes, ExtType.BINARY),
                               (dt.datetime, ExtType.TIMESTAMP), (str, ExtType.STRING)):
        if isinstance(value, python_type):
            return type_
    raise ValueError(f"unsupported attribute value of type {type(value).__name__}")


def canonical(value: object, type_: ExtType | None = None) -> bytes:
    """The spec's byte sequence for an attribute value of CloudEvents type `type_`. A string is
    read as that type's string encoding (how binary mode carries it). Raises ValueError."""
    type_ = type_ or _infer_type(value)
    if type_ is ExtType.BOOLEAN:
        if isinstance(value, bool):
            return b"true" if value else b"false"
        if value in ("true", "false"):
            return value.encode()
    elif type_ is ExtType.INTEGER:
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31:
            return str(value).encode()
    elif type_ is ExtType.BINARY:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return b64decode(value)
    elif type_ is ExtType.TIMESTAMP:
        if isinstance(value, (str, dt.datetime)):
            return normalize_time(value).encode()
    elif isinstance(value, str):  # String, URI, URI-reference
        return value.encode("utf-8")
    raise ValueError(f"value {value!r} is not a CloudEvents {type_}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------- digests and DSSE

def core_digest(attributes: Mapping[str, object], data: bytes | None) -> bytes:
    """CORE_DIGEST: SHA-256 over the SHA-256 of each core attribute (absent or empty: of the
    empty byte sequence), then of the raw data bytes."""
    parts = []
    for name in CORE_ATTRIBUTES:
        value = attributes.get(name)
        if value is None or value == "":
            parts.append(_EMPTY_DIGEST)
        elif name == "time":
            parts.append(hashlib.sha256(normalize_time(value).encode()).digest())  # type: ignore[arg-type]
        elif isinstance(value, str):
            parts.append(hashlib.sha256(value.encode("utf-8")).digest())
        else:
            raise ValueError(f"core attribute {name!r} is not a string")
    parts.append(hashlib.sha256(data or b"").digest())
    return hashlib.sha256(b"".join(parts)).digest()


def ext_digest(attributes: Mapping[str, object], names: Iterable[str],
               types: Mapping[str, ExtType] | None = None) -> bytes:
    """EXT_DIGEST, in the order of `names`; an absent attribute counts as the empty sequence."""
    parts = []
    for name in names:
        value = attributes.get(name)
        raw = b"" if value is None else canonical(value, (types or {}).get(name))
        parts.append(hashlib.sha256(raw).digest())
    return hashlib.sha256(b"".join(parts)).digest()


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    type_ = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_), type_, len(body), body)


def check_signed_ext(names: object) -> tuple[str, ...]:
    """The spec's rules for `signedextattrs`: strings, no repetition, no core name, no
    `dssematerial`. Raises ValueError."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("signedextattrs is not a list of attribute names")
    if len(set(names)) != len(names):
        raise ValueError("signedextattrs repeats a name")
    if bad := sorted(set(names) & _FORBIDDEN_EXT):
        raise ValueError(f"signedextattrs names {bad}, which cannot be signed as extensions")
    return tuple(names)


def sign(attributes: Mapping[str, object], data: bytes | None, key: SigningKey,
         signed_ext: Iterable[str] = (), *, ext_types: Mapping[str, ExtType] | None = None) -> dict[str, str]:
    """The extension attribute to add to the event: {"dssematerial": base64 DSSE envelope}.
    Raises ValueError for a list of signed extensions, or a value, the spec forbids."""
    names = check_signed_ext(list(signed_ext))
    material: dict[str, object] = {"core": _b64(core_digest(attributes, data))}
    if names:
        material["ext"] = _b64(ext_digest(attributes, names, ext_types))
        material["signedextattrs"] = list(names)
    body = json.dumps(material, separators=(",", ":")).encode("utf-8")
    signature = key.sign(pae(PAYLOAD_TYPE, body))
    # Member order and compact separators as in the spec's examples; verifiers do not depend on it.
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": _b64(body),
                "signatures": [{"keyid": key_id(key), "sig": _b64(signature)}]}
    return {MATERIAL: _b64(json.dumps(envelope, separators=(",", ":")).encode("utf-8"))}


def verify(attributes: Mapping[str, object], data: bytes | None, keys: KeyLookup, *,
           ext_types: Mapping[str, ExtType] | None = None) -> Verified:
    """Verify the event's `dssematerial`, or raise NotVerified. `keys(keyid)` returns the key
    acceptable for that id (for this event's source, at its receive time), or None."""
    raw = attributes.get(MATERIAL)
    if raw is None or raw in ("", b""):
        raise NotVerified(UNSIGNED, "the event has no dssematerial")
    envelope = _parse_envelope(raw)
    body = _b64_field(envelope["payload"], "payload")
    keyid = _check_signatures(envelope["signatures"], pae(PAYLOAD_TYPE, body), keys)
    # The spec validates the payload before the signature (steps 6, 7); the outcome is the
    # same, but parsing only authenticated bytes names forgeries bad_signature, not malformed.
    core, ext, names = _parse_material(body)
    try:
        if not hmac.compare_digest(core, core_digest(attributes, data)):
            raise NotVerified(DIGEST_MISMATCH, "core attributes or data differ from what was signed")
        if names and not hmac.compare_digest(ext, ext_digest(attributes, names, ext_types)):
            raise NotVerified(DIGEST_MISMATCH, f"signed extension attributes {list(names)} differ")
    except ValueError as exc:
        raise NotVerified(MALFORMED, str(exc)) from exc
    return Verified(keyid, names, {n: attributes[n] for n in names if attributes.get(n) is not None})


def _parse_envelope(raw: object) -> dict:
    try:
        text = (raw if isinstance(raw, bytes) else b64decode(raw)).decode("utf-8")  # type: ignore[arg-type]
        envelope = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotVerified(MALFORMED, f"dssematerial is not a base64 JSON envelope: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), str) \
            or not isinstance(envelope.get("signatures"), list) or not envelope["signatures"]:
        raise NotVerified(MALFORMED, "the DSSE envelope lacks payload or signatures")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise NotVerified(MALFORMED, f"unknown payloadType {envelope.get('payloadType')!r}")
    return envelope


def _b64_field(value: object, name: str) -> bytes:
    try:
        return b64decode(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise NotVerified(MALFORMED, f"{name}: {exc}") from exc


def _check_signatures(signatures: list, message: bytes, keys: KeyLookup) -> str:
    """DSSE with a threshold of one: the first signature a known key verifies wins."""
    known = False
    for entry in signatures:
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            raise NotVerified(MALFORMED, "a signature entry lacks 'sig'")
        keyid = entry.get("keyid") or ""  # DSSE: unset is the same as empty
        if not isinstance(keyid, str) or (key := keys(keyid)) is None:
            continue
        known = True
        try:
            key.verify(_b64_field(entry["sig"], "sig"), message)
            return keyid
        except (InvalidSignature, NotVerified):
            continue
    if known:
        raise NotVerified(BAD_SIGNATURE, "no signature verifies with the acceptable keys")
    ids = [e.get("keyid") for e in signatures if isinstance(e, dict)]
    raise NotVerified(UNKNOWN_KEY, f"no acceptable key among key ids {ids}")


def _parse_material(body: bytes) -> tuple[bytes, bytes, tuple[str, ...]]:
    try:
        material = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotVerified(MALFORMED, f"the signed payload is not JSON: {exc}") from exc
    if not isinstance(material, dict):
        raise NotVerified(MALFORMED, "the signed payload is not a JSON object")
    core = _b64_field(material.get("core"), "core")
    if len(core) != 32:
        raise NotVerified(MALFORMED, "core is not a 32-byte digest")
    if ("ext" in material) != ("signedextattrs" in material):
        raise NotVerified(MALFORMED, "ext and signedextattrs must be both present or both absent")
    if "ext" not in material:
        return core, b"", ()
    ext = _b64_field(material["ext"], "ext")
    if len(ext) != 32:
        raise NotVerified(MALFORMED, "ext is not a 32-byte digest")
    try:
        names = check_signed_ext(material["signedextattrs"])
    except ValueError as exc:
        raise NotVerified(MALFORMED, str(exc)) from exc
    return core, ext, names


# ---------------------------------------------------------------- transport shapes

def attributes_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, bytes | str | None]]) -> dict[str, str]:
    """Kafka binary mode: `ce_<name>` headers are the attributes, `content-type` is the
    datacontenttype. Accepts `shared.envelope.encode`'s dict or a record's header pairs; a
    repeated attribute header is refused, so no reader can see a value the signature did not."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, str] = {}
    for name, raw in pairs:
        if raw is None:
            continue
        name = name.lower()
        attr = name[3:] if name.startswith("ce_") else "datacontenttype" if name == "content-type" else None
        if attr is None:
            continue
        if attr in attributes:
            raise ValueError(f"header {name!r} is repeated")
        attributes[attr] = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return attributes


def sign_headers(headers: Mapping[str, str], value: bytes | None, key: SigningKey,
                 signed_ext: Iterable[str] = (), *, ext_types: Mapping[str, ExtType] | None = None) -> dict[str, str]:
    """The headers to add to a binary-mode record: {"ce_dssematerial": ...}."""
    material = sign(attributes_from_headers(headers), value, key, signed_ext, ext_types=ext_types)
    return {MATERIAL_HEADER: material[MATERIAL]}


def verify_headers(headers: Mapping[str, str] | Iterable[tuple[str, bytes | str | None]], value: bytes | None,
                   keys: KeyLookup, *, ext_types: Mapping[str, ExtType] | None = None) -> Verified:
    """Verify a binary-mode record (its headers and value as consumed)."""
    try:
        attributes = attributes_from_headers(headers)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotVerified(MALFORMED, str(exc)) from exc
    return verify(attributes, value, keys, ext_types=ext_types)


def structured_data(body: Mapping[str, object]) -> bytes:
    """The data bytes of a structured-mode (JSON format) event: `data_base64` decoded; a
    string `data` of a non-JSON content type as UTF-8; any other `data` as compact JSON
    (the spec's walkthrough signs `{"hello":"world"}` for the pretty-printed member)."""
    if "data_base64" in body:
        return b64decode(body["data_base64"])  # type: ignore[arg-type]
    if "data" not in body or body["data"] is None:
        return b""
    data, ctype = body["data"], str(body.get("datacontenttype") or "application/json").lower()
    is_json = ctype.split(";")[0].strip().endswith(("/json", "+json"))
    if isinstance(data, str) and not is_json:
        return data.encode("utf-8")
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_structured(body: Mapping[str, object], key: SigningKey, signed_ext: Iterable[str] = (),
                    *, ext_types: Mapping[str, ExtType] | None = None) -> dict[str, str]:
    """The members to add to a structured-mode event: {"dssematerial": ...}."""
    return sign(_context(body), structured_data(body), key, signed_ext, ext_types=ext_types)


def verify_structured(body: Mapping[str, object], keys: KeyLookup, *,
                      ext_types: Mapping[str, ExtType] | None = None) -> Verified:
    try:
        data = structured_data(body)
    except ValueError as exc:
        raise NotVerified(MALFORMED, f"data_base64: {exc}") from exc
    return verify(_context(body), data, keys, ext_types=ext_types)


def _context(body: Mapping[str, object]) -> dict[str, object]:
    return {k: val for k, val in body.items() if k not in ("data", "data_base64")}
