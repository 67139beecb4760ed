"""What one delivery says: the directory it needs, its recipient as the directory knows them
now, and its rendered text. Pure; the worker sends with it, and a rebuild renders with it
the subject the worker stored."""

from dataclasses import replace

from services.notifications import domain, rendering
from services.notifications.domain import DirectoryView, Needs, Recipient
from services.notifications.routing import Route
from shared.envelope import Event


def needs_of(route: Route, event: Event, delivery: dict) -> Needs:
    """What the directory must show to send `delivery`: the route's needs and the recipient's
    current record, whatever the route selected them by."""
    needs = domain.needs(route, event.data)
    if delivery["recipient_kind"] == "unit":
        return replace(needs, unit_ids=needs.unit_ids | {delivery["unit_id"]})
    return replace(needs, staff_ids=needs.staff_ids | {delivery["recipient_id"]})


def recipient_of(delivery: dict, view: DirectoryView) -> Recipient:
    """The recipient as the directory knows them now (their name may have been unknown)."""
    recipient_id = delivery["recipient_id"]
    staff = view.staff.get(recipient_id)
    unit = view.units.get(recipient_id.removeprefix(domain.UNIT_RECIPIENT_PREFIX))
    if delivery["recipient_kind"] == "unit" and unit is not None:
        name, email, hook = unit.name, unit.email, unit.webhook_url
    elif staff is not None:
        name, email, hook = staff.full_name, staff.email, staff.webhook_url
    else:
        name, email, hook = delivery["recipient_name"], None, None
    return Recipient(recipient_id, delivery["recipient_kind"], name, delivery.get("unit_id"), email, hook,
                     delivery["template"], delivery.get("publicity", False))


def render(delivery: dict, event: Event, view: DirectoryView, sender_name: str,
           action_url: str | None = None) -> tuple[Recipient, rendering.Rendered]:
    """`action_url`: where the recipient does what the mail asks (services/notifications/actions.py)."""
    recipient = recipient_of(delivery, view)
    context = {**domain.render_context(event, recipient, view, sender_name), "action_url": action_url}
    return recipient, rendering.render(recipient.template, context)


def subject(delivery: dict, event: Event, view: DirectoryView, sender_name: str) -> str:
    """What `render` gives as the subject, without rendering the body."""
    recipient = recipient_of(delivery, view)
    return rendering.render_subject(recipient.template, domain.render_context(event, recipient, view, sender_name))
