"""Who may read: bearer tokens, and the scopes they carry.

Every read endpoint asks for `Authorization: Bearer <token>`. In production the token is an
OIDC access token from the ministry's identity provider, checked against the issuer's JWKS
(signature, issuer, audience, expiry); the local run and the tests use a tokens file that
holds only each token's SHA-256, so the file itself grants nothing if it leaks.

Scopes (a token may hold several):
- `operator`: everything, personal data included;
- `ministry`: the programme (every unit's nominations, evaluations and outcomes), without
  panels and scores while scoring is open and without contact data;
- `unit:<id>`: that unit's nominations, quota and outcomes;
- `evaluator:<id>`: that evaluator's own assignments.
Scopes nobody defined are ignored, not refused: an identity provider may send others.

Errors say only what failed, never what exists: 401 without a valid token, 403 outside the
token's scope, whether or not the thing asked for exists.
"""

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
import yaml
from fastapi import HTTPException, Request

log = logging.getLogger("exemplars.readers")

OPERATOR, MINISTRY, UNIT, EVALUATOR = "operator", "ministry", "unit:", "evaluator:"
# What an identity provider may sign access tokens with; never "none", never HMAC (a shared
# secret would let every service mint tokens).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True)
class Reader:
    subject: str
    operator: bool = False
    ministry: bool = False
    units: frozenset[str] = field(default_factory=frozenset)
    evaluators: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, subject: str, scopes: Iterable[str]) -> "Reader":
        scopes = set(scopes)
        return cls(subject, operator=OPERATOR in scopes, ministry=MINISTRY in scopes,
                   units=frozenset(s.removeprefix(UNIT) for s in scopes if s.startswith(UNIT) and s != UNIT),
                   evaluators=frozenset(s.removeprefix(EVALUATOR) for s in scopes
                                        if s.startswith(EVALUATOR) and s != EVALUATOR))

    @property
    def programme(self) -> bool:
        """Reads every unit's records (operators and the ministry office)."""
        return self.operator or self.ministry

    def reads_unit(self, unit_id: str) -> bool:
        return self.programme or unit_id in self.units

    def require(self, allowed: bool) -> None:
        if not allowed:
            raise outside_scope()


class Unavailable(Exception):
    """The token could not be checked now (the identity provider's keys are out of reach)."""


class TokenSource(Protocol):
    async def reader(self, token: str) -> Reader | None:
        """The reader a token stands for, or None when it is not valid."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "exr_" + secrets.token_urlsafe(32)


class TokenFile:
    """Tokens listed in a YAML file, re-read when the file changes (no restart to add or
    revoke one):

        tokens:
          - sha256: <hex digest of the token>
            subject: nguyen.van.a
            scopes: [unit:U-HN]
            expires: 2027-06-30T00:00:00Z   # optional
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"readers file {self.path} does not exist "
                             "(`exemplars tokens add --file PATH ...` creates it)")
        self._stamp: tuple[int, int] | None = None
        self._tokens: dict[str, tuple[Reader, dt.datetime | None]] = {}
        self._load()

    def _load(self) -> None:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        tokens = {}
        for entry in data.get("tokens") or []:
            expires = entry.get("expires")
            if isinstance(expires, str):
                expires = dt.datetime.fromisoformat(expires)
            if isinstance(expires, dt.datetime) and expires.tzinfo is None:
                expires = expires.replace(tzinfo=dt.UTC)
            tokens[str(entry["sha256"]).lower()] = (Reader.of(str(entry["subject"]), entry.get("scopes") or []), expires)
        self._tokens, self._stamp = tokens, stamp

    async def reader(self, token: str) -> Reader | None:
        try:
            self._load()
        except Exception:  # noqa: BLE001 - a half-edited file: keep the last good one
            log.exception("tokens file %s unreadable; keeping the tokens read before", self.path)
        found = self._tokens.get(token_digest(token))
        if found is None:
            return None
        reader, expires = found
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            return None
        return reader


