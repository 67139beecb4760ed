"""Who is told: recipients per route, the directory view, delivery ids and pacing."""

import dataclasses
import datetime as dt

import pytest

from services.notifications import domain
from services.notifications.domain import Channel, NominationView, StaffView, UnitView
from services.notifications.routing import default_routes
from services.notifications.samples import NOMINATION, TODAY, UNIT, sample_directory, sample_payloads
from shared.envelope import new_event
from shared.events import StaffRegistered, UnitRegistered
from shared.vocabulary import Role

NOW = dt.datetime(2025, 6, 2, 3, 0, tzinfo=dt.UTC)
CDC_CONTACT = "unit:U-CDC"


def recipients(event_type: str, view=None, payload=None, today=TODAY) -> list[domain.Recipient]:
    payload = payload or sample_payloads()[event_type]
    return domain.resolve_recipients(default_routes()[event_type], payload, view or sample_directory(), today)


def ids(found) -> set[str]:
    return {r.id for r in found}


EXPECTED = {
    "nomination.accepted": {"S-TD-CDC", CDC_CONTACT, "S-SUB-CDC"},
    "nomination.rejected": {"S-TD-CDC", CDC_CONTACT, "S-SUB-CDC"},
    "nomination.withdrawn": {"S-TD-CDC", CDC_CONTACT, "S-SUB-CDC"},
    "nomination.withdrawal_rejected": {"S-TD-CDC", "S-SUB-CDC"},
    "unit.quota_shortfall": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT},
    "evaluation.panel_assigned": {"S-EV-1", "S-EV-2", "S-EV-3"},
    "evaluation.panel_incomplete": {"S-VP"},
    "evaluation.evaluator_replaced": {"S-EV-4", "S-EV-1"},
    "evaluation.score_recorded": set(),  # nobody is mailed: the workspace shows it
    "evaluation.discussion_opened": {"S-EV-1", "S-EV-2", "S-EV-3"},
    "evaluation.comment_recorded": set(),
    "evaluation.reminder": {"S-EV-2"},
    "evaluation.overdue": {"S-EV-3"},
    "evaluation.completed": {"S-VP"},
    "evaluation.cancelled": {"S-EV-1", "S-EV-2", "S-EV-3"},
    "evaluation.input_rejected": {"S-EV-2"},
    # The unit itself, then every open unit's emulation officers as publicity.
    "exemplar.recognized": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT, "S-TD-TNN", "S-TD-KTTV"},
    "exemplar.not_recognized": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT},
    "exemplar.review_recorded": {"S-TD-CDC"},
    "exemplar.support_needed": {"S-LEAD-CDC", CDC_CONTACT, "S-VP"},
    "exemplar.replicated": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT},
    # Told as the recognition was: the unit, and every unit's emulation officers.
    "exemplar.revoked": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT, "S-TD-TNN", "S-TD-KTTV"},
    "exemplar.decision_corrected": {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT},
}


def test_expectations_cover_every_route():
    assert set(EXPECTED) == set(default_routes())


@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_recipients_per_route(event_type):
    found = recipients(event_type)
    assert ids(found) == EXPECTED[event_type]
    assert len(found) == len(ids(found)), "nobody twice"
    assert all(r.known for r in found)


def test_evaluator_replaced_templates_differ_per_person():
    by_id = {r.id: r.template for r in recipients("evaluation.evaluator_replaced")}
    assert by_id == {"S-EV-4": "evaluator_replacement", "S-EV-1": "evaluator_recused"}


def test_no_replacement_tells_the_ministry_office():
    payload = sample_payloads()["evaluation.evaluator_replaced"].model_copy(update={"replacement_id": None})
    by_id = {r.id: r.template for r in recipients("evaluation.evaluator_replaced", payload=payload)}
    assert by_id == {"S-EV-1": "evaluator_recused", "S-VP": "evaluator_unreplaced"}


