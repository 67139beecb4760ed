"""Rebuilding the evaluations projection from the log, against what the live service wrote.

The oracle is the service itself: its real handlers in the unit of work over MongoDB, in a
fresh database of the stack's SecantusDB, answer a scripted sequence of inputs. Inputs and
answers go through the CloudEvents codec as the log would hold them; the rebuild then
reads only that log, and its documents, written to another fresh database the way
`deploy/rebuild.py` does, must match the live ones. With a key store (`Live(vault=...)`), the
records are sealed as the producers seal them, and the log can be read again later with the
keys the store then holds (`Live.reread`: tests/integration/test_erasure_rebuild.py).
"""

import contextlib
import dataclasses
import datetime as dt
import uuid
from itertools import count

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from services.evaluations import domain
from services.evaluations.criteria import load_criteria
from services.evaluations.domain import Candidate
from services.evaluations.handlers import Evaluations
from services.evaluations.rebuild import COMPARISON, rebuild
from services.evaluations.reminders import discussions_ended, due_reminders
from services.evaluations.settings import EvaluationsSettings
from services.evaluations.store import EvaluationStore
from shared import envelope, topics
from shared.envelope import Event, Received, new_event
from shared.events import (
    CommentPosted,
    ConflictDeclared,
    CorrectionRecorded,
    CouncilDecisionRecorded,
    NominationAccepted,
    NominationWithdrawn,
    ReplicationReported,
    ReviewReported,
    RevocationRecorded,
    ScoreSubmitted,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
    VisitReported,
)
from shared.programme import load_programme
from shared.replay import Answers, Logged, compare
from shared.unit_of_work import UnitOfWork
from shared.vault import Vault, keys_to_open, keys_to_seal
from shared.vocabulary import Field, NomineeKind, RecognitionLevel, RevocationGround, Role, Trend

SETTINGS = EvaluationsSettings(programme_file=None, criteria_dir=None, replacement_min_days=7)
POLICY = load_programme(SETTINGS.programme_file).evaluation
CRITERIA = load_criteria(SETTINGS.criteria_dir)
UNITS = {"U-NOM": None, "U-NOM-1": "U-NOM", "U-B": None, "U-C": None, "U-D": None, "U-E": None, "U-F": None,
         "U-G": None}
OFFICER = StaffMember("NOM-OFFICER", "U-NOM", "Lê Thị Lan", (Role.EMULATION_OFFICER,), ())
HR, PORTAL, COUNCIL, NOMINATIONS = "urn:hr", "urn:portal", "urn:council", "urn:exemplars:nominations"


Raw = tuple[bytes, bytes, list[tuple[str, bytes]]]  # a record as the log holds it: key, value, headers


async def sealed(event: Event, vault: Vault | None) -> Raw:
    """The record a producer writes: personal fields sealed under their persons' keys (none
    without a key store: in clear)."""
    key, value, headers = envelope.encode(event, await keys_to_seal(vault, [event]))
    return key, value, [(name, text.encode()) for name, text in headers.items()]


async def opened(raw: Raw, vault: Vault | None, received: Received | None = None) -> Event:
    """The event as a consumer of the log decodes it, with the keys the store holds now."""
    return envelope.decode(*raw, received=received, keys=await keys_to_open(vault, [raw[1]]))


