"""OIDC access tokens at a read endpoint: the issuer's JWKS served over a loopback socket, as
an identity provider (Keycloak) serves it, and tokens minted with its key."""

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

from shared.readers import OidcTokens, ReadAccess, Reader

ISSUER, AUDIENCE = "https://id.example.gov.vn/realms/exemplars", "exemplars-api"
KEY, OTHER = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))


@pytest.fixture
def jwks() -> Iterator[dict]:
    """A JWKS endpoint on a free loopback port; `state["up"] = False` makes it refuse."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    state = {"up": True, "fetches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            state["fetches"] += 1
            if not state["up"]:
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/protocol/openid-connect/certs"
    yield state
    server.shutdown()
    server.server_close()


def token(key=KEY, kid="k1", algorithm="RS256", **overrides) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "nguyen.van.a", "iat": now, "exp": now + dt.timedelta(minutes=5),
              "scope": "openid unit:QLDD", **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def client(source: OidcTokens) -> httpx.AsyncClient:
    api = FastAPI()

    @api.get("/me")
    async def me(reader: Reader = Depends(ReadAccess([source]))) -> dict:
        return {"subject": reader.subject, "units": sorted(reader.units), "operator": reader.operator}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://service")


async def get(http: httpx.AsyncClient, bearer: str) -> httpx.Response:
    return await http.get("/me", headers={"Authorization": f"Bearer {bearer}"})


async def test_a_token_of_the_issuer_for_the_audience_reads_within_its_scopes(jwks):
    async with client(OidcTokens(ISSUER, AUDIENCE, jwks["url"])) as http:
        answer = await get(http, token())
        assert answer.status_code == 200
        assert answer.json() == {"subject": "nguyen.van.a", "units": ["QLDD"], "operator": False}
        assert (await get(http, token(sub="b"))).status_code == 200
    assert jwks["fetches"] == 1  # the keys are cached


@pytest.mark.parametrize("why, bad", [
    ("wrong audience", lambda: token(aud="another-api")),
    ("wrong issuer", lambda: token(iss="https://evil.example/realms/exemplars")),
    ("expired", lambda: token(exp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))),
    ("no expiry", lambda: token(exp=None)),
    ("no subject", lambda: token(sub=None)),
    ("signed by another key under the issuer's kid", lambda: token(key=OTHER)),
    ("a kid the issuer never published", lambda: token(key=OTHER, kid="k2")),
    ("no kid", lambda: token(kid=None)),
    ("unsigned (alg none)", lambda: token(key=None, algorithm="none")),
    ("not a JWT", lambda: "exr_not-a-jwt"),
])
async def test_what_the_issuer_did_not_sign_for_us_is_401_and_says_nothing_more(jwks, why, bad):
    async with client(OidcTokens(ISSUER, AUDIENCE, jwks["url"])) as http:
        answer = await get(http, bad())
    assert answer.status_code == 401, why
    assert answer.json() == {"detail": "a valid bearer token is required"}
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_no_token_or_another_scheme_is_401(jwks):
    async with client(OidcTokens(ISSUER, AUDIENCE, jwks["url"])) as http:
        assert (await http.get("/me")).status_code == 401
        basic = await http.get("/me", headers={"Authorization": "Basic b3BlcmF0b3I6b3BlcmF0b3I="})
        assert basic.status_code == 401


async def test_made_up_key_ids_do_not_make_us_hammer_the_issuer(jwks):
    async with client(OidcTokens(ISSUER, AUDIENCE, jwks["url"])) as http:
        assert (await get(http, token())).status_code == 200
        for n in range(20):
            assert (await get(http, token(key=OTHER, kid=f"made-up-{n}"))).status_code == 401
    assert jwks["fetches"] <= 2  # the first fetch, and at most one refresh per cooldown


async def test_roles_in_a_nested_claim_as_keycloak_sends_them(jwks):
    source = OidcTokens(ISSUER, AUDIENCE, jwks["url"], scope_claim="realm_access.roles")
    async with client(source) as http:
        answer = await get(http, token(scope=None, realm_access={"roles": ["operator", "offline_access"]}))
    assert answer.status_code == 200 and answer.json()["operator"] is True


async def test_an_issuer_out_of_reach_is_503_not_a_pass(jwks):
    jwks["up"] = False
    async with client(OidcTokens(ISSUER, AUDIENCE, jwks["url"])) as http:
        answer = await get(http, token())
    assert answer.status_code == 503 and answer.headers["retry-after"]
