"""Email and webhook messages for one delivery. Pure: no I/O.

Headers are built only through the standard library's header registry (`EmailMessage`
with the default policy), which encodes non-ASCII subjects and names as RFC 2047 words and
refuses CR/LF in any header value; the rendering step has already put the subject on one
line, so an event can neither add a header nor break one.
"""

import datetime as dt
import hashlib
import hmac
import json
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime

from services.notifications.rendering import Rendered, one_line
from shared.envelope import Event

SIGNATURE_HEADER = "X-Exemplars-Signature"
TIMESTAMP_HEADER = "X-Exemplars-Timestamp"
DELIVERY_HEADER = "X-Exemplars-Delivery"
EVENT_TYPE_HEADER = "X-Exemplars-Event-Type"
NAME_MAX = 120


class _Policy(EmailPolicy):
    """`email.policy.default`, except that a non-ASCII Subject is folded by the stdlib's
    `email.header.Header` encoder. The default folder (CPython 3.11-3.13) can leave the
    space between two words outside the encoded words, where RFC 2047 decoders drop it:
    "bản đồ địa chính" arrived as "bản đồđịa chính"."""

    def header_store_parse(self, name: str, value):
        # The registry's parse of a plain ASCII header is most of the cost of a mail; these
        # carry machine values that need no structure. Line breaks stay refused.
        if name.lower() in _PLAIN and isinstance(value, str) and value.isascii() and not _breaks(value):
            return name, value
        return super().header_store_parse(name, value)

    def fold(self, name: str, value) -> str:
        return self._fold_own(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value) -> bytes:
        folded = self._fold_own(name, value)
        return folded.encode("ascii") if folded else super().fold_binary(name, value)

    def _fold_own(self, name: str, value) -> str | None:
        # The registry's folder re-parses each header it folds: ~2.5 ms for each of From, To
        # and a long Content-Type, most of the CPU a delivery cost.
        return self._fold_short(name, value) or self._fold_subject(name, value) or self._fold_address(name, value)

    def _fold_short(self, name: str, value) -> str | None:
        """An ASCII header that fits on its line needs no folding (the registry's folder
        parses it again to find that out)."""
        text = str(value)
        line = f"{name}: {text}{self.linesep}"
        if text.isascii() and not _breaks(text) and len(line) - len(self.linesep) <= (self.max_line_length or 78):
            return line
        return None

    def _fold_subject(self, name: str, value) -> str | None:
        text = str(value)
        if name.lower() != "subject" or text.isascii():
            return None
        encoded = Header(text, "utf-8", header_name=name).encode(linesep=self.linesep,
                                                                  maxlinelen=self.max_line_length or 78)
        return f"{name}: {encoded}{self.linesep}"


    def _fold_address(self, name: str, value) -> str | None:
        """From and To as this service writes them, one mailbox with a Vietnamese name: the
        name as encoded words, the address (ASCII) after it."""
        addresses = getattr(value, "addresses", ())
        if name.lower() not in ("from", "to") or len(addresses) != 1:
            return None
        address = addresses[0]
        if address.display_name.isascii() or not address.addr_spec.isascii() or _breaks(address.addr_spec):
            return None
        limit = self.max_line_length or 78
        words = Header(address.display_name, "utf-8", header_name=name).encode(linesep=self.linesep, maxlinelen=limit)
        mailbox = f"<{address.addr_spec}>"
        last = words.rsplit(self.linesep, 1)[-1]
        fits = len(last) + 1 + len(mailbox) <= limit - (len(name) + 2 if last == words else 0)
        return f"{name}: {words}{' ' if fits else self.linesep + ' '}{mailbox}{self.linesep}"


# Headers whose values are ids, dates and keywords the service writes itself.
_PLAIN = frozenset({"date", "message-id", "auto-submitted", "x-auto-response-suppress", "content-language",
                    DELIVERY_HEADER.lower(), "x-exemplars-event-id", EVENT_TYPE_HEADER.lower()})


def _breaks(text: str) -> bool:
    return any(c in text for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


POLICY = _Policy()


def message_id(delivery_id: str, domain: str) -> str:
    """The Message-ID is the delivery id, so a resent copy can be recognised as the same mail."""
    return f"<{delivery_id}@{domain}>"


def build_email(rendered: Rendered, *, delivery_id: str, event: Event, sender_address: str, sender_name: str,
                to_address: str, to_name: str, domain: str, now: dt.datetime) -> EmailMessage:
    """multipart/alternative: UTF-8 text first, then HTML (clients show the last they can)."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = one_line(rendered.subject)
    msg["From"] = Address(display_name=one_line(sender_name, NAME_MAX), addr_spec=sender_address)
    msg["To"] = Address(display_name=one_line(to_name, NAME_MAX), addr_spec=to_address)
    msg["Date"] = format_datetime(now.astimezone(dt.UTC))
    msg["Message-ID"] = message_id(delivery_id, domain)
    # RFC 3834: auto-generated, so vacation responders and ticket systems do not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[DELIVERY_HEADER] = delivery_id
    msg["X-Exemplars-Event-Id"] = one_line(event.id, 200)
    msg[EVENT_TYPE_HEADER] = event.type
    # quoted-printable keeps the mail 7-bit clean for relays without 8BITMIME, and readable.
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg["Content-Language"] = "vi"  # after set_content, which drops Content-* headers
    # Short enough for Content-Type to fit on its line; "=_" never occurs in quoted-printable
    # text, and one delivery's resends are byte for byte the same mail.
    msg.set_boundary("=_" + hashlib.sha256(delivery_id.encode()).hexdigest()[:24])
    return msg


def wire_bytes(message: EmailMessage) -> bytes:
    """The mail as SMTP carries it: folded by its own policy, with CRLF line ends. (aiosmtplib's
    `send_message` would fold it again with `email.policy.SMTP`, whose folder drops spaces
    between the words of a long Vietnamese subject: see `_Policy`.)"""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


# ---- webhook -------------------------------------------------------------------------------


def webhook_body(rendered: Rendered, *, delivery_id: str, event: Event, recipient_id: str,
                 recipient_kind: str) -> bytes:
    """The JSON a webhook receives: the notification as people read it, plus the event's data
    so a unit's system can act on it. Byte-exact: the signature covers these bytes."""
    body = {
        "delivery_id": delivery_id,
        "recipient": {"id": recipient_id, "kind": recipient_kind},
        "event": {
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "time": event.time.isoformat().replace("+00:00", "Z"),
            "subject": event.subject,
            "data": event.data.model_dump(mode="json", exclude_none=True),
        },
        "notification": {"subject": rendered.subject, "text": rendered.text, "html": rendered.html},
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": the timestamp is signed so a captured request
    cannot be replayed later with a fresh one."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_headers(secret: str, body: bytes, *, delivery_id: str, event_type: str, now: dt.datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "exemplars-notifications/1",
        DELIVERY_HEADER: delivery_id,  # receivers deduplicate retries on it
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def verify_signature(secret: str, body: bytes, timestamp: str, signature: str, *, now: dt.datetime,
                     tolerance_seconds: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - stamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)