def add_token(path: str | Path, subject: str, scopes: list[str], expires: dt.datetime | None = None) -> str:
    """Append a new token to a tokens file (created if missing) and return the token itself,
    which is stored nowhere else."""
    path = Path(path)
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}
    token = new_token()
    entry: dict[str, Any] = {"sha256": token_digest(token), "subject": subject, "scopes": list(scopes)}
    if expires is not None:
        entry["expires"] = expires.isoformat()
    data.setdefault("tokens", []).append(entry)
    staged = path.with_suffix(".tmp")
    staged.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    staged.replace(path)  # one rename: a service re-reading it never sees half a file
    return token


class OidcTokens:
    """Access tokens of an OIDC issuer: signed by one of the keys its JWKS lists (fetched and
    cached; an unknown `kid` fetches again, once per cooldown), from `issuer`, for
    `audience`, not expired. The scopes are read from `scope_claim`: a space-separated string
    (the OAuth `scope` claim) or a list (e.g. Keycloak's `realm_access.roles`)."""

    def __init__(self, issuer: str, audience: str, jwks_url: str, scope_claim: str = "scope",
                 leeway_seconds: float = 30.0) -> None:
        self.issuer, self.audience, self.scope_claim = issuer, audience, scope_claim
        self.leeway = leeway_seconds
        # An unknown `kid` fetches the JWKS again (a rotated key), at most once per cooldown:
        # tokens with made-up key ids cannot make us hammer the identity provider.
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5, cooldown_duration=30)

    async def reader(self, token: str) -> Reader | None:
        try:
            # PyJWKClient fetches with urllib: off the event loop.
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise Unavailable(str(exc)) from exc
        except (jwt.PyJWKClientError, jwt.DecodeError):
            return None
        try:
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.InvalidTokenError:
            return None
        return Reader.of(str(claims["sub"]), _scopes(claims, self.scope_claim))


def _scopes(claims: dict[str, Any], path: str) -> list[str]:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def unauthenticated() -> HTTPException:
    return HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="exemplars"'})


def outside_scope() -> HTTPException:
    return HTTPException(403, "outside the scope of your token")


def not_found(reader: Reader, detail: str) -> HTTPException:
    """404 to those who may read everything of the kind; to anyone else the same 403 whether the
    thing exists or not, so probing ids tells nothing."""
    return HTTPException(404, detail) if reader.programme else outside_scope()


class ReadAccess:
    """The FastAPI dependency every read endpoint takes: the reader behind the request's
    bearer token, or 401 / 503."""

    def __init__(self, sources: list[TokenSource]) -> None:
        if not sources:
            raise ValueError("no token source: reads need OIDC settings or a tokens file")
        self.sources = sources

    async def __call__(self, request: Request) -> Reader:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated()
        for source in self.sources:
            try:
                reader = await source.reader(token)
            except Unavailable:
                log.warning("token keys out of reach; answering 503")
                raise HTTPException(503, "tokens cannot be checked right now", headers={"Retry-After": "5"}) from None
            if reader is not None:
                return reader
        raise unauthenticated()


def read_access(settings: Any) -> ReadAccess:
    """From a service's settings: OIDC when `oidc_issuer` is set, a tokens file when
    `readers_file` is set (both may be), else a refusal to start: reads are never open."""
    sources: list[TokenSource] = []
    if settings.oidc_issuer:
        if not (settings.oidc_audience and settings.oidc_jwks_url):
            raise ValueError("oidc_issuer needs oidc_audience and oidc_jwks_url")
        sources.append(OidcTokens(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url,
                                  settings.oidc_scope_claim))
    if settings.readers_file:
        sources.append(TokenFile(settings.readers_file))
    if not sources:
        raise ValueError("reads need a token source: set OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL, "
                         "or READERS_FILE (a tokens file)")
    return ReadAccess(sources)
