"""Webhook calls: the address policy, HTTPS only, pinning to the checked address, the deadline,
the response cap, per-receiver secrets, error classes, and the worker's separate lanes.
Real sockets on 127.0.0.1 (allow-listed) where the behaviour is the network's."""

import asyncio
import datetime as dt
import shutil
import ssl
import subprocess
import time

import pytest
from pydantic import ValidationError

from services.notifications import messages, webhooks
from services.notifications.errors import PermanentFailure, TransientFailure, public_error
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import WebhookPolicy, WebhookSender, resolve_target

LOCAL = WebhookPolicy.parse_allow_list(["127.0.0.1"])


def policy(**changes) -> WebhookPolicy:
    return WebhookPolicy(**changes)


def local_policy(**changes) -> WebhookPolicy:
    hosts, networks = LOCAL
    return WebhookPolicy(**{"allow_http": True, "allowed_hosts": hosts, "allowed_networks": networks, **changes})


def resolver(*addresses: str, calls: list | None = None):
    async def resolve(host, port):
        if calls is not None:
            calls.append(host)
        return list(addresses)

    return resolve


# ---- the address policy ----------------------------------------------------------------------

BLOCKED = ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
           "169.254.169.254", "fc00::1", "fd12:3456::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
           "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",
           "2002:7f00:1::1", "64:ff9b::a9fe:a9fe", "fec0::1", "192.0.2.10"]


