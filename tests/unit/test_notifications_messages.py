"""Email and webhook messages: parsed back with the standard library, signed, injection-proof."""

import datetime as dt
import json
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

import pytest

from services.notifications import domain, messages, rendering
from services.notifications.rendering import Rendered
from services.notifications.routing import default_routes
from services.notifications.samples import sample_directory, sample_payloads
from shared.envelope import new_event

NOW = dt.datetime(2025, 6, 2, 3, 0, tzinfo=dt.UTC)
SENDER = "Hệ thống theo dõi điển hình tiên tiến"
LONG_SUBJECT = ("Nhắc việc: còn 7 ngày để chấm điểm hồ sơ Mô hình số hóa bản đồ địa chính dùng chung "
                "(hạn 30/06/2025)")


def mail(rendered: Rendered, to_name="Hoàng Văn Bình", to_address="binh.hv@example.vn", event=None):
    event = event or new_event(sample_payloads()["evaluation.reminder"], key="NOM", source="evaluations")
    delivery = domain.delivery_id(event.dedup_key, "S-EV-2", "email")
    msg = messages.build_email(rendered, delivery_id=delivery, event=event, sender_address="noreply@exemplars.local",
                               sender_name=SENDER, to_address=to_address, to_name=to_name,
                               domain="exemplars.local", now=NOW)
    return delivery, msg


def parse(msg):
    # As it goes over SMTP: CRLF line ends.
    return BytesParser(policy=policy.default).parsebytes(messages.wire_bytes(msg))


def body(parsed, kind: str) -> str:
    return parsed.get_body((kind,)).get_content().replace("\r\n", "\n")


def real(event_type="evaluation.reminder", recipient_id=None):
    view, payload = sample_directory(), sample_payloads()[event_type]
    event = new_event(payload, key="k", source="evaluations")
    for recipient in domain.resolve_recipients(default_routes()[event_type], payload, view, dt.date(2025, 6, 2)):
        if recipient_id in (None, recipient.id):
            return event, recipient, rendering.render(recipient.template,
                                                      domain.render_context(event, recipient, view, SENDER))
    raise AssertionError(recipient_id)


def test_email_parses_back_with_vietnamese_intact():
    event, recipient, rendered = real("evaluation.reminder")
    delivery, msg = mail(rendered, recipient.name, recipient.email, event)
    back = parse(msg)
    assert back["Subject"] == rendered.subject
    assert back["Subject"].startswith("Nhắc việc: còn 7 ngày để chấm điểm hồ sơ Mô hình số hóa bản đồ địa chính")
    assert back["To"].addresses[0].display_name == "Hoàng Văn Bình"
    assert back["To"].addresses[0].addr_spec == "binh.hv@example.vn"
    assert back["From"].addresses[0].addr_spec == "noreply@exemplars.local"
    assert back["Message-ID"] == f"<{delivery}@exemplars.local>"
    assert back["Auto-Submitted"] == "auto-generated"
    assert back["X-Exemplars-Event-Type"] == "evaluation.reminder"
    assert back.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in back.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert body(back, "plain") == rendered.text
    assert body(back, "html") == rendered.html
    assert "Kính gửi đồng chí Hoàng Văn Bình," in body(back, "plain")


def test_raw_mail_is_seven_bit_and_subject_is_rfc2047():
    _, msg = mail(Rendered(LONG_SUBJECT, "Nội dung\n", "<p>Nội dung</p>\n"))
    raw = messages.wire_bytes(msg)
    assert raw.isascii(), "no 8-bit bytes: relays without 8BITMIME accept it"
    assert b"Subject: =?utf-8?" in raw
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")), "folded within the line limit"
    # Decoded by the legacy decoder too, as other clients would: spaces between words survive.
    header = raw.split(b"\r\n\r\n")[0].decode().replace("\r\n", "")
    subject = header.split("Subject: ")[1].split("From:")[0]
    assert str(make_header(decode_header(subject))) == LONG_SUBJECT
    assert parse(msg)["Subject"] == LONG_SUBJECT


@pytest.mark.parametrize("subject", ["Hồ sơ " * 30, "a " * 60 + "đ", "Điều kiện: Đạt", "ASCII only subject", "ễ" * 70])
def test_subjects_of_any_shape_round_trip(subject):
    _, msg = mail(Rendered(subject.strip(), "x\n", "<p>x</p>\n"))
    assert parse(msg)["Subject"] == subject.strip()


def test_long_unit_names_are_encoded_correctly():
    name = "Cục Đo đạc, Bản đồ và Thông tin địa lý Việt Nam"
    _, msg = mail(Rendered("Chủ đề", "x\n", "<p>x</p>\n"), to_name=name, to_address="vanthu.cdc@example.vn")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")).decode()
    to_header = raw.split("\r\nTo: ")[1].split("\r\nDate:")[0].replace("\r\n", "")
    # The stdlib's modern parser inserts spaces between encoded words of a phrase; the RFC 2047
    # decoding (as mail clients do it) gives the exact name back.
    assert str(make_header(decode_header(to_header))) == f"{name} <vanthu.cdc@example.vn>"


