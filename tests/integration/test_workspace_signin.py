"""Signing in to the workspace: through an OpenID Connect provider (one on a loopback socket
that speaks the protocol as Keycloak does: discovery, the authorization endpoint that sends
the browser back with a code, the token endpoint that checks the PKCE verifier, the JWKS),
and by a mail's link, neither of which another site can use to sign a browser in (login
CSRF). The workspace's pages over ASGI, its directory in SecantusDB."""

import base64
import datetime as dt
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pydantic import SecretStr

from services.workspace import web
from services.workspace.criteria import CriteriaSource
from services.workspace.oidc import OidcSignIn
from services.workspace.settings import WorkspaceSettings
from services.workspace.store import WorkspaceStore
from shared import links
from shared.programme import load_programme

CLIENT_ID, WORKSPACE = "exemplars-workspace", "http://workspace.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def provider() -> Iterator[dict]:
    """The identity provider. `state["person"]` is who signs in there; `state["nonce"]` set to
    a value makes it put that nonce in the ID token instead of the one it was asked for."""
    state: dict = {"person": "QLDD-02", "codes": {}, "nonce": None, "up": True}
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "use": "sig",
           "alg": "RS256"}

    class Handler(BaseHTTPRequestHandler):
        def _json(self, body: dict, status: int = 200) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):  # noqa: N802 - the http.server API
            url = urlsplit(self.path)
            if not state["up"]:
                self.send_error(503)
            elif url.path == "/realms/exemplars/.well-known/openid-configuration":
                self._json({"issuer": state["issuer"], "authorization_endpoint": state["issuer"] + "/auth",
                            "token_endpoint": state["issuer"] + "/token", "jwks_uri": state["issuer"] + "/certs"})
            elif url.path == "/realms/exemplars/certs":
                self._json({"keys": [jwk]})
            elif url.path == "/realms/exemplars/auth":  # the person signs in at the provider, who sends them back
                asked = {k: v[0] for k, v in parse_qs(url.query).items()}
                assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
                code = uuid.uuid4().hex
                state["codes"][code] = asked
                self.send_response(302)
                self.send_header("Location", asked["redirect_uri"] + "?" + urlencode({"code": code,
                                                                                      "state": asked["state"]}))
                self.end_headers()
            else:
                self.send_error(404)

        def do_POST(self):  # noqa: N802
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            asked = state["codes"].pop(form.get("code"), None)  # a code works once
            verifier = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if (asked is None or verifier.rstrip(b"=").decode() != asked["code_challenge"]
                    or form.get("redirect_uri") != asked["redirect_uri"] or form.get("client_id") != CLIENT_ID):
                self._json({"error": "invalid_grant"}, 400)
                return
            now = dt.datetime.now(dt.UTC)
            claims = {"iss": state["issuer"], "aud": CLIENT_ID, "sub": str(uuid.uuid4()), "iat": now,
                      "exp": now + dt.timedelta(minutes=5), "nonce": state["nonce"] or asked["nonce"],
                      "staff_id": state["person"]}
            self._json({"id_token": jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"}),
                        "token_type": "Bearer"})

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["issuer"] = f"http://127.0.0.1:{server.server_address[1]}/realms/exemplars"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
async def workspace(provider, mongo):
    db = mongo[f"workspace_oidc_{uuid.uuid4().hex[:8]}"]
    await db["staff"].insert_many([
        {"_id": "QLDD-02", "name": "Lê Thị Lan", "unit_id": "QLDD", "roles": ["emulation_officer"], "removed": False},
        {"_id": "VP-07", "name": "Trần Thu Quân", "unit_id": "VP", "roles": ["ministry_office"], "removed": False}])
    settings = WorkspaceSettings.model_construct(link_secret=SecretStr("l" * 40), session_secret=SecretStr("s" * 40),
                                                 cookie_secure=False, public_base_url=WORKSPACE, dev_sign_in=False)
    oidc = OidcSignIn(provider["issuer"], CLIENT_ID, None, "staff_id", f"{WORKSPACE}/signin/oidc/callback")
    api = FastAPI()
    web.mount(api, settings, WorkspaceStore(db), CriteriaSource("http://127.0.0.1:9", None), load_programme(),
              publish=_never, oidc=oidc)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=WORKSPACE) as browser:
        yield browser
    await oidc.close()
    await mongo.drop_database(db.name)