def test_recognition_unit_gets_news_and_others_get_paced_publicity():
    found = {r.id: r for r in recipients("exemplar.recognized")}
    # Nguyễn Thị Hương is both in the unit and an emulation officer: the direct news wins.
    assert found["S-TD-CDC"].template == "exemplar_recognized" and not found["S-TD-CDC"].publicity
    assert found["S-TD-TNN"].template == "exemplar_publicity" and found["S-TD-TNN"].publicity
    assert "S-TD-TCMT" not in found, "a unit closed before today gets no publicity"
    assert "S-TD-KTTV-OLD" not in found, "removed staff get nothing"


def test_publicity_follows_unit_validity_dates():
    before_merger = dt.date(2025, 2, 28)
    assert "S-TD-TCMT" in ids(recipients("exemplar.recognized", today=before_merger))
    view = sample_directory()
    view.units["U-NEW"] = UnitView("U-NEW", "Cục mới", dt.date(2025, 7, 1))
    view.staff["S-NEW"] = StaffView("S-NEW", "U-NEW", "Cán bộ mới", "moi@example.vn", frozenset({Role.EMULATION_OFFICER}))
    assert "S-NEW" not in ids(recipients("exemplar.recognized", view=view))
    assert "S-NEW" in ids(recipients("exemplar.recognized", view=view, today=dt.date(2025, 7, 1)))


def test_removed_staff_get_nothing_even_when_named():
    view = sample_directory()
    view.staff["S-EV-2"] = dataclasses.replace(view.staff["S-EV-2"], removed=True)
    assert recipients("evaluation.reminder", view=view) == []
    assert ids(recipients("evaluation.cancelled", view=view)) == {"S-EV-1", "S-EV-3"}


def test_a_person_missing_from_the_directory_is_kept_without_address():
    view = sample_directory()
    del view.staff["S-SUB-CDC"]  # the directory topic has not caught up yet
    found = {r.id: r for r in recipients("nomination.accepted", view=view)}
    assert not found["S-SUB-CDC"].known and found["S-SUB-CDC"].email is None
    event = new_event(sample_payloads()["nomination.accepted"], key=NOMINATION, source="test")
    planned = domain.plan_deliveries(event, list(found.values()), NOW, 1.0)
    pending = [p for p in planned if p.recipient.id == "S-SUB-CDC"]
    assert [(p.channel, p.address) for p in pending] == [(Channel.EMAIL, None)]


def test_role_scope_skips_staff_of_closed_units():
    view = sample_directory()
    view.staff["S-VP-OLD"] = StaffView("S-VP-OLD", "U-TCMT", "Cán bộ cũ", "cu@example.vn",
                                        frozenset({Role.MINISTRY_OFFICE}))
    assert ids(recipients("evaluation.completed", view=view)) == {"S-VP"}


def test_unit_contact_is_left_out_when_the_unit_has_none():
    view = sample_directory()
    view.units[UNIT] = dataclasses.replace(view.units[UNIT], email=None, webhook_url=None)
    assert CDC_CONTACT not in ids(recipients("nomination.accepted", view=view))


# ---- the remembered nominations (panel scope) ----------------------------------------------


def test_panel_memory_follows_assignment_and_replacement():
    payloads = sample_payloads()
    view = domain.next_nomination(None, payloads["evaluation.panel_assigned"])
    assert view.panel == {"S-EV-1", "S-EV-2", "S-EV-3"} and view.unit_id == UNIT
    replaced = domain.next_nomination(view, payloads["evaluation.evaluator_replaced"])
    assert replaced.panel == {"S-EV-4", "S-EV-2", "S-EV-3"}
    assert domain.next_nomination(replaced, payloads["evaluation.evaluator_replaced"]) == replaced  # idempotent
    unreplaced = payloads["evaluation.evaluator_replaced"].model_copy(update={"recused_id": "S-EV-2",
                                                                               "replacement_id": None})
    assert domain.next_nomination(replaced, unreplaced).panel == {"S-EV-4", "S-EV-3"}
    assert domain.next_nomination(view, payloads["evaluation.reminder"]) is None


def test_cancelled_without_memory_reaches_nobody():
    view = sample_directory()
    view.nominations.clear()
    assert recipients("evaluation.cancelled", view=view) == []