@pytest.mark.parametrize("address", BLOCKED)
async def test_non_public_addresses_are_blocked(address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await resolve_target(f"https://{host}/hook", policy())


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
async def test_public_addresses_pass(address):
    host = f"[{address}]" if ":" in address else address
    target = await resolve_target(f"https://{host}:8443/a/b?c=1", policy())
    assert target.url.endswith(":8443/a/b?c=1") and target.host_header == f"{host}:8443"


async def test_a_host_name_resolving_to_a_private_address_is_blocked():
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await resolve_target("https://hooks.example.vn/x", policy(), resolver("10.0.0.7"))
    # One public answer does not excuse a private one: the next resolution could pick it.
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await resolve_target("https://hooks.example.vn/x", policy(), resolver("93.184.216.34", "192.168.0.2"))


async def test_the_target_is_the_checked_address_under_the_hosts_name():
    calls = []
    target = await resolve_target("https://hooks.example.vn/thi-dua?x=1", policy(),
                                  resolver("2606:4700:4700::1111", calls=calls))
    assert calls == ["hooks.example.vn"]  # resolved once
    assert target.url == "https://[2606:4700:4700::1111]/thi-dua?x=1"
    assert target.host_header == "hooks.example.vn" and target.server_name == "hooks.example.vn"
    with_credentials = await resolve_target("https://u:p%40ss@hooks.example.vn:8443/x", policy(),
                                            resolver("93.184.216.34"))
    assert with_credentials.url == "https://u:p%40ss@93.184.216.34:8443/x"
    assert with_credentials.host_header == "hooks.example.vn:8443"


async def test_https_only_unless_allowed():
    with pytest.raises(PermanentFailure, match="^scheme_not_allowed$"):
        await resolve_target("http://hooks.example.vn/x", policy(), resolver("93.184.216.34"))
    target = await resolve_target("http://hooks.example.vn/x", policy(allow_http=True), resolver("93.184.216.34"))
    assert target.url == "http://93.184.216.34/x" and target.server_name is None
    for url in ("ftp://hooks.example.vn/x", "https:///x", "file:///etc/passwd", "https://[::1/x"):
        with pytest.raises(PermanentFailure, match="^invalid_url$"):
            await resolve_target(url, policy(allow_http=True))


async def test_the_allow_list_lets_named_networks_and_hosts_through():
    hosts, networks = WebhookPolicy.parse_allow_list(["127.0.0.1", " 10.0.0.0/8", "::1", "Hooks.Internal.", ""])
    allowed = policy(allowed_hosts=hosts, allowed_networks=networks)
    assert hosts == frozenset({"hooks.internal"})
    for url in ("https://127.0.0.1:9000/x", "https://10.20.30.40/x", "https://[::1]/x", "https://[::ffff:127.0.0.1]/x"):
        await resolve_target(url, allowed)
    await resolve_target("https://hooks.internal/x", allowed, resolver("172.16.5.5"))
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await resolve_target("https://169.254.169.254/x", allowed)
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await resolve_target("https://192.168.1.1/x", allowed)


async def test_a_name_that_does_not_resolve_is_a_transient_dns_failure():
    async def nothing(host, port):
        import socket
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(TransientFailure, match="^dns$"):
        await resolve_target("https://no-such-host.invalid/x", policy(), nothing)


# ---- secrets and settings --------------------------------------------------------------------


def test_each_receiver_has_its_own_secret():
    master = "bí-mật-chung"
    unit, person = webhooks.receiver_secret(master, "unit:U-CDC"), webhooks.receiver_secret(master, "S-EV-2")
    assert len({unit, person, webhooks.receiver_secret(master, "unit:U-TNN"), master}) == 4
    assert unit == webhooks.receiver_secret(master, "unit:U-CDC")  # stable: operators can tell it again
    now = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
    headers = messages.webhook_headers(unit, b'{"a":1}', delivery_id="d", event_type="x", now=now)
    stamp, signature = headers["X-Exemplars-Timestamp"], headers["X-Exemplars-Signature"]
    assert messages.verify_signature(unit, b'{"a":1}', stamp, signature, now=now)
    assert not messages.verify_signature(person, b'{"a":1}', stamp, signature, now=now)
    assert not messages.verify_signature(unit, b'{"a":2}', stamp, signature, now=now)  # covers the body
    assert not messages.verify_signature(unit, b'{"a":1}', str(int(stamp) + 1), signature, now=now)  # and the time
    settings = NotificationsSettings(webhook_secret=master)
    assert webhooks.secret_for_receiver(settings, "unit:U-CDC") == unit
    with pytest.raises(ValueError):
        webhooks.secret_for_receiver(NotificationsSettings(), "unit:U-CDC")


def test_the_deadline_must_be_shorter_than_the_lease():
    with pytest.raises(ValidationError, match="webhook_timeout_seconds"):
        NotificationsSettings(webhook_timeout_seconds=30, delivery_lease_seconds=30)
    assert NotificationsSettings(delivery_lease_seconds=4).webhook_timeout_seconds == 2  # the default adapts
    settings = NotificationsSettings(webhook_allowed_addresses="127.0.0.1, ::1", webhook_allow_http=True)
    built = WebhookPolicy.from_settings(settings)
    assert built.allow_http and len(built.allowed_networks) == 2 and built.deadline_seconds == 10


def test_stored_errors_are_shown_as_classes_only():
    assert public_error("http_503") == "http_503" and public_error("unknown_recipient") == "unknown_recipient"
    assert public_error("webhook unavailable: ConnectError('[Errno 111] refused mongo:27017')") == "unclassified"
    assert public_error(None) is None


# ---- real sockets ----------------------------------------------------------------------------


class Server:
    """An HTTP/1.1 server on 127.0.0.1 that answers as `behaviour` says."""

    def __init__(self, behaviour: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.behaviour, self.ssl_context = behaviour, ssl_context
        self.heads: list[bytes] = []
        self.sent = 0

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            if self.behaviour == "slow":
                await asyncio.sleep(3)
            elif self.behaviour == "huge":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
                chunk = b"x" * 65536
                while self.sent < 104857600:
                    writer.write(chunk)
                    await writer.drain()
                    self.sent += len(chunk)
            else:
                status = {"ok": b"204 No Content", "error": b"500 Internal Server Error"}[self.behaviour]
                text = b"internal secret: mongo:27017" if self.behaviour == "error" else b""
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(text) + text)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def test_a_slow_receiver_hits_the_deadline():
    async with Server("slow") as server:
        sender = WebhookSender(local_policy(deadline_seconds=0.5))
        started = time.monotonic()
        with pytest.raises(TransientFailure, match="^timeout$"):
            await sender.send(f"http://127.0.0.1:{server.port}/hook", b"{}", {})
        assert time.monotonic() - started < 2


async def test_a_huge_answer_is_read_only_up_to_the_cap():
    async with Server("huge") as server:
        sender = WebhookSender(local_policy(deadline_seconds=5, max_response_bytes=4096))
        started = time.monotonic()
        await sender.send(f"http://127.0.0.1:{server.port}/hook", b"{}", {})  # a 200: sent
        assert time.monotonic() - started < 2
        await asyncio.sleep(0.2)
        assert server.sent < 10 * 1048576  # the connection was closed long before 100 MB


async def test_an_error_answer_is_a_status_class_and_its_body_is_not_kept():
    async with Server("error") as server:
        with pytest.raises(TransientFailure) as caught:
            await WebhookSender(local_policy()).send(f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    assert str(caught.value) == "http_500" and "mongo" not in repr(caught.value)


async def test_a_closed_port_is_refused_and_loopback_needs_the_allow_list():
    async with Server("ok") as server:
        port = server.port
    with pytest.raises(TransientFailure, match="^refused$"):
        await WebhookSender(local_policy()).send(f"http://127.0.0.1:{port}/hook", b"{}", {})
    with pytest.raises(PermanentFailure, match="^blocked_address$"):
        await WebhookSender(policy(allow_http=True)).send(f"http://127.0.0.1:{port}/hook", b"{}", {})


async def test_the_connection_goes_to_the_checked_address_with_the_hosts_name():
    calls = []
    async with Server("ok") as server:
        # `.invalid` resolves nowhere: only the pinned address can have been used.
        sender = WebhookSender(local_policy(), resolve=resolver("127.0.0.1", calls=calls))
        await sender.send(f"http://hooks.invalid:{server.port}/thi-dua?a=1", b'{"x":1}', {"X-Test": "1"})
    (head,) = server.heads
    assert head.startswith(b"POST /thi-dua?a=1 HTTP/1.1\r\n") and calls == ["hooks.invalid"]
    assert f"host: hooks.invalid:{server.port}".encode() in head.lower()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


async def test_tls_is_verified_for_the_host_name_while_connecting_to_the_pinned_address(certificate):
    server_context, client_context = certificate
    names = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)
    async with Server("ok", server_context) as server:
        sender = WebhookSender(local_policy(allow_http=False), transport=webhooks.default_transport(client_context),
                               resolve=resolver("127.0.0.1"))
        await sender.send(f"https://hooks.example.test:{server.port}/hook", b"{}", {})
        assert names == ["hooks.example.test"]
        # The same address under a name the certificate does not carry: refused by TLS.
        other = WebhookSender(local_policy(), transport=webhooks.default_transport(client_context),
                              resolve=resolver("127.0.0.1"))
        with pytest.raises(TransientFailure, match="^tls$"):
            await other.send(f"https://evil.example.test:{server.port}/hook", b"{}", {})
