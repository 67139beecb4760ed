"""shared/links.py: the task links mails carry, and what the notifications service puts in them."""

import datetime as dt
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from services.notifications.actions import ActionLinks
from services.notifications.rendering import render
from shared import links
from shared.links import LinkRefused, TaskLink

SECRET = b"x" * 48
NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
LINK = TaskLink("delivery-1", "QLDD-03", "assignment:NOM-1", NOW + dt.timedelta(days=14))


def test_a_link_reads_back_as_minted():
    assert links.read(SECRET, links.mint(SECRET, LINK), NOW) == LINK


@pytest.mark.parametrize("why, token, reason", [
    ("another secret", links.mint(b"y" * 48, LINK), "forged"),
    ("a changed person", None, "forged"),
    ("not a link at all", "abc", "forged"),
    ("garbage", "!!!.???", "forged"),  # what does not decode has no valid MAC either
])
def test_what_was_not_minted_with_our_secret_is_refused(why, token, reason):
    if token is None:  # the payload of another person's link under this link's MAC
        other = links.mint(SECRET, TaskLink("delivery-1", "QLDD-04", "assignment:NOM-1", LINK.expires))
        token = other.split(".")[0] + "." + links.mint(SECRET, LINK).split(".")[1]
    with pytest.raises(LinkRefused) as refused:
        links.read(SECRET, token, NOW)
    assert refused.value.reason == reason, why


def test_an_expired_link_is_refused():
    with pytest.raises(LinkRefused, match="expired"):
        links.read(SECRET, links.mint(SECRET, LINK), LINK.expires)


def test_a_session_cookie_is_no_link():
    from services.workspace import domain

    cookie = domain.seal(SECRET, domain.Session("QLDD-03", NOW + dt.timedelta(hours=1), "c"))
    with pytest.raises(LinkRefused):
        links.read(SECRET, cookie, NOW)  # another purpose: never accepted for a link


def settings(**changes):
    return SimpleNamespace(**{"workspace_url": "https://workspace.example.gov.vn/", "link_secret": SecretStr("x" * 48),
                              "link_days": 14.0, **changes})


def delivery(template: str, kind: str = "staff") -> dict:
    return {"_id": "d-1", "template": template, "recipient_kind": kind, "recipient_id": "QLDD-03"}


EVENT = SimpleNamespace(data=SimpleNamespace(nomination_id="NOM-1"))


def test_mails_that_ask_an_evaluator_to_act_link_to_that_task_signed_in_as_them():
    maker = ActionLinks.from_settings(settings())
    url = maker.for_delivery(delivery("panel_assigned"), EVENT, NOW)
    assert url.startswith("https://workspace.example.gov.vn/signin?t=")
    link = links.read(b"x" * 48, url.split("t=", 1)[1], NOW)
    assert (link.person, link.task, link.link_id) == ("QLDD-03", "assignment:NOM-1", "d-1")
    assert link.expires == NOW + dt.timedelta(days=14)
    for template in ("evaluation_reminder", "evaluation_overdue", "evaluator_replacement", "discussion_opened"):
        assert maker.for_delivery(delivery(template), EVENT, NOW)
    completed = SimpleNamespace(data=SimpleNamespace(nomination_id="NOM-1", year=2026, field="land"))
    council = links.read(b"x" * 48, maker.for_delivery(delivery("evaluation_completed"), completed, NOW).split("t=")[1], NOW)
    assert council.task == "council:2026:land" and links.council_pack(council.task) == (2026, "land")
    feedback = links.read(b"x" * 48, maker.for_delivery(delivery("exemplar_not_recognized"), EVENT, NOW)
                          .split("t=")[1], NOW)
    assert feedback.task == "feedback:NOM-1"
    shortfall = SimpleNamespace(data=SimpleNamespace(unit_id="QLDD", year=2026))
    assert links.read(b"x" * 48, maker.for_delivery(delivery("quota_shortfall"), shortfall, NOW).split("t=")[1],
                      NOW).task == links.NOMINATE_TASK
    assert maker.for_delivery(delivery("evaluation_cancelled"), EVENT, NOW) is None  # asks nothing
    assert maker.for_delivery(delivery("panel_assigned", kind="unit"), EVENT, NOW) is None
    assert ActionLinks.from_settings(settings(workspace_url=None)) is None


def test_the_link_is_in_both_parts_of_the_mail_and_escaped_in_html():
    context = {"d": SimpleNamespace(title="Mô hình", deadline=dt.date(2026, 12, 31), unit_id="QLDD", year=2026,
                                    field="land", nominee_kind="collective", evaluators=["QLDD-03"],
                                    nomination_id="NOM-1", criteria=SimpleNamespace(set_id="land.collective", version=1)),
               "recipient": {"id": "QLDD-03", "kind": "staff", "name": "Nguyễn Văn An"}, "names": {},
               "nomination_title": None, "sender_name": "Hệ thống", "event": {"id": "e", "type": "t", "time": NOW},
               "action_url": "https://workspace.example.gov.vn/signin?t=a.b&x=1"}
    rendered = render("panel_assigned", context)
    assert "Mở việc cần làm: https://workspace.example.gov.vn/signin?t=a.b&x=1" in rendered.text
    assert 'href="https://workspace.example.gov.vn/signin?t=a.b&amp;x=1"' in rendered.html