def test_a_revocation_tells_whom_the_recognition_reached_as_they_are_now():
    view = sample_directory()
    # Since the recognition: TNN's officer left, and KTTV has a new officer, who was not told.
    view.staff["S-TD-TNN"] = dataclasses.replace(view.staff["S-TD-TNN"], removed=True)
    view.staff["S-TD-KTTV-NEW"] = StaffView("S-TD-KTTV-NEW", "U-KTTV", "Mai Văn Tới", "toi.mv@example.vn",
                                            frozenset({Role.EMULATION_OFFICER}))
    found = {r.id: r for r in recipients("exemplar.revoked", view=view)}
    assert set(found) == {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT, "S-TD-KTTV"}
    assert {i for i, r in found.items() if r.publicity} == {"S-TD-KTTV"}  # the unit hears it directly
    assert found["S-TD-KTTV"].template == "exemplar_revocation_publicity"


def test_a_revocation_whose_recognition_reached_nobody_tells_the_unit_only():
    view = sample_directory()
    view.nominations[NOMINATION] = dataclasses.replace(view.nominations[NOMINATION], told_of_recognition=frozenset())
    assert ids(recipients("exemplar.revoked", view=view)) == {"S-LEAD-CDC", "S-TD-CDC", CDC_CONTACT}


# ---- directory events into the view ---------------------------------------------------------


def test_directory_payloads_become_views():
    unit = domain.unit_view(UnitRegistered(unit_id="U-X", name="Cục Viễn thám quốc gia", valid_from=dt.date(2020, 1, 1),
                                           valid_to=dt.date(2025, 2, 28), email="vt@example.vn"))
    assert unit.valid_on(dt.date(2025, 2, 28)) and not unit.valid_on(dt.date(2025, 3, 1))
    assert not unit.valid_on(dt.date(2019, 12, 31))
    staff = domain.staff_view(StaffRegistered(staff_id="S-X", unit_id="U-X", full_name="Trần Thị Ngọc",
                                              email="ngoc@example.vn", roles=[Role.EVALUATOR],
                                              webhook_url="https://x.example.vn/hook"))
    assert staff.roles == {Role.EVALUATOR} and staff.webhook_url == "https://x.example.vn/hook"


def test_needs_lists_what_the_store_must_load():
    routes, payloads = default_routes(), sample_payloads()
    accepted = domain.needs(routes["nomination.accepted"], payloads["nomination.accepted"])
    assert accepted.staff_ids == {"S-SUB-CDC"} and accepted.unit_ids == {UNIT} and not accepted.all_units
    recognized = domain.needs(routes["exemplar.recognized"], payloads["exemplar.recognized"])
    assert recognized.all_units and recognized.roles == {Role.EMULATION_OFFICER}
    panel = domain.needs(routes["evaluation.panel_assigned"], payloads["evaluation.panel_assigned"])
    assert panel.staff_ids == {"S-EV-1", "S-EV-2", "S-EV-3"} and panel.nomination_id == NOMINATION
    replicated = domain.needs(routes["exemplar.replicated"], payloads["exemplar.replicated"])
    assert replicated.unit_ids == {UNIT, "U-TNN"}  # the adopting unit, for its name


# ---- delivery ids, channels, pacing ---------------------------------------------------------


def test_delivery_id_is_deterministic_per_event_recipient_and_channel():
    a = domain.delivery_id("nominations/abc", "S-1", "email")
    assert a == domain.delivery_id("nominations/abc", "S-1", "email")
    others = {domain.delivery_id("nominations/abc", "S-1", "webhook"), domain.delivery_id("nominations/abc", "S-2", "email"),
              domain.delivery_id("nominations/abd", "S-1", "email")}
    assert a not in others and len(others) == 3