def test_every_template_builds_a_parseable_mail():
    view = sample_directory()
    for event_type, payload in sample_payloads().items():
        event = new_event(payload, key="k", source="test")
        for recipient in domain.resolve_recipients(default_routes()[event_type], payload, view, dt.date(2025, 6, 2)):
            if not recipient.email:
                continue
            rendered = rendering.render(recipient.template, domain.render_context(event, recipient, view, SENDER))
            back = parse(mail(rendered, recipient.name, recipient.email, event)[1])
            assert back["Subject"] == rendered.subject, event_type
            assert body(back, "plain") == rendered.text and body(back, "html") == rendered.html


# ---- header injection ----------------------------------------------------------------------


def test_names_cannot_add_headers():
    evil = "Bình\r\nBcc: attacker@evil.example\r\nX-Injected: 1"
    _, msg = mail(Rendered("Chủ đề", "x\n", "<p>x</p>\n"), to_name=evil)
    back = parse(msg)
    assert back["Bcc"] is None and back["X-Injected"] is None
    assert len(back["To"].addresses) == 1 and back["To"].addresses[0].addr_spec == "binh.hv@example.vn"


def test_subjects_cannot_add_headers():
    payload = sample_payloads()["evaluation.reminder"].model_copy(
        update={"title": "Mô hình\r\nBcc: attacker@evil.example\nX-Injected: 1\u2028Cc: x@evil.example"})
    event = new_event(payload, key="k", source="evaluations")
    view = sample_directory()
    recipient = domain.resolve_recipients(
        default_routes()["evaluation.reminder"],
        payload, view, dt.date(2025, 6, 2))[0]
    rendered = rendering.render(recipient.template, domain.render_context(event, recipient, view, SENDER))
    back = parse(mail(rendered, recipient.name, recipient.email, event)[1])
    assert back["Bcc"] is None and back["Cc"] is None and back["X-Injected"] is None
    assert "Bcc: attacker@evil.example" in back["Subject"]
    assert [a.addr_spec for a in back["To"].addresses] == ["binh.hv@example.vn"]


def test_a_raw_subject_with_a_newline_is_refused_or_flattened():
    _, msg = mail(Rendered("Một\r\nBcc: x@evil.example", "x\n", "<p>x</p>\n"))
    back = parse(msg)
    assert back["Bcc"] is None and back["Subject"] == "Một Bcc: x@evil.example"


@pytest.mark.parametrize("value", ["id\r\nBcc: x@evil.example", "id\nBcc: x@evil.example", "id\u2028Bcc: x"])
def test_the_plain_headers_refuse_line_breaks_too(value):
    """The headers spared the registry's parse (messages._PLAIN) keep its refusal of breaks."""
    _, msg = mail(Rendered("Chủ đề", "x\n", "<p>x</p>\n"))
    with pytest.raises(ValueError):
        msg[messages.DELIVERY_HEADER] = value


def test_plain_and_registry_headers_come_out_the_same():
    """The short paths write, byte for byte, what the standard library's folder writes."""
    event, recipient, rendered = real("evaluation.reminder")
    _, msg = mail(rendered, recipient.name, recipient.email, event)
    fast = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    slow = msg.as_bytes(policy=policy.default.clone(linesep="\r\n"))
    fast_headers, slow_headers = fast.split(b"\r\n\r\n")[0], slow.split(b"\r\n\r\n")[0]
    # Subject, From and To are encoded by `email.header` on purpose (see messages._Policy): read
    # as RFC 2047 says, they say the same; every other header is the same bytes.
    own = (b"Subject:", b"From:", b"To:")
    strip = lambda raw: [h for h in raw.replace(b"\r\n ", b" ").split(b"\r\n") if not h.startswith(own)]
    assert strip(fast_headers) == strip(slow_headers)
    for name in ("From", "To"):
        assert rfc2047(fast, name) == rfc2047(slow, name)
    assert rfc2047(fast, "From") == (SENDER, "<noreply@exemplars.local>")
    assert rfc2047(fast, "Subject") == (rendered.subject, "")  # the standard folder drops a space


def rfc2047(raw: bytes, name: str) -> tuple[str, str]:
    """A header's text as an RFC 2047 decoder reads it (the whitespace between two encoded
    words is not text), and the mailbox after it. Python's modern parser keeps that
    whitespace inside a display name, reading "tiên ti ến" for any name folded mid-word,
    whoever folded it."""
    headers = raw.split(b"\r\n\r\n")[0].decode().replace("\r\n ", " ").split("\r\n")
    value = next(h for h in headers if h.startswith(f"{name}: ")).removeprefix(f"{name}: ")
    words, _, mailbox = value.rpartition(" <") if name in ("From", "To") else (value, "", "")
    return str(make_header(decode_header(words))), f"<{mailbox}" if mailbox else ""


