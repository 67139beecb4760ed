"""Notifications: the outcome of each delivery."""

from typing import Annotated, Literal

from pydantic import StringConstraints

from shared.events.base import MAX_URL, Count, EventId, EventTypeName, Payload, Text

# A staff id, or "unit:" and a unit id (services/notifications/domain.py): an Identifier
# and the prefix.
RecipientId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64 + len("unit:"),
                           pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
# An email address or a webhook URL, whichever the channel uses (or "unknown").
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL)]


class _Delivery(Payload):
    delivery_id: EventId
    notified_event_id: EventId
    notified_event_type: EventTypeName
    recipient_id: RecipientId
    channel: Literal["email", "webhook"]
    address: Address
    attempts: Count


class NotificationSent(_Delivery):
    event_type = "notification.sent"


class NotificationFailed(_Delivery):
    event_type = "notification.failed"

    error: Text