async def _never(*_) -> None:
    raise AssertionError("signing in publishes nothing")


async def through_the_provider(browser: httpx.AsyncClient) -> str:
    """Press the sign-in button and sign in at the provider: the callback URL it sends back."""
    start = await browser.get("/signin/oidc")
    assert start.status_code == 303 and start.headers["location"].startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as outside:  # the browser at the provider's own address
        at_provider = await outside.get(start.headers["location"])
    assert at_provider.status_code == 302
    return at_provider.headers["location"].removeprefix(WORKSPACE)


async def test_a_person_of_the_directory_signs_in_and_lands_on_their_pages(workspace, provider):
    assert "/signin/oidc" in (await workspace.get("/")).text  # the sign-in page offers it
    callback = await through_the_provider(workspace)
    signed = await workspace.get(callback)
    assert signed.status_code == 303 and "exemplars_session" in signed.cookies
    assert (await workspace.get("/")).headers["location"] == "/unit"  # an emulation officer's pages
    again = await workspace.get(callback)  # the same answer twice: its pending sign-in is gone
    assert again.status_code == 403 and "Phiên đăng nhập không còn" in again.text


async def test_the_ministry_office_lands_on_the_overview(workspace, provider):
    provider["person"] = "VP-07"
    await workspace.get(await through_the_provider(workspace))
    assert (await workspace.get("/")).headers["location"] == "/ministry"


async def test_an_answer_for_another_browser_or_with_another_nonce_signs_nobody_in(workspace, provider):
    callback = await through_the_provider(workspace)
    forged = callback.replace("state=", "state=x")
    refused = await workspace.get(forged)
    assert refused.status_code == 403 and "không khớp" in refused.text
    elsewhere = httpx.AsyncClient(transport=workspace._transport, base_url=WORKSPACE)  # no pending cookie
    async with elsewhere:
        assert (await elsewhere.get(callback)).status_code == 403  # login CSRF: another browser's answer
    provider["nonce"] = "replayed-nonce"
    refused = await workspace.get(await through_the_provider(workspace))
    assert refused.status_code == 403 and "Không kiểm chứng được" in refused.text
    assert "exemplars_session" not in workspace.cookies


async def test_a_person_not_in_the_directory_is_refused(workspace, provider):
    provider["person"] = "NOBODY-01"
    refused = await workspace.get(await through_the_provider(workspace))
    assert refused.status_code == 403 and "danh bạ" in refused.text


async def test_a_provider_out_of_reach_is_said_so(workspace, provider):
    provider["up"] = False
    answer = await workspace.get("/signin/oidc")
    assert answer.status_code == 503 and "hệ thống định danh" in answer.text


async def test_a_mails_link_signs_in_only_from_the_page_it_opens(workspace):
    now = dt.datetime.now(dt.UTC)
    token = links.mint(b"l" * 40, links.TaskLink(str(uuid.uuid4()), "QLDD-02", links.NOMINATE_TASK,
                                                  now + dt.timedelta(days=1)))
    page = await workspace.get("/signin", params={"t": token})
    assert page.status_code == 200 and "exemplars_presession" in workspace.cookies
    pre = page.text.split('name="pre" value="', 1)[1].split('"', 1)[0]
    elsewhere = httpx.AsyncClient(transport=workspace._transport, base_url=WORKSPACE)
    async with elsewhere:  # another site posting the same form: no pre-session cookie of ours
        forged = await elsewhere.post("/signin", data={"t": token, "pre": pre})
        assert forged.status_code == 403 and "exemplars_session" not in elsewhere.cookies
    signed = await workspace.post("/signin", data={"t": token, "pre": pre})
    assert signed.status_code == 303 and signed.headers["location"] == "/unit/nominations/new"
    assert "exemplars_session" in workspace.cookies
