"""Render every route for the sample directory, so a person can read what staff will get.

    python -m services.notifications.preview [folder]   (default .local/notifications-preview)

Writes one .eml (open it in a mail client) and one .html per template and recipient kind.
"""

import datetime as dt
import sys
from pathlib import Path

from services.notifications import domain, messages, rendering
from services.notifications.routing import default_routes
from services.notifications.samples import TODAY, sample_directory, sample_payloads
from shared.envelope import new_event

SENDER = "Hệ thống theo dõi điển hình tiên tiến"


def write_previews(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    view, written, seen = sample_directory(), [], set()
    now = dt.datetime.now(dt.UTC)
    for event_type, payload in sorted(sample_payloads().items()):
        event = new_event(payload, key=event_type, source="preview")
        for recipient in domain.resolve_recipients(default_routes()[event_type], payload, view, TODAY):
            if (recipient.template, recipient.kind) in seen or not recipient.email:
                continue
            seen.add((recipient.template, recipient.kind))
            out = rendering.render(recipient.template, domain.render_context(event, recipient, view, SENDER))
            delivery = domain.delivery_id(event.dedup_key, recipient.id, domain.Channel.EMAIL)
            mail = messages.build_email(out, delivery_id=delivery, event=event,
                                        sender_address="khong-tra-loi@exemplars.local",
                                        sender_name=SENDER, to_address=recipient.email, to_name=recipient.name,
                                        domain="exemplars.local", now=now)
            eml, html = (folder / f"{recipient.template}.{recipient.kind}{ext}" for ext in (".eml", ".html"))
            eml.write_bytes(mail.as_bytes())
            html.write_text(out.html, encoding="utf-8")
            written += [eml, html]
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".local/notifications-preview")
    files = write_previews(target)
    print(f"{len(files)} files in {target}")
