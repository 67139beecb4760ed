"""Signing in through the ministry's identity provider (OpenID Connect, e.g. Keycloak).

The authorization code flow with PKCE: the state, the nonce and the code verifier travel in a
short-lived sealed cookie of their own, so a callback answers only the browser that started
it (no login CSRF), and the ID token is checked against the provider's published keys: its
signature, issuer, audience (our client id), expiry and the nonce. The person is the
directory's staff id, read from a claim of the token (`WORKSPACE_OIDC_PERSON_CLAIM`: in
Keycloak, a user attribute mapped into the ID token), and must be in the directory.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt

from shared import links
from shared.readers import ALGORITHMS

COOKIE = "exemplars_oidc"
PURPOSE = b"exemplars workspace oidc v1\n"
PENDING_MINUTES = 10  # from leaving for the provider to coming back


class SignInRefused(Exception):
    """Why the provider's answer signs nobody in; `reason` keys the page's Vietnamese message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    verifier: str
    expires: dt.datetime

    def seal(self, secret: bytes) -> str:
        return links.seal(secret, PURPOSE, {"s": self.state, "n": self.nonce, "v": self.verifier,
                                            "e": int(self.expires.timestamp())})

    @classmethod
    def unseal(cls, secret: bytes, cookie: str | None, now: dt.datetime) -> "Pending":
        if not cookie:
            raise SignInRefused("no_pending")
        try:
            fields = links.unseal(secret, PURPOSE, cookie)
            pending = cls(str(fields["s"]), str(fields["n"]), str(fields["v"]),
                          dt.datetime.fromtimestamp(int(fields["e"]), dt.UTC))
        except (links.LinkRefused, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise SignInRefused("no_pending") from exc
        if pending.expires <= now:
            raise SignInRefused("too_slow")
        return pending


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class OidcSignIn:
    def __init__(self, issuer: str, client_id: str, client_secret: str | None, person_claim: str, redirect_uri: str,
                 scopes: str = "openid", transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer, self.client_id, self.client_secret = issuer.rstrip("/"), client_id, client_secret
        self.person_claim, self.redirect_uri, self.scopes = person_claim, redirect_uri, scopes
        self._http = httpx.AsyncClient(timeout=10.0, transport=transport)
        self._provider: Provider | None = None
        self._keys: jwt.PyJWKClient | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def provider(self) -> Provider:
        """The provider's endpoints, from its discovery document (read once)."""
        if self._provider is None:
            try:
                answer = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                found = answer.json()
                self._provider = Provider(found["authorization_endpoint"], found["token_endpoint"], found["jwks_uri"])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise SignInRefused("provider_down") from exc
            self._keys = jwt.PyJWKClient(self._provider.jwks_uri, cache_keys=True, lifespan=300, timeout=5,
                                         cooldown_duration=30)
        return self._provider

    async def start(self, now: dt.datetime) -> tuple[str, Pending]:
        """Where to send the browser, and what its cookie must bring back."""
        provider = await self.provider()
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48),
                          now + dt.timedelta(minutes=PENDING_MINUTES))
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "scope": self.scopes, "state": pending.state, "nonce": pending.nonce,
                           "code_challenge": challenge(pending.verifier), "code_challenge_method": "S256"})
        return f"{provider.authorization_endpoint}?{query}", pending

    async def finish(self, pending: Pending, code: str, state: str) -> str:
        """The staff id the provider vouches for, or SignInRefused."""
        if not code or not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise SignInRefused("state")
        provider = await self.provider()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": self.client_id, "code_verifier": pending.verifier}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            answer = await self._http.post(provider.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise SignInRefused("provider_down") from exc
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise SignInRefused("code")
        return await self._person(answer.json()["id_token"], pending.nonce)

    async def _person(self, id_token: str, nonce: str) -> str:
        assert self._keys is not None  # provider() made it
        try:
            # PyJWKClient fetches with urllib: off the event loop.
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, id_token)
            claims = jwt.decode(id_token, key.key, algorithms=ALGORITHMS, audience=self.client_id, issuer=self.issuer,
                                options={"require": ["exp", "iat", "sub", "nonce"]})
        except jwt.PyJWKClientConnectionError as exc:
            raise SignInRefused("provider_down") from exc
        except (jwt.PyJWKClientError, jwt.PyJWTError) as exc:
            raise SignInRefused("token") from exc
        if not secrets.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
            raise SignInRefused("token")
        person = claims.get(self.person_claim)
        if not isinstance(person, str) or not person:
            raise SignInRefused("no_person")
        return person


def challenge(verifier: str) -> str:
    """PKCE's S256 code challenge of `verifier`."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
