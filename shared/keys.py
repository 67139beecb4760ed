"""Ed25519 keys of producers: ids, PEM and JWK forms, files.

The key id is the RFC 7638 JWK thumbprint of the public key; keys load and save as PEM
(PKCS#8 / SubjectPublicKeyInfo) or as RFC 8037 OKP JWK JSON (`kty`, `crv`, `x`, `d`, `kid`).
"""

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SigningKey = Ed25519PrivateKey
VerifyingKey = Ed25519PublicKey


def b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE: verifiers MUST accept either)."""
    if not isinstance(text, str):
        raise ValueError("base64 value is not a string")
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"bad base64: {exc}") from exc


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")



def _raw_public(key: SigningKey | VerifyingKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: SigningKey | VerifyingKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))}, separators=(",", ":"))
    return _b64url(hashlib.sha256(members.encode("ascii")).digest())


def signing_key_from_seed(seed: bytes) -> SigningKey:
    """The Ed25519 key of a 32-byte seed (RFC 8032's private key)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


generate_signing_key = Ed25519PrivateKey.generate
public_key_from_raw = Ed25519PublicKey.from_public_bytes  # the 32 raw bytes (RFC 8032)


def to_pem(key: SigningKey | VerifyingKey) -> bytes:
    """PKCS#8 (unencrypted: the secret store protects it) or SubjectPublicKeyInfo PEM."""
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def from_pem(pem: bytes | str) -> SigningKey | VerifyingKey:
    data = pem.encode() if isinstance(pem, str) else pem
    key = (serialization.load_pem_private_key(data, password=None) if b"PRIVATE KEY" in data
           else serialization.load_pem_public_key(data))
    if not isinstance(key, (Ed25519PrivateKey, Ed25519PublicKey)):
        raise ValueError("not an Ed25519 key")
    return key


def to_jwk(key: SigningKey | VerifyingKey) -> dict[str, str]:
    """RFC 8037 OKP JWK; `d` (the seed) only for a private key; `kid` is `key_id`."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw_public(key)), "kid": key_id(key)}
    if isinstance(key, Ed25519PrivateKey):
        jwk["d"] = _b64url(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption()))
    return jwk


def from_jwk(jwk: Mapping[str, str]) -> SigningKey | VerifyingKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("not an Ed25519 OKP JWK")
    key: SigningKey | VerifyingKey = (signing_key_from_seed(b64decode(jwk["d"])) if "d" in jwk
                                      else public_key_from_raw(b64decode(jwk["x"])))
    if _b64url(_raw_public(key)) != str(jwk.get("x", "")).rstrip("="):
        raise ValueError("the JWK's x is not the public half of its d")
    if "kid" in jwk and jwk["kid"] != key_id(key):
        raise ValueError("the JWK's kid is not the key's thumbprint")
    return key


def save_key(key: SigningKey | VerifyingKey, path: str | Path, *, fmt: str = "pem") -> None:
    """Write a key as PEM or JWK JSON; a private key's file is readable by its owner only."""
    data = to_pem(key) if fmt == "pem" else (json.dumps(to_jwk(key), indent=2) + "\n").encode()
    mode = 0o600 if isinstance(key, Ed25519PrivateKey) else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # O_CREAT's mode does not apply to a file that already existed
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_key(path: str | Path) -> SigningKey | VerifyingKey:
    """A key from a PEM or JWK JSON file (told apart by the first character)."""
    data = Path(path).read_bytes()
    return from_jwk(json.loads(data)) if data.lstrip()[:1] == b"{" else from_pem(data)
