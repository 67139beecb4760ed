"""Templates: every route renders in Vietnamese, text and HTML, and no event text can inject."""

import datetime as dt
import re
import unicodedata

import pytest
from jinja2 import UndefinedError

from services.notifications import domain, rendering
from services.notifications.routing import default_routes
from services.notifications.samples import NOMINATION, TODAY, sample_directory, sample_payloads
from shared.envelope import new_event

SENDER = "Hệ thống theo dõi điển hình tiên tiến"


def render_all(payload, view=None):
    """(recipient, rendered) for everyone the route selects."""
    view = view or sample_directory()
    event = new_event(payload, key="k", source="test")
    found = domain.resolve_recipients(default_routes()[payload.event_type], payload, view, TODAY)
    return [(r, rendering.render(r.template, domain.render_context(event, r, view, SENDER))) for r in found]


# The quiet routes (evaluation.score_recorded, evaluation.comment_recorded) mail nobody.
CASES = [(event_type, payload) for event_type, payload in sorted(sample_payloads().items())
         if default_routes()[event_type].rules]


@pytest.mark.parametrize(("event_type", "payload"), CASES, ids=[c[0] for c in CASES])
def test_every_route_renders_text_and_html(event_type, payload):
    rendered = render_all(payload)
    assert rendered, f"{event_type} reaches somebody in the sample directory"
    for recipient, out in rendered:
        assert out.subject and "\n" not in out.subject and len(out.subject) <= rendering.SUBJECT_MAX
        for part in (out.text, out.html):
            assert recipient.name in part
            assert "Trân trọng" in part and SENDER in part
            assert "{{" not in part and "{%" not in part and "None" not in part
            assert unicodedata.is_normalized("NFC", part)
        greeting = "Kính gửi:" if recipient.kind == "unit" else "Kính gửi đồng chí"
        assert out.text.startswith(greeting)
        assert out.html.startswith("<!DOCTYPE html>") and '<html lang="vi">' in out.html
        assert f"<title>{out.subject}</title>" in out.html or "&" in out.subject
        assert "\n\n\n" not in out.text


@pytest.mark.parametrize(("event_type", "payload"), CASES, ids=[c[0] for c in CASES])
def test_the_subject_alone_is_the_rendered_subject(event_type, payload):
    view = sample_directory()
    event = new_event(payload, key="k", source="test")
    for recipient in domain.resolve_recipients(default_routes()[event_type], payload, view, TODAY):
        context = domain.render_context(event, recipient, view, SENDER)
        assert rendering.render_subject(recipient.template, context) == rendering.render(recipient.template,
                                                                                          context).subject


def text_for(event_type, recipient_id=None, payload=None, view=None):
    payload = payload or sample_payloads()[event_type]
    for recipient, out in render_all(payload, view):
        if recipient_id is None or recipient.id == recipient_id:
            return out
    raise AssertionError(f"{recipient_id} not a recipient of {event_type}")


def test_panel_assignment_says_what_to_do_and_by_when():
    out = text_for("evaluation.panel_assigned", "S-EV-1")
    assert out.subject == ("Phân công chấm điểm hồ sơ điển hình tiên tiến: Mô hình số hóa bản đồ địa chính "
                           "dùng chung – hạn 30/06/2025")
    assert "Kính gửi đồng chí Đặng Ngọc Ánh," in out.text
    assert "Việc cần làm: Nghiên cứu hồ sơ và gửi phiếu chấm điểm" in out.text
    assert "Thời hạn: 30/06/2025" in out.text
    assert "Lĩnh vực: Đo đạc và bản đồ" in out.text
    assert "<strong>Thời hạn:</strong> 30/06/2025" in out.html


def test_reminder_and_overdue_wording():
    reminder = text_for("evaluation.reminder")
    assert reminder.subject.startswith("Nhắc việc: còn 7 ngày để chấm điểm hồ sơ")
    last_day = sample_payloads()["evaluation.reminder"].model_copy(update={"days_left": 0})
    assert "hôm nay là hạn chấm điểm" in text_for("evaluation.reminder", payload=last_day).subject
    overdue = text_for("evaluation.overdue")
    assert "quá hạn 2 ngày" in overdue.subject and "Thời hạn: Ngay khi nhận được thư này" in overdue.text


def test_completed_shows_score_outcome_and_breakdown_in_vietnamese_numbers():
    out = text_for("evaluation.completed")
    assert out.subject.endswith("76,5 điểm – Đề nghị công nhận")
    assert "Hiệu quả: 25,5/30" in out.text and "Điều kiện ho_so_day_du: Đạt" in out.text
    assert "chênh lệch" not in out.text
    divergent = sample_payloads()["evaluation.completed"].model_copy(update={"divergent": True, "spread": 27.0})
    assert "chênh lệch 27 điểm" in text_for("evaluation.completed", payload=divergent).text


def test_rejection_lists_every_reason():
    out = text_for("nomination.rejected", "S-SUB-CDC")
    assert "- Đơn vị đã đủ 2 hồ sơ được tiếp nhận trong năm 2024." in out.text
    assert "- Người gửi không thuộc đơn vị đề xuất." in out.text
    assert out.html.count("Người gửi không thuộc đơn vị đề xuất.") == 1


