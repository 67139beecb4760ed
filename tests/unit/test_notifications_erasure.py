"""An erased person in the notifications service: still planned for as before their erasure, never
sent anything (the delivery worker fails their deliveries at once), and `person.erased` over
memory: what it clears, what it keeps, and that taking it again changes nothing.
(The live projection against a rebuild from the log: tests/integration/test_erasure_rebuild.py.)"""

import dataclasses
import datetime as dt

from services.notifications import directory, domain
from services.notifications.domain import RECIPIENT_ERASED, Channel
from services.notifications.handlers import DELIVERIES, STAFF, Notifications
from services.notifications.routing import default_routes
from services.notifications.samples import NOMINATION, TITLE, sample_directory
from services.notifications.settings import NotificationsSettings
from shared.documents import MemoryDocuments
from shared.envelope import new_event
from shared.events import EvaluationReminder, PersonErased, StaffRegistered, UnitRegistered
from shared.events.base import ERASED
from shared.unit_of_work import ANSWERS, UnitOfWork
from shared.vocabulary import Role
from tests.unit.test_notifications_delivery import FakeSmtp, hook_sender, setup

HOOK = "https://kttv.example.vn/hooks/binh"


def erased(view, staff_id: str = "S-EV-2"):
    """The directory as it reads once the person is erased: their name and addresses "đã xóa"."""
    staff = view.staff[staff_id]
    view.staff[staff_id] = dataclasses.replace(staff, full_name=ERASED, email=ERASED,
                                               webhook_url=ERASED if staff.webhook_url else None)
    return view


async def test_a_mail_to_an_erased_person_fails_at_once_and_nothing_is_sent():
    smtp = FakeSmtp()
    worker, store, published, delivery = setup(smtp=smtp)  # claimed before the erasure: their address in it
    store.view = erased(store.view)
    await worker.attempt(delivery)
    assert smtp.sent == [] and store.retries == []
    (done,) = store.finished
    assert (done["status"], done["error"]) == ("failed", RECIPIENT_ERASED)
    (outcome,) = published
    assert (outcome.type, outcome.data.error) == ("notification.failed", RECIPIENT_ERASED)
    assert outcome.data.address == ERASED  # never the address the claimed copy still held


async def test_a_webhook_of_an_erased_person_is_not_called():
    seen = []
    view = sample_directory()
    view.staff["S-EV-2"] = dataclasses.replace(view.staff["S-EV-2"], webhook_url=HOOK)
    worker, store, published, delivery = setup(channel="webhook", view=view, webhook=hook_sender(204, seen))
    store.view = erased(view)
    await worker.attempt(delivery)
    assert seen == [] and store.finished[0]["error"] == RECIPIENT_ERASED
    assert published[0].data.channel == "webhook"


def test_an_erased_person_stays_a_recipient_planned_as_before():
    """A rebuild reads their `staff.registered` with every address "đã xóa": it must plan the
    deliveries it planned live, whose outcomes the log holds (`Notifications.finished`)."""
    registered = StaffRegistered(staff_id="S-EV-2", unit_id="U-KTTV", full_name="Hoàng Văn Bình",
                                 email="binh.hv@example.vn", webhook_url=HOOK, roles=[Role.EVALUATOR])
    as_logged = registered.model_copy(update={"full_name": ERASED, "email": ERASED, "webhook_url": ERASED})
    fields = directory.staff_fields(as_logged)
    assert (fields["full_name"], fields["email"], fields["webhook_url"]) == (ERASED, ERASED, ERASED)
    event = new_event(EvaluationReminder(nomination_id=NOMINATION, evaluator_id="S-EV-2", title=TITLE,
                                         deadline=dt.date(2025, 6, 30), days_left=7), key=NOMINATION,
                      source="urn:exemplars:evaluations")
    route = default_routes()[event.type]
    planned = []
    for payload in (registered, as_logged):
        staff = directory.staff_of({"_id": "S-EV-2", **directory.staff_fields(payload)})
        view = sample_directory()
        view.staff["S-EV-2"] = staff
        recipients = domain.resolve_recipients(route, event.data, view, dt.date(2025, 6, 2))
        planned.append(domain.plan_deliveries(event, recipients, dt.datetime.now(dt.UTC), 0.0))
    live, rebuilt = planned
    assert [(p.delivery_id, p.channel) for p in live] == [(p.delivery_id, p.channel) for p in rebuilt]
    assert [p.address for p in rebuilt] == [ERASED, ERASED]
    assert domain.current_address("S-EV-2", Channel.EMAIL, view) == (None, RECIPIENT_ERASED)
    assert domain.current_address("S-EV-2", Channel.WEBHOOK, view) == (None, RECIPIENT_ERASED)


async def test_person_erased_clears_what_was_theirs_and_keeps_what_was_not():
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Notifications(NotificationsSettings(webhook_secret="bí-mật"), default_routes()))

    async def apply(data, key: str, source: str = "urn:hr") -> None:
        for outcome in await work.run([new_event(data, key=key, source=source)]):
            assert outcome.error is None, outcome.error

    def reminder(n: int) -> EvaluationReminder:
        return EvaluationReminder(nomination_id=f"{NOMINATION}-{n}", evaluator_id="CB-9", title=TITLE,
                                  deadline=dt.date(2025, 6, 30), days_left=7)

    await apply(UnitRegistered(unit_id="U-1", name="Cục Một", valid_from=dt.date(2020, 1, 1)), "U-1")
    await apply(reminder(1), f"{NOMINATION}-1", "urn:exemplars:evaluations")  # before the directory knows them
    await apply(StaffRegistered(staff_id="CB-9", unit_id="U-1", full_name="Mai Văn Chín", email="chin@example.vn",
                                roles=[Role.EVALUATOR]), "U-1")
    await apply(reminder(2), f"{NOMINATION}-2", "urn:exemplars:evaluations")
    await apply(PersonErased(staff_id="CB-9", erased_on=dt.date(2025, 6, 2)), "CB-9", "urn:exemplars:privacy")

    staff = documents.collections[STAFF]["CB-9"]
    assert (staff["full_name"], staff["email"], staff["webhook_url"]) == (ERASED, ERASED, None)  # none stays none
    first, second = sorted(documents.collections[DELIVERIES].values(), key=lambda d: d["event_type"] + d["template"]
                           + str(d["unit_id"]))
    # Planned while unknown: named by their id, with no address, as a rebuild plans it too.
    assert {(d["recipient_name"], d["address"]) for d in (first, second)} == {("CB-9", None), (ERASED, ERASED)}

    before = {name: {k: dict(v) for k, v in docs.items()} for name, docs in documents.collections.items()}
    await apply(PersonErased(staff_id="CB-9", erased_on=dt.date(2025, 6, 3)), "CB-9", "urn:exemplars:privacy")
    after = documents.collections
    assert {n: d for n, d in after.items() if n != ANSWERS} == {n: d for n, d in before.items() if n != ANSWERS}
    assert len(after[ANSWERS]) == len(before[ANSWERS]) + 1