class Live:
    """The live service: its handlers on the real store; every input and answer logged."""

    def __init__(self, store: EvaluationStore, vault: Vault | None = None) -> None:
        self.store = store
        self.vault = vault
        self.work = UnitOfWork(store.documents, Evaluations(CRITERIA, POLICY, SETTINGS.replacement_min_days))
        self.inputs: list[Logged] = []
        self.batch: list[Event] | None = None
        self.log: list[Event] = []
        self.records: list[Raw] = []  # each input's record, in the order of `inputs`
        self.published: list[Raw] = []  # each answer's record, in the order of `log`
        self._partitions: dict[tuple[str, str], int] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._seconds = count()

    async def send(self, topic: str, data, key: str, source: str, day: str) -> list[Event]:
        # Strictly increasing times: the rebuild's order is the order applied here.
        time = dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.UTC) + dt.timedelta(seconds=next(self._seconds))
        # Each key its own partition, as Kafka keeps one key's records in one partition.
        partition = self._partitions.setdefault((topic, key), len(self._partitions))
        offset = self._offsets[topic, partition] = self._offsets.get((topic, partition), -1) + 1
        # As the consumer decodes it: where and when the broker received it.
        raw = await sealed(new_event(data, key=key, source=source, time=time), self.vault)
        event = await opened(raw, self.vault, Received(topic, partition, offset, time))
        logged = Logged(topic, partition, offset, time, event)
        if self.batch is not None:
            self.batch.append(event)
            self.inputs.append(logged)
            self.records.append(raw)
            return []
        output = await self._handle(topic, event)
        self.inputs.append(logged)
        self.records.append(raw)
        await self.publish(output)
        return output

    async def publish(self, events: list[Event]) -> None:
        """The answers, sealed as the service's producer seals them, in the log."""
        for event in events:
            raw = await sealed(event, self.vault)
            self.published.append(raw)
            self.log.append(await opened(raw, self.vault))

    async def reread(self) -> tuple[list[Logged], Answers]:
        """The whole log, inputs and answers, as a rebuild reads it now: with the keys the store
        holds now (an erased person's fields "đã xóa")."""
        keys = await keys_to_open(self.vault, [raw[1] for raw in (*self.records, *self.published)])
        inputs = [dataclasses.replace(r, event=envelope.decode(*raw, received=r.event.received, keys=keys))
                  for r, raw in zip(self.inputs, self.records, strict=True)]
        return inputs, Answers.of(envelope.decode(*raw, keys=keys) for raw in self.published)

    @contextlib.asynccontextmanager
    async def batched(self):
        """The inputs sent inside, decided as one consumed batch when it closes."""
        self.batch = []
        yield
        events, self.batch = self.batch, None
        for outcome in await self.work.run(events):
            if outcome.error is not None:
                raise outcome.error
            await self.publish(outcome.publish)

    async def _handle(self, topic: str, event: Event) -> list[Event]:
        """One input, one batch, as a consumer that polled it alone."""
        [outcome] = await self.work.run([event])
        if outcome.error is not None:
            raise outcome.error
        return outcome.publish

    async def reminders(self, today: str) -> list[Event]:
        """What the schedule publishes on `today`, marked published as it does."""
        due = await due_reminders(self.store, POLICY, dt.date.fromisoformat(today))
        await self.store.mark_notices_published(due)
        await self.publish(due)
        return due

    # ---- inputs ----------------------------------------------------------------------------

    async def unit(self, unit_id: str, parent: str | None, day: str = "2024-01-02") -> None:
        data = UnitRegistered(unit_id=unit_id, name=f"Đơn vị {unit_id}", parent_id=parent,
                              valid_from=dt.date(2020, 1, 1))
        await self.send(topics.DIRECTORY, data, unit_id, HR, day)

    async def staff(self, staff_id: str, unit_id: str, day: str) -> list[Event]:
        return await self.send(topics.DIRECTORY, StaffRegistered(
            staff_id=staff_id, unit_id=unit_id, full_name=f"Cán bộ {staff_id}", email=f"{staff_id}@monre.gov.vn",
            roles=[Role.EVALUATOR], fields=[Field.LAND]), unit_id, HR, day)

    async def remove(self, staff_id: str, unit_id: str, day: str) -> list[Event]:
        return await self.send(topics.DIRECTORY, StaffRemoved(staff_id=staff_id, unit_id=unit_id), unit_id, HR, day)

    async def accept(self, nomination_id: str, day: str) -> list[Event]:
        sub = submission(nomination_id, OFFICER, 2024, MODELS[0])
        data = NominationAccepted(**sub.model_dump(), accepted_in_year=1, yearly_maximum=2)
        return await self.send(topics.NOMINATIONS, data, nomination_id, NOMINATIONS, day)

    async def intake(self, data, key: str, day: str, source: str = PORTAL) -> list[Event]:
        return await self.send(topics.EVALUATIONS_INTAKE, data, key, source, day)

    async def score(self, nomination_id: str, evaluator_id: str, fraction: float, day: str, **extra) -> list[Event]:
        criteria = CRITERIA.for_(Field.LAND, NomineeKind.COLLECTIVE).criteria
        return await self.intake(ScoreSubmitted(nomination_id=nomination_id, evaluator_id=evaluator_id,
                                                scores={c.id: c.maximum * fraction for c in criteria}, **extra),
                                 nomination_id, day)

    async def panel(self, nomination_id: str) -> list[str]:
        return list((await self.store.evaluation(nomination_id))["panel"])