def test_unit_and_staff_names_replace_ids():
    out = text_for("exemplar.replicated", "S-LEAD-CDC")
    assert "Cục Quản lý tài nguyên nước đã áp dụng mô hình" in out.text
    assert "Cục Đo đạc, Bản đồ và Thông tin địa lý Việt Nam" in out.text
    assert "Người gửi hồ sơ: Lê Quang Đức" in text_for("nomination.accepted", "S-TD-CDC").text


def test_recognition_news_and_publicity_differ():
    news = text_for("exemplar.recognized", "S-TD-CDC")
    publicity = text_for("exemplar.recognized", "S-TD-TNN")
    assert news.subject == "Chúc mừng: Phòng Dữ liệu nền được công nhận điển hình tiên tiến cấp Bộ"
    assert publicity.subject.startswith("Điển hình tiên tiến mới: Phòng Dữ liệu nền")
    assert "nhân rộng" in publicity.text and "123/QĐ-BNNMT" in publicity.text


def test_cancelled_uses_the_remembered_title():
    out = text_for("evaluation.cancelled", "S-EV-1")
    assert out.subject == "Dừng đánh giá hồ sơ: Mô hình số hóa bản đồ địa chính dùng chung"
    view = sample_directory()
    view.nominations[NOMINATION] = domain.NominationView(NOMINATION, panel=frozenset({"S-EV-1"}))
    assert text_for("evaluation.cancelled", "S-EV-1", view=view).subject == f"Dừng đánh giá hồ sơ: {NOMINATION}"


def test_free_text_keeps_its_lines_in_both_parts():
    out = text_for("exemplar.support_needed", "S-VP")
    assert "Thiếu nhân lực kỹ thuật.\nMáy chủ xuống cấp." in out.text
    assert "Thiếu nhân lực kỹ thuật.<br>\nMáy chủ xuống cấp." in out.html
    assert "do xu hướng đang suy giảm" in out.text


# ---- injection -------------------------------------------------------------------------------

HOSTILE = 'Mô hình <script>alert("x")</script>\r\nBcc: attacker@evil.example\r\n\r\n<b>giả mạo</b> \u202egnp.exe'


def test_markup_in_event_text_is_escaped_in_html():
    payload = sample_payloads()["exemplar.recognized"].model_copy(
        update={"title": HOSTILE, "nominee_name": "<img src=x onerror=alert(1)>"})
    for _, out in render_all(payload):
        assert "<script>" not in out.html and "<img" not in out.html and "<b>giả mạo</b>" not in out.html
        assert "&lt;script&gt;" in out.html and "&lt;img src=x onerror=alert(1)&gt;" in out.html
        assert "<script>" in out.text  # plain text shows it as text, harmlessly


def test_crlf_and_bidi_cannot_reach_the_subject():
    payload = sample_payloads()["evaluation.panel_assigned"].model_copy(update={"title": HOSTILE})
    for _, out in render_all(payload):
        assert "\r" not in out.subject and "\n" not in out.subject
        assert "\u202e" not in out.subject + out.text + out.html
        assert "\r" not in out.text
        assert "Bcc: attacker@evil.example" in out.subject  # inert text on the one subject line


def test_recipient_names_are_cleaned_too():
    view = sample_directory()
    view.staff["S-EV-2"] = domain.StaffView("S-EV-2", "U-KTTV", "Bình\r\nX-Evil: 1 <i>", "binh@example.vn")
    out = text_for("evaluation.reminder", "S-EV-2", view=view)
    assert "Kính gửi đồng chí Bình\nX-Evil: 1 <i>," in out.text
    assert "Bình<br>\nX-Evil: 1 &lt;i&gt;" in out.html or "Bình\nX-Evil: 1 &lt;i&gt;" in out.html


def test_decomposed_vietnamese_is_normalised():
    decomposed = unicodedata.normalize("NFD", "Mô hình quản lý đất đai")
    payload = sample_payloads()["evaluation.reminder"].model_copy(update={"title": decomposed})
    out = text_for("evaluation.reminder", payload=payload)
    assert "Mô hình quản lý đất đai" in out.subject and unicodedata.is_normalized("NFC", out.subject)


def test_long_subject_is_cut_with_an_ellipsis():
    payload = sample_payloads()["evaluation.reminder"].model_copy(update={"title": "Mô hình " * 80})
    subject = text_for("evaluation.reminder", payload=payload).subject
    assert len(subject) == rendering.SUBJECT_MAX and subject.endswith("…")


# ---- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [(76.5, "76,5"), (70.0, "70"), (3, "3"), (12.25, "12,25"), (None, "")])
def test_vietnamese_numbers(value, text):
    assert rendering.vi_number(value) == text


def test_vietnamese_dates_and_names():
    assert rendering.vi_date(dt.date(2025, 3, 1)) == "01/03/2025"
    assert rendering.vi_name("evaluation.conflict_declared") == "khai báo xung đột lợi ích"


def test_one_line_collapses_every_line_break():
    assert rendering.one_line("a\r\nb\u2028c\x85d\te\x0bf") == "a b c d e f"


def test_a_misspelt_variable_fails_loudly():
    with pytest.raises(UndefinedError):
        rendering.render("nomination_accepted", {"d": {}, "recipient": {"kind": "staff", "name": "A"}})


def test_subject_block_has_no_markup():
    for event_type in sample_payloads():
        for _, out in render_all(sample_payloads()[event_type]):
            assert not re.search(r"<[a-z/]", out.subject)