@pytest.mark.parametrize("name", [
    "Hoàng Văn Bình",
    "Đặng Ngọc Ánh",
    "Hệ thống theo dõi điển hình tiên tiến của Bộ Nông nghiệp và Môi trường, Văn phòng Hội đồng",
    'Nguyễn "Tí" Văn, Phòng <Kế hoạch>',  # specials, which only encoded words may carry
    "Trần Thị Thủy" + " Ư" * 40,  # folds over several lines
])
def test_own_folding_of_names_is_read_back_as_written(name):
    _, msg = mail(Rendered("Thử", "x\n", "<p>x</p>\n"), to_name=name)
    raw = messages.wire_bytes(msg)
    assert raw.isascii() and all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert rfc2047(raw, "To") == (name, "<binh.hv@example.vn>")
    [address] = BytesParser(policy=policy.default).parsebytes(raw)["To"].addresses
    assert address.addr_spec == "binh.hv@example.vn"
    if b"\r\n =?" not in raw.split(b"To: ")[1].split(b"\r\nDate:")[0]:  # one encoded word: any parser
        assert address.display_name == name


def test_the_boundary_is_the_delivery_s_and_content_type_fits_on_its_line():
    event = new_event(sample_payloads()["evaluation.reminder"], key="NOM", source="evaluations")
    raws = [messages.wire_bytes(mail(Rendered("A", "x\n", "<p>x</p>\n"), event=event)[1]) for _ in range(2)]
    assert raws[0] == raws[1]  # a resend is the same mail (the Date is the build's `now`)
    content_type = next(line for line in raws[0].split(b"\r\n") if line.startswith(b"Content-Type: multipart"))
    assert len(content_type) <= 78 and b'boundary="=_' in content_type


def test_message_id_is_stable_per_delivery():
    event = new_event(sample_payloads()["evaluation.reminder"], key="NOM", source="evaluations")
    delivery, first = mail(Rendered("A", "x\n", "<p>x</p>\n"), event=event)
    _, second = mail(Rendered("B", "y\n", "<p>y</p>\n"), event=event)
    assert first["Message-ID"] == second["Message-ID"] == f"<{delivery}@exemplars.local>"


# ---- webhook -------------------------------------------------------------------------------

SECRET = "bí-mật-chung"


def webhook():
    event, recipient, rendered = real("nomination.accepted", "unit:U-CDC")
    delivery = domain.delivery_id(event.dedup_key, recipient.id, "webhook")
    raw = messages.webhook_body(rendered, delivery_id=delivery, event=event, recipient_id=recipient.id,
                                 recipient_kind=recipient.kind)
    headers = messages.webhook_headers(SECRET, raw, delivery_id=delivery, event_type=event.type, now=NOW)
    return event, delivery, raw, headers


def test_webhook_body_is_json_with_the_notification_and_the_event():
    event, delivery, raw, headers = webhook()
    doc = json.loads(raw)
    assert doc["delivery_id"] == delivery and doc["recipient"] == {"id": "unit:U-CDC", "kind": "unit"}
    assert doc["event"]["type"] == "nomination.accepted" and doc["event"]["id"] == event.id
    assert doc["event"]["data"]["title"] == "Mô hình số hóa bản đồ địa chính dùng chung"
    assert doc["notification"]["subject"].startswith("Hồ sơ đề xuất điển hình tiên tiến đã được tiếp nhận")
    assert "Mô hình số hóa" in raw.decode("utf-8"), "UTF-8, not \\u escapes"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers[messages.DELIVERY_HEADER] == delivery


def test_webhook_signature_verifies_and_detects_tampering():
    _, _, raw, headers = webhook()
    stamp, signature = headers[messages.TIMESTAMP_HEADER], headers[messages.SIGNATURE_HEADER]
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert messages.verify_signature(SECRET, raw, stamp, signature, now=NOW)
    assert not messages.verify_signature("other", raw, stamp, signature, now=NOW)
    assert not messages.verify_signature(SECRET, raw.replace(b"U-CDC", b"U-XXX"), stamp, signature, now=NOW)
    assert not messages.verify_signature(SECRET, raw, str(int(stamp) + 1), signature, now=NOW)
    assert not messages.verify_signature(SECRET, raw, stamp, signature, now=NOW + dt.timedelta(minutes=10))
    assert not messages.verify_signature(SECRET, raw, "not-a-number", signature, now=NOW)


def test_webhook_signature_matches_an_independent_computation():
    import hashlib
    import hmac

    _, _, raw, headers = webhook()
    stamp = headers[messages.TIMESTAMP_HEADER]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert headers[messages.SIGNATURE_HEADER] == f"sha256={expected}"


def test_webhook_body_is_deterministic():
    event, recipient, rendered = real("nomination.accepted", "unit:U-CDC")
    make = lambda: messages.webhook_body(rendered, delivery_id="d", event=event, recipient_id=recipient.id,  # noqa: E731
                                         recipient_kind=recipient.kind)
    assert make() == make()
