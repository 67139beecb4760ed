"""The notifications service killed with SIGKILL in the middle of a broadcast."""

import collections
import datetime as dt
import uuid

import pytest

from deploy import demo_data
from shared import topics
from shared.envelope import new_event
from shared.events import ExemplarRecognized, StaffRegistered
from shared.vocabulary import Field, RecognitionLevel, Role
from tests.conftest import wait_until
from tests.e2e.test_notifications import DB, SERVICE_ENV, Mailbox, evaluation_event, publish

pytestmark = pytest.mark.fault

CONCURRENCY = 4
EXTRA_OFFICERS = 80


@pytest.fixture(scope="module")
def mailbox(stack, tmp_path_factory):
    sink = Mailbox(tmp_path_factory.mktemp("mail-faults"), port=stack.config.smtp_port).start()
    yield sink
    sink.stop()


async def test_sigkill_mid_broadcast_misses_nobody(stack, directory, producer, mongo, mailbox, topic_log):
    tag = uuid.uuid4().hex[:6]
    open_units = sorted({m.unit_id for m in demo_data.staff()})
    extra = [StaffRegistered(staff_id=f"{tag}-TD-{n:03d}", unit_id=open_units[n % len(open_units)],
                             full_name=f"Cán bộ thi đua số {n}", email=f"td-{tag}-{n:03d}@monre.gov.vn",
                             roles=[Role.EMULATION_OFFICER]) for n in range(EXTRA_OFFICERS)]
    await publish(producer, topics.DIRECTORY, *[new_event(s, key=s.unit_id, source="urn:hr") for s in extra])
    # Paced at 20 a second, the broadcast takes several seconds: long enough to be cut in two.
    proc = await stack.start_service("notifications", **{**SERVICE_ENV, "PUBLICITY_PER_MINUTE": "1200",
                                                         "DELIVERY_LEASE_SECONDS": "3",
                                                         "DELIVERY_CONCURRENCY": str(CONCURRENCY)},
                                     NOTIFY_AFTER=dt.datetime.now(dt.UTC).isoformat())
    try:
        async def applied():
            return await mongo[DB]["staff"].count_documents({"_id": {"$regex": f"^{tag}-"}}) == EXTRA_OFFICERS

        await wait_until(applied, timeout=60, what="the extra officers in the directory view")
        event = evaluation_event(ExemplarRecognized(
            exemplar_id=f"EX-{tag}", nomination_id=f"NOM-{tag}", unit_id="QLDD", year=2025, field=Field.LAND,
            nominee_name="Phòng Đăng ký đất đai", title="Một cửa liên thông cấp giấy chứng nhận quyền sử dụng đất",
            level=RecognitionLevel.MINISTRY, decision_ref="456/QĐ-BNNMT", total=78.0))
        officers = {m.staff_id for m in demo_data.staff() if Role.EMULATION_OFFICER in m.roles}
        expected = len(officers) + EXTRA_OFFICERS + 2  # + the unit's leader and mailbox (its officer is direct)
        await publish(producer, topics.EVALUATIONS, event)

        async def under_way():
            return len(mailbox.about(event)) >= 25

        await wait_until(under_way, timeout=60, what="the broadcast to be under way")
        proc.kill()
        at_kill = len(mailbox.about(event))
        assert at_kill < expected, "the kill came too late to prove anything"
        await stack.restart(proc)

        async def everyone():
            return len({m["To"].addresses[0].addr_spec for m in mailbox.about(event)}) >= expected

        await wait_until(everyone, timeout=120, what="every recipient after the restart")
        mails = mailbox.about(event)
        per_recipient = collections.Counter(m["To"].addresses[0].addr_spec for m in mails)
        repeats = sum(n - 1 for n in per_recipient.values())
        assert len(per_recipient) == expected, "nobody missed"
        assert repeats <= CONCURRENCY, f"{repeats} repeats: at most the {CONCURRENCY} sends in flight at the kill"
        # A repeat is recognisably the same mail: same Message-ID.
        assert len({m["Message-ID"] for m in mails}) == expected

        docs = await mongo[DB]["deliveries"].find({"event_id": event.id}).to_list()
        assert len(docs) == expected and {d["status"] for d in docs} == {"sent"}
        log = await topic_log(topics.NOTIFICATIONS)
        outcomes = await log.wait_for(
            lambda: (ids := {e.id for e in log.events() if e.data.notified_event_id == event.id})
            and len(ids) >= expected and ids, timeout=60, what="an outcome for every delivery")
        assert len(outcomes) == expected  # republished outcomes keep their id
    finally:
        proc.stop()
        stack.services["notifications"].remove(proc)