def test_plan_gives_email_and_webhook_and_same_ids_on_redelivery():
    event = new_event(sample_payloads()["nomination.accepted"], key=NOMINATION, source="nominations")
    found = recipients("nomination.accepted")
    planned = domain.plan_deliveries(event, found, NOW, 1.0)
    channels = {(p.recipient.id, p.channel) for p in planned}
    assert channels == {("S-TD-CDC", Channel.EMAIL), ("S-SUB-CDC", Channel.EMAIL),
                        (CDC_CONTACT, Channel.EMAIL), (CDC_CONTACT, Channel.WEBHOOK)}
    assert all(p.not_before == NOW for p in planned)
    again = domain.plan_deliveries(event, found, NOW + dt.timedelta(hours=1), 1.0)
    assert [p.delivery_id for p in again] == [p.delivery_id for p in planned]


def test_publicity_is_spread_out():
    event = new_event(sample_payloads()["exemplar.recognized"], key="EX", source="evaluations")
    planned = domain.plan_deliveries(event, recipients("exemplar.recognized"), NOW, 2.0)
    direct = [p for p in planned if not p.recipient.publicity]
    paced = sorted({p.recipient.id: p.not_before for p in planned if p.recipient.publicity}.values())
    assert direct and all(p.not_before == NOW for p in direct)
    assert paced == [NOW, NOW + dt.timedelta(seconds=2)]
    # Phạm Thu Trang has a webhook too: both of her channels share one slot.
    trang = [p for p in planned if p.recipient.id == "S-TD-TNN"]
    assert {p.channel for p in trang} == {Channel.EMAIL, Channel.WEBHOOK}
    assert len({p.not_before for p in trang}) == 1


def test_current_address_rechecks_the_directory_at_send_time():
    view = sample_directory()
    assert domain.current_address("S-EV-2", Channel.EMAIL, view) == ("binh.hv@example.vn", None)
    assert domain.current_address("S-EV-2", Channel.WEBHOOK, view) == (None, "no_address")
    assert domain.current_address(CDC_CONTACT, Channel.WEBHOOK, view)[0] == "https://cdc.example.vn/hooks/thi-dua"
    assert domain.current_address("S-NOBODY", Channel.EMAIL, view) == (None, "unknown_recipient")
    view.staff["S-EV-2"] = dataclasses.replace(view.staff["S-EV-2"], removed=True)
    assert domain.current_address("S-EV-2", Channel.EMAIL, view) == (None, "recipient_removed")


# ---- backoff --------------------------------------------------------------------------------


def test_backoff_grows_exponentially_is_capped_and_deterministic():
    policy = domain.RetryPolicy(max_attempts=8, base_seconds=10, factor=2, max_seconds=300, jitter=0.1)
    schedule = policy.schedule("delivery-1")
    assert len(schedule) == 7
    nominal = [10, 20, 40, 80, 160, 300, 300]
    for got, want in zip(schedule, nominal, strict=True):
        assert want * 0.9 <= got <= want * 1.1
    assert schedule == policy.schedule("delivery-1")
    assert schedule != policy.schedule("delivery-2"), "jitter differs between deliveries"


def test_backoff_gives_up_after_the_last_try():
    policy = domain.RetryPolicy(max_attempts=3, base_seconds=1, jitter=0)
    assert policy.next_attempt(1, NOW) == NOW + dt.timedelta(seconds=1)
    assert policy.next_attempt(2, NOW) == NOW + dt.timedelta(seconds=2)
    assert policy.next_attempt(3, NOW) is None and policy.exhausted(3)


def test_local_date_is_vietnamese():
    assert domain.local_date(dt.datetime(2025, 2, 28, 18, 0, tzinfo=dt.UTC)) == dt.date(2025, 3, 1)


def test_nomination_view_names_for_templates():
    view = sample_directory()
    names = view.names()
    assert names["U-CDC"].startswith("Cục Đo đạc") and names["S-VP"] == "Đỗ Thị Mai"
    assert isinstance(view.nominations[NOMINATION], NominationView)



def test_a_unit_reporting_a_replication_again_tells_nobody():
    again = sample_payloads()["exemplar.replicated"].model_copy(update={"new_unit": False})
    assert recipients("exemplar.replicated", payload=again) == []
