"""Delivery failures and their error classes.

A failure's message *is* its class: a short machine word that goes to the delivery's
`last_error`, to `/deliveries` and to `notification.failed`. Never the text of a remote
answer or of an exception about one: whoever writes a webhook URL into the directory would
otherwise read our network's answers back (which ports answer, what internal services say).
"""

import errno
import re
import ssl

import httpx

TIMEOUT = "timeout"
REFUSED = "refused"
UNREACHABLE = "unreachable"
TLS = "tls"
DNS = "dns"
PROTOCOL = "protocol_error"
NETWORK = "network_error"
BLOCKED_ADDRESS = "blocked_address"
SCHEME_NOT_ALLOWED = "scheme_not_allowed"
INVALID_URL = "invalid_url"
WEBHOOK_OFF = "webhook_disabled"
SMTP_AUTH = "smtp_auth"
EVENT_MISSING = "event_missing"
RECIPIENT_REMOVED = "recipient_removed"
INTERNAL = "internal_error"

# What a stored error may look like; anything else (a ledger written before classes) is
# shown as UNCLASSIFIED.
_CLASS = re.compile(r"^[a-z][a-z0-9_]{0,63}(:[a-z0-9_]{1,63})?$")
UNCLASSIFIED = "unclassified"


def public_error(value: str | None) -> str | None:
    if value is None:
        return None
    return value if _CLASS.match(value) else UNCLASSIFIED


class DeliveryFailure(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermanentFailure(DeliveryFailure):
    """Trying again cannot help (mailbox refused, recipient removed, 4xx from a webhook)."""


class TransientFailure(DeliveryFailure):
    """The server or the network may recover: try again later."""


def classify(exc: BaseException) -> str:
    """The error class of a failed call, read from the exception's type and errno only."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return TIMEOUT
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return TLS
        if isinstance(current, ConnectionRefusedError):
            return REFUSED
        if isinstance(current, OSError) and current.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH,
                                                               errno.EADDRNOTAVAIL):
            return UNREACHABLE
        if isinstance(current, TimeoutError):
            return TIMEOUT
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return PROTOCOL
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()  # the only way some backends say it; never stored
        if "certificate" in text or "ssl" in text or "tls" in text:
            return TLS
        if "refused" in text:
            return REFUSED
        if "unreachable" in text:
            return UNREACHABLE
    return NETWORK


def smtp_code(code: int | None) -> str:
    return f"smtp_{code}" if code else "smtp_error"