@pytest.fixture
async def databases(mongo):
    names = [f"evaluations_rebuild_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield [mongo[name] for name in names]
    for name in names:
        await mongo.drop_database(name)


async def documents(db) -> dict[str, list[dict]]:
    return {name: await db[name].find().to_list() for name in COMPARISON}


async def rebuilt_documents(db, inputs: list[Logged], answers: Answers) -> dict[str, list[dict]]:
    """As deploy/rebuild.py stores them: insert_many into a fresh database, indexes, read back."""
    for name, docs in (await rebuild(inputs, answers, SETTINGS)).items():
        if docs:
            await db[name].insert_many(docs)
    await EvaluationStore(db).ensure_indexes()
    return await documents(db)


def only(events: list[Event], type_: str):
    assert [e.type for e in events] == [type_], events
    return events[0].data


def recorded(events: list[Event]) -> bool:
    return [e.type for e in events] == ["evaluation.score_recorded"]


def completed(events: list[Event]):
    assert [e.type for e in events] == ["evaluation.score_recorded", "evaluation.completed"], events
    return events[1].data


async def test_the_rebuilt_projection_is_the_live_one(databases):
    live_db, rebuilt_db = databases
    live = Live(EvaluationStore(live_db))
    await live.store.ensure_indexes()
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    await live.staff("a1", "U-NOM-1", "2024-02-01")  # below the nominee's unit: never on its panels
    await live.staff("b1", "U-B", "2024-02-01")
    await live.staff("c1", "U-C", "2024-02-01")

    # A panel waits for evaluators, opens when the directory fills it, loses a member to a
    # conflict with nobody to replace them, and a newcomer takes the empty seat.
    assert sorted(only(await live.accept("N0", "2024-02-10"), "evaluation.panel_incomplete").assigned) == ["b1", "c1"]
    assigned = only(await live.staff("d1", "U-D", "2024-02-12"), "evaluation.panel_assigned")
    assert sorted(assigned.evaluators) == ["b1", "c1", "d1"]
    vacancy = only(await live.intake(ConflictDeclared(nomination_id="N0", evaluator_id="c1", reason="Người thân"),
                                     "N0", "2024-02-13"), "evaluation.evaluator_replaced")
    assert vacancy.replacement_id is None
    assert only(await live.staff("e1", "U-E", "2024-02-14"), "evaluation.evaluator_replaced").replacement_id == "e1"
    await live.staff("f1", "U-F", "2024-02-15")
    await live.staff("g1", "U-G", "2024-02-15")

    # Panels balanced on the load of the moment; a conflict replaced; a refused sheet; completion.
    for n, day in (("N1", "2024-03-01"), ("N2", "2024-03-02"), ("N3", "2024-03-03")):
        only(await live.accept(n, day), "evaluation.panel_assigned")
    leaving = (await live.panel("N1"))[0]
    conflict = ConflictDeclared(nomination_id="N1", evaluator_id=leaving, reason="Cùng dự án")
    replaced = only(await live.intake(conflict, "N1", "2024-03-05"), "evaluation.evaluator_replaced")
    assert replaced.recused_id == leaving and replaced.replacement_id is not None
    assert only(await live.score("N1", leaving, 0.9, "2024-03-06"), "evaluation.input_rejected").reasons
    panel = await live.panel("N1")
    assert recorded(await live.score("N1", panel[0], 0.6, "2024-03-07"))
    assert recorded(await live.score("N1", panel[0], 0.9, "2024-03-08"))  # amended
    assert recorded(await live.score("N1", panel[1], 0.8, "2024-03-09", gates={"months_in_operation": True}))
    assert completed(await live.score("N1", panel[2], 0.7, "2024-03-10")).total == 80.0

    # A divergent panel discusses; nobody amends; the service's clock ends the time box.
    only(await live.accept("N4", "2024-03-11"), "evaluation.panel_assigned")
    four = await live.panel("N4")
    for member, fraction in zip(four, (0.9, 0.8), strict=False):
        assert recorded(await live.score("N4", member, fraction, "2024-03-12"))
    opened = (await live.score("N4", four[2], 0.5, "2024-03-13"))[-1]
    assert opened.type == "evaluation.discussion_opened" and opened.data.closes_on == dt.date(2024, 3, 18)
    only(await live.intake(CommentPosted(nomination_id="N4", evaluator_id=four[2], comment="Giữ nguyên điểm."),
                           "N4", "2024-03-14"), "evaluation.comment_recorded")
    [time_up] = await discussions_ended(live.store, dt.date(2024, 3, 19))
    ended = only(await live.intake(time_up.data, "N4", "2024-03-19", "urn:exemplars:evaluations"),
                 "evaluation.completed")
    assert ended.divergent and ended.discussion.closed_by == "time_box" and ended.discussion.comments == 1

    # The council recognises (and refuses a second decision); the exemplar is followed.
    decision = CouncilDecisionRecorded(nomination_id="N1", recognized=True, level=RecognitionLevel.MINISTRY,
                                       decision_ref="15/QĐ-BNNMT", decided_on=dt.date(2024, 4, 1))
    only(await live.intake(decision, "N1", "2024-04-01", COUNCIL), "exemplar.recognized")
    only(await live.intake(decision, "N1", "2024-04-02", COUNCIL), "evaluation.input_rejected")
    review = ReviewReported(exemplar_id="EX-N1", period="2024-H2", influence=4, trend=Trend.DECLINING, study_visits=2,
                            new_adopting_units=["U-B"], difficulties="Thiếu kinh phí", reported_by="NOM-OFFICER")
    assert len(await live.intake(review, "EX-N1", "2024-07-01")) == 2  # recorded, support needed
    only(await live.intake(ReplicationReported(exemplar_id="EX-N1", adopting_unit_id="U-C",
                                               applied_on=dt.date(2024, 7, 1), reported_by="c1"),
                           "EX-N1", "2024-07-02"), "exemplar.replicated")
    assert await live.intake(VisitReported(exemplar_id="EX-N1", visiting_unit_id="U-D", visited_on=dt.date(2024, 7, 3),
                                           participants=9), "EX-N1", "2024-07-04") == []
    # A second report for the period corrects the first: the review is replaced, the period counts once.
    correction = review.model_copy(update={"study_visits": 3, "trend": Trend.GROWING, "difficulties": None})
    assert only(await live.intake(correction, "EX-N1", "2024-07-05"), "exemplar.review_recorded").study_visits == 3
    exemplar = await live.store.exemplar("EX-N1")
    assert (exemplar["reviews_count"], exemplar["review_visits"], exemplar["visits_count"]) == (1, 3, 1)
    assert (await live.store.review("EX-N1", "2024-H2"))["trend"] == "growing"
    # The council corrects the level, then revokes the title (backdated): U-E's later replication stops counting.
    only(await live.intake(CorrectionRecorded(nomination_id="N1", level=RecognitionLevel.UNIT, corrected_on=dt.date(
        2024, 7, 6), reason="Nhầm cấp công nhận."), "N1", "2024-07-06", COUNCIL), "exemplar.decision_corrected")
    only(await live.intake(ReplicationReported(exemplar_id="EX-N1", adopting_unit_id="U-E",
                                               applied_on=dt.date(2024, 7, 20), reported_by="e1"),
                           "EX-N1", "2024-07-21"), "exemplar.replicated")
    revoked = only(await live.intake(RevocationRecorded(
        nomination_id="N1", revocation_ref="45/QĐ-BNNMT", revoked_on=dt.date(2024, 7, 15),
        ground=RevocationGround.FRAUD, reason="Kê khai số liệu không trung thực."), "N1", "2024-07-25", COUNCIL),
        "exemplar.revoked")
    assert revoked.distinct_units == 2 and revoked.level is RecognitionLevel.UNIT  # U-B, U-C; not U-E
    only(await live.intake(ReplicationReported(exemplar_id="EX-N1", adopting_unit_id="U-F",
                                               applied_on=dt.date(2024, 7, 26), reported_by="f1"),
                           "EX-N1", "2024-07-26"), "evaluation.input_rejected")

    # Reminders and overdue notices from the schedule; a departure; a withdrawal.
    assert await live.reminders("2024-03-26")  # N0 overdue, T-7 before N2's and N3's deadlines
    gone = (await live.panel("N2"))[0]
    staff_units = {"b1": "U-B", "c1": "U-C", "d1": "U-D", "e1": "U-E", "f1": "U-F", "g1": "U-G"}
    removed = [e.data for e in await live.remove(gone, staff_units[gone], "2024-03-27")
               if e.data.nomination_id == "N2"]
    assert removed[0].recused_id == gone and removed[0].replacement_id is not None
    only(await live.send(topics.NOMINATIONS, NominationWithdrawn(nomination_id="N3", unit_id="U-NOM",
                                                                 requested_by="NOM-OFFICER", reason="Rút"),
                         "N3", NOMINATIONS, "2024-03-28"), "evaluation.cancelled")
    assert await live.reminders("2024-04-06")  # N2 overdue

    answers = Answers.of(live.log)
    rebuilt = await rebuilt_documents(rebuilt_db, live.inputs, answers)
    assert answers.divergent == []
    live_docs = await documents(live_db)
    assert all(live_docs.values())  # the script writes every collection compared
    assert set(await live_db.list_collection_names()) == set(COMPARISON)  # and compares every one written
    assert {name: len(docs) for name, docs in rebuilt.items()} == {name: len(docs) for name, docs in live_docs.items()}
    assert compare(live_docs, rebuilt, COMPARISON) == []


async def test_a_selection_the_log_does_not_hold_is_divergent(databases):
    live = Live(EvaluationStore(databases[0]))
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    for staff_id, unit_id in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D")):
        await live.staff(staff_id, unit_id, "2024-02-01")
    [assigned] = await live.accept("N1", "2024-03-01")

    answers = Answers.of(e for e in live.log if e.id != assigned.id)
    await rebuild(live.inputs, answers, SETTINGS)
    # Without the panel the log published, the rebuild decides "nobody": an answer never given.
    assert [(e.type, e.data.assigned) for e in answers.divergent] == [("evaluation.panel_incomplete", [])]


async def test_panels_are_pinned_whatever_the_load_when_rebuilt(databases):
    live_db, rebuilt_db = databases
    live = Live(EvaluationStore(live_db))
    for unit_id, parent in UNITS.items():
        await live.unit(unit_id, parent)
    for staff_id, unit_id in (("b1", "U-B"), ("c1", "U-C"), ("d1", "U-D"), ("e1", "U-E"), ("f1", "U-F"),
                              ("g1", "U-G")):
        await live.staff(staff_id, unit_id, "2024-02-01")
    first = only(await live.accept("N1", "2024-03-01"), "evaluation.panel_assigned").evaluators
    second = only(await live.accept("N2", "2024-03-01"), "evaluation.panel_assigned").evaluators
    assert not set(first) & set(second)  # N1's members were busier when N2's panel was chosen

    # The two nominations are on different partitions: here N2 is applied first, on an empty load,
    # where the service itself would have chosen otherwise.
    n1, n2 = (i for i, r in enumerate(live.inputs) if r.event.type == "nomination.accepted")
    inputs = list(live.inputs)
    inputs[n1], inputs[n2] = (dataclasses.replace(inputs[n1], at=inputs[n2].at),
                              dataclasses.replace(inputs[n2], at=inputs[n1].at))
    idle = [Candidate(staff_id, f"U-{staff_id[0].upper()}", fields=frozenset({Field.LAND}))
            for staff_id in ("b1", "c1", "d1", "e1", "f1", "g1")]
    assert domain.select_panel("N2", Field.LAND, idle, size=3, excluded_units={"U-NOM", "U-NOM-1"},
                               excluded_staff=["NOM-OFFICER"]) != second

    answers = Answers.of(live.log)
    rebuilt = await rebuilt_documents(rebuilt_db, inputs, answers)
    assert answers.divergent == []
    assert compare(await documents(live_db), rebuilt, COMPARISON) == []
