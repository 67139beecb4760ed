"""Notifications: the outcome of each delivery."""

from shared.events.base import Identifier, Payload, Text


class _Delivery(Payload):
    delivery_id: str
    notified_event_id: str
    notified_event_type: str
    recipient_id: Identifier
    channel: str  # "email" | "webhook"
    address: Text
    attempts: int


class NotificationSent(_Delivery):
    event_type = "notification.sent"


class NotificationFailed(_Delivery):
    event_type = "notification.failed"

    error: Text
