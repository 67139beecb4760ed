"""Webhook calls that anyone able to write the directory cannot turn against our own network.

Whoever can publish a `unit.registered` chooses a URL the service will POST to. So:
- HTTPS only (plain HTTP only when a local setting allows it);
- the host is resolved once here, and every address it resolves to must be a public one
  (not loopback, private, link-local, shared, reserved, multicast or unspecified, IPv4 or
  IPv6, IPv4-mapped and 6to4/NAT64-embedded IPv4 included) unless the operator allow-listed
  the host or the address;
- the connection goes to the very address that was checked: the request's URL names the IP,
  the Host header and TLS SNI name the host, and the certificate is verified for the host.
  A fresh transport per call, so a pooled connection made for another host is never reused,
  and no proxy from the environment (the proxy would do its own resolving);
- one deadline covers resolving, connecting, sending and reading, and is shorter than the
  claim lease (checked in the settings), so a slow receiver cannot outlive the claim and be
  called twice;
- at most `max_response_bytes` of the answer are read, undecoded, and nothing of it is kept:
  errors are recorded as a class (`timeout`, `refused`, `http_503`...), never as text a
  remote server chose.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.notifications.errors import (
    BLOCKED_ADDRESS,
    DNS,
    INVALID_URL,
    SCHEME_NOT_ALLOWED,
    TIMEOUT,
    PermanentFailure,
    TransientFailure,
    classify,
)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
TransportFactory = Callable[[], httpx.AsyncBaseTransport]

# Answers a receiver may have us retry; every other non-2xx status is final.
RETRYABLE_STATUS = frozenset({408, 425, 429})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def receiver_secret(master: str, recipient_id: str) -> str:
    """The signing secret of one receiver (`unit:<unit id>` for a unit, the staff id for a
    person): HMAC-SHA256(master, "webhook:" + recipient id), hex. Each receiver can verify
    its own calls and forge nobody else's; operators hand it over with this same function."""
    return hmac.new(master.encode("utf-8"), f"webhook:{recipient_id}".encode(), hashlib.sha256).hexdigest()


def secret_for_receiver(settings, recipient_id: str) -> str:
    """What an operator tells a receiver (the CLI's answer): its own signing secret, from the
    service's settings. `recipient_id` is `unit:<unit id>` for a unit's webhook, else the staff id."""
    master = settings.webhook_secret.get_secret_value() if settings.webhook_secret is not None else ""
    if not master:
        raise ValueError("no NOTIFICATIONS_WEBHOOK_SECRET: the webhook channel is off")
    if not recipient_id.strip():
        raise ValueError("a recipient id is required (unit:<unit id> or a staff id)")
    return receiver_secret(master, recipient_id.strip())


def embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and may be routed to (mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    return None


def is_public(address: IP) -> bool:
    """Reachable only on the public Internet: none of the ranges that lead into a network of ours."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the socket talks IPv4 to it: judged as that address
    for candidate in filter(None, (address, embedded_ipv4(address))):
        if (candidate.is_loopback or candidate.is_private or candidate.is_link_local or candidate.is_reserved
                or candidate.is_multicast or candidate.is_unspecified or not candidate.is_global
                or getattr(candidate, "is_site_local", False)):
            return False
    return True


@dataclass(frozen=True)
class WebhookPolicy:
    allow_http: bool = False
    # Host names (exact, lower case) and IP networks the operator vouches for.
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    deadline_seconds: float = 10.0
    max_response_bytes: int = 4096

    @classmethod
    def from_settings(cls, settings) -> "WebhookPolicy":
        hosts, networks = cls.parse_allow_list(settings.webhook_allow_list)
        return cls(allow_http=settings.webhook_allow_http, allowed_hosts=hosts, allowed_networks=networks,
                   deadline_seconds=settings.webhook_timeout_seconds,
                   max_response_bytes=settings.webhook_max_response_bytes)

    @classmethod
    def parse_allow_list(cls, entries: list[str]) -> tuple[frozenset[str], tuple]:
        """Split "127.0.0.1, 10.0.0.0/8, hooks.internal" into networks and host names."""
        hosts, networks = set(), []
        for entry in (e.strip().lower() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return frozenset(hosts), tuple(networks)

    def address_allowed(self, address: IP) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        mapped = embedded_ipv4(address)
        if mapped is not None and any(mapped in network for network in self.allowed_networks):
            return True
        return is_public(address)


@dataclass(frozen=True)
class Target:
    """Where one call goes: the URL naming the checked IP, and the host the receiver knows."""

    url: str
    host_header: str
    server_name: str | None  # TLS SNI and certificate name; None over plain HTTP
    address: IP


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


async def resolve_target(url: str, policy: WebhookPolicy, resolve: Resolver = system_resolver) -> Target:
    """Check `url` against the policy and pin it to one checked address, or raise a failure
    whose message is an error class."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise PermanentFailure(INVALID_URL) from exc
    if parts.scheme not in ("https", "http") or not host:
        raise PermanentFailure(INVALID_URL)
    if parts.scheme == "http" and not policy.allow_http:
        raise PermanentFailure(SCHEME_NOT_ALLOWED)
    host_allowed = host in policy.allowed_hosts
    try:
        literal: IP | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = await resolve(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransientFailure(DNS) from exc
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))  # drop an IPv6 zone
            except ValueError:
                continue
        if not addresses:
            raise TransientFailure(DNS)
    # Every address must pass: a host answering one public and one private address would
    # otherwise reach the private one on the next resolution.
    if not host_allowed and not all(policy.address_allowed(a) for a in addresses):
        raise PermanentFailure(BLOCKED_ADDRESS)
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port is not None:
        netloc += f":{parts.port}"
    if "@" in parts.netloc:  # credentials for the receiver (basic auth) stay with the URL
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host_header = (f"[{host}]" if literal is not None and literal.version == 6 else host) + (
        f":{parts.port}" if parts.port not in (None, default_port) else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(pinned, host_header, host if parts.scheme == "https" else None, address)


def default_transport(ssl_context: ssl.SSLContext) -> TransportFactory:
    return lambda: httpx.AsyncHTTPTransport(verify=ssl_context, retries=0, trust_env=False)


class WebhookSender:
    def __init__(self, policy: WebhookPolicy, transport: TransportFactory | None = None,
                 resolve: Resolver = system_resolver) -> None:
        self.policy = policy
        # One SSL context (loading the CA bundle is the slow part); a transport per call.
        self.transport = transport or default_transport(httpx.create_ssl_context())
        self.resolve = resolve

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """POST `body`; return on 2xx, else raise a failure whose message is the error class."""
        try:
            async with asyncio.timeout(self.policy.deadline_seconds):
                status = await self._post(url, body, headers)
        except (PermanentFailure, TransientFailure):
            raise
        except TimeoutError as exc:
            raise TransientFailure(TIMEOUT) from exc
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            raise TransientFailure(classify(exc)) from exc
        if 200 <= status < 300:
            return
        code = f"http_{status}"
        raise (TransientFailure(code) if status >= 500 or status in RETRYABLE_STATUS else PermanentFailure(code))

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        target = await resolve_target(url, self.policy, self.resolve)
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        sent_headers = {**headers, "Host": target.host_header, "Accept-Encoding": "identity", "Connection": "close"}
        async with httpx.AsyncClient(transport=self.transport(), trust_env=False, follow_redirects=False,
                                     timeout=self.policy.deadline_seconds) as client:
            request = client.build_request("POST", target.url, content=body, headers=sent_headers,
                                           extensions=extensions)
            response = await client.send(request, stream=True)
            try:
                read = 0
                # Raw bytes (no decompression), and no more than the cap: the answer is unused.
                # (A test transport may hand over an answer already read.)
                if not response.is_stream_consumed:
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= self.policy.max_response_bytes:
                            break
            finally:
                await response.aclose()
            return response.status_code
