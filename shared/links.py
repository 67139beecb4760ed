"""Task links: what a mail carries so that the person it asks to act can sign in to that task.

The notifications service mints a link for each mail that asks for an action; the workspace
reads it back. Both hold the same secret (`LINK_SECRET`), which nobody else needs. A link
names its person, its task (`assignment:<nomination id>`...), its expiry and its id (the
delivery it was mailed in): the workspace accepts it once, for that person and that task.

    <base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, purpose + payload))>

(`seal`/`unseal`, which the workspace's session cookie uses too, under another purpose.)
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

PURPOSE = b"exemplars task link v1\n"  # a token minted for anything else never verifies as a link


class LinkRefused(Exception):
    """Why a link is not accepted: `reason` is `malformed`, `forged` or `expired`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class TaskLink:
    link_id: str
    person: str
    task: str
    expires: dt.datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(secret: bytes, purpose: bytes, fields: dict) -> str:
    """`fields` as a compact token only `secret` could have made, for `purpose` alone (the
    workspace's session cookies are sealed here too, under a purpose of their own)."""
    payload = json.dumps(fields, separators=(",", ":")).encode("utf-8")
    mac = hmac.new(secret, purpose + payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def unseal(secret: bytes, purpose: bytes, token: str) -> dict:
    """The fields `seal` put in `token`, or LinkRefused (`forged`, `malformed`)."""
    try:
        encoded, _, mac = token.strip().partition(".")
        payload, given = _unb64(encoded), _unb64(mac)
    except (ValueError, UnicodeEncodeError) as exc:
        raise LinkRefused("malformed") from exc
    if not hmac.compare_digest(given, hmac.new(secret, purpose + payload, hashlib.sha256).digest()):
        raise LinkRefused("forged")
    try:
        fields = json.loads(payload)
    except ValueError as exc:
        raise LinkRefused("malformed") from exc
    if not isinstance(fields, dict):
        raise LinkRefused("malformed")
    return fields


def mint(secret: bytes, link: TaskLink) -> str:
    return seal(secret, PURPOSE, {"i": link.link_id, "p": link.person, "t": link.task,
                                  "e": int(link.expires.timestamp())})


def read(secret: bytes, token: str, now: dt.datetime) -> TaskLink:
    """The link `token` stands for, or LinkRefused."""
    fields = unseal(secret, PURPOSE, token)
    try:
        link = TaskLink(str(fields["i"]), str(fields["p"]), str(fields["t"]),
                        dt.datetime.fromtimestamp(int(fields["e"]), dt.UTC))
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise LinkRefused("malformed") from exc
    if link.expires <= now:
        raise LinkRefused("expired")
    return link


def assignment_task(nomination_id: str) -> str:
    return f"assignment:{nomination_id}"


def council_task(year: int, field: str) -> str:
    """The council's decision pack of a year and field: what the completion mail asks to act on."""
    return f"council:{year}:{field}"


def council_pack(task: str) -> tuple[int, str] | None:
    """(year, field) of a `council_task`, or None."""
    kind, _, rest = task.partition(":")
    year, _, field = rest.partition(":")
    return (int(year), field) if kind == "council" and year.isdigit() and field else None


NOMINATE_TASK = "nominate"  # a unit's nomination form


def feedback_task(nomination_id: str) -> str:
    """A unit's page of one nomination: the council's decision and the panel's feedback."""
    return f"feedback:{nomination_id}"
