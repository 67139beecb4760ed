"""Rebuilding the evaluations projection from the log, in memory (design: shared/replay.py).

The service's own handlers run over `MemoryStore`, which keeps `EvaluationStore`'s
documents in plain dicts with the same write semantics, and swaps every event it records
for the published copy of the same id. Panel choices depend on evaluators' loads the log
does not keep, so `PinnedSelection` takes them from the answers to the input being applied.
Reminders and overdue notices answer the clock, not an input: they come from the log as is.
"""

import copy
import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from services.evaluations import domain
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import SOURCE
from services.evaluations.domain import Candidate, Status
from services.evaluations.exemplar_rules import UnitPeriod
from services.evaluations.follow_up import FollowUp
from services.evaluations.handlers import Lifecycle, by_topic
from services.evaluations.settings import EvaluationsSettings
from services.evaluations.store import (
    Record,
    answer_document,
    answer_id,
    date,
    day,
    events_of,
    load_changes,
    new_exemplar,
    open_seats,
    outbox_entry,
    outbox_entry_of,
    review_id,
)
from shared import envelope
from shared.envelope import Event, derived_id
from shared.events import (
    EvaluationOverdue,
    EvaluationReminder,
    EvaluatorReplaced,
    NominationAccepted,
    PanelAssigned,
    PanelIncomplete,
    StaffRegistered,
    StaffRemoved,
    UnitRegistered,
)
from shared.mongo import applied_document, applied_id, with_entry, with_marker
from shared.programme import load_programme
from shared.replay import Answers, Comparison, Logged, apply
from shared.vocabulary import Field, Role

COMPARISON: dict[str, Comparison] = {
    "evaluations": Comparison(
        # The time of the last input applied, which may come from any of three topics; and the
        # outbox, the last answers of inputs of those topics, whose relative order the log keeps
        # only as produce time, not as the order applied: which ones are the last differs. Every
        # answer is in `answers` too, compared in full.
        ignore=frozenset({"updated_at", "outbox"}),
        # Appended to by inputs of different topics (nominations, intake, directory).
        unordered=frozenset({"recused", "vacancies", "panel"})),
    # Every write after the council's comes from one partition (intake, keyed by exemplar).
    "exemplars": Comparison(),
    "reviews": Comparison(),
    "replications": Comparison(),
    "visits": Comparison(),
    "units": Comparison(unordered=frozenset({"applied"})),  # the last markers
    # The last markers; a move to another unit brings a staff member's events from two partitions.
    "staff": Comparison(unordered=frozenset({"applied"})),
    "answers": Comparison(),
    "applied_events": Comparison(),
    "notices": Comparison(),
    # A set of evaluation ids, added to by inputs of every partition: kept in the order applied.
    "loads": Comparison(unordered=frozenset({"open"})),
}

COLLECTIONS = tuple(COMPARISON)
NOTICE_TYPES = (EvaluationReminder.event_type, EvaluationOverdue.event_type)


async def rebuild(inputs: list[Logged], answers: Answers, settings: EvaluationsSettings) -> dict[str, list[dict]]:
    """The evaluations projection `inputs` lead to, every decision taken from `answers`."""
    policy = load_programme(settings.programme_file).evaluation
    registry = load_criteria(settings.criteria_dir)
    store = MemoryStore(answers)
    selection = PinnedSelection(answers)
    lifecycle = Lifecycle(store, registry, policy, settings.replacement_min_days, select=selection)
    follow_up = FollowUp(store)

    async def applying(record: Logged) -> None:
        selection.current = record.event

    await apply(inputs, by_topic(store, lifecycle, follow_up), before=applying)
    for event in answers.of_type(*NOTICE_TYPES):
        if (key := notice_key(event, policy.reminder_days_before)) is None:
            answers.divergent.append(event)  # an id no step of this programme yields
            continue
        await store.add_notice(event.data.nomination_id, event.data.evaluator_id, key, event)
    await store.mark_notices_published(answers.of_type(*NOTICE_TYPES))
    return {name: [copy.deepcopy(doc) for doc in store.collections[name].docs.values()] for name in COLLECTIONS}


def notice_key(event: Event, reminder_days: Iterable[int]) -> str | None:
    """The schedule's step ("T-7", "T-2", "overdue") a notice was sent for: its id is derived from it."""
    reminder = event.type == EvaluationReminder.event_type
    keys = [domain.reminder_key(d) for d in reminder_days] if reminder else [domain.OVERDUE]
    of = (event.data.nomination_id, event.data.evaluator_id)
    return next((k for k in keys if derived_id(SOURCE, event.type, *of, k) == event.id), None)


class PinnedSelection:
    """`domain.select_panel`'s stand-in: who the service chose, read from its answers to the
    input being applied (`current`, set before each handler call). Ids name their input and,
    for a replacement, the member leaving or joining (`decisions.derived`, `Lifecycle`)."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.current: Event | None = None
        self.replaced: dict[str, list[Event]] = {}  # in log order: a fill's newcomers join in it
        for event in answers.of_type(EvaluatorReplaced.event_type):
            self.replaced.setdefault(event.data.nomination_id, []).append(event)

    def __call__(self, nomination_id: str, nomination_field: Field, candidates: Iterable[Candidate], *, size: int,
                 excluded_units: Collection[str], excluded_staff: Collection[str] = (),
                 panel_units: Collection[str] = ()) -> list[str]:
        source = self.current.dedup_key
        if self.current.type == NominationAccepted.event_type:
            return self._panel(source)
        if announced := self._panel(source, nomination_id):  # a waiting panel filled up
            return [m for m in announced if m not in excluded_staff]  # the current members are excluded
        replaced = self.replaced.get(nomination_id, [])

        def named(event: Event, staff_id: str | None) -> bool:
            return staff_id is not None and event.id == derived_id(source, event.type, nomination_id, staff_id)

        for event in replaced:  # a departure: named after who left, whom the choice excludes
            if event.data.recused_id in excluded_staff and named(event, event.data.recused_id):
                return [event.data.replacement_id] if event.data.replacement_id else []
        return [e.data.replacement_id for e in replaced if named(e, e.data.replacement_id)]  # seats filled

    def _panel(self, source: str, *parts: str) -> list[str]:
        for model in (PanelAssigned, PanelIncomplete):
            if (event := self.answers.by_id.get(derived_id(source, model.event_type, *parts))) is not None:
                return list(event.data.evaluators if model is PanelAssigned else event.data.assigned)
        return []


class MemoryCollection:
    """What handlers and `decide_once` use of a collection: `find_one` by id and `name`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.docs: dict[Any, dict] = {}

    async def find_one(self, query: dict) -> dict | None:
        assert query.keys() == {"_id"}, query
        return copy.deepcopy(self.docs.get(query["_id"]))


class MemoryStore:
    """`EvaluationStore`'s methods the handlers and the reminder schedule call, over dicts.
    Guarded writes keep their guards; every event recorded is the published copy."""

    def __init__(self, log: Answers) -> None:
        self.log = log  # not `answers`: that is the refusals' collection, as in EvaluationStore
        self.collections = {name: MemoryCollection(name) for name in COLLECTIONS}
        self.evaluations, self.exemplars = self.collections["evaluations"], self.collections["exemplars"]
        self.units, self.staff = self.collections["units"], self.collections["staff"]
        self.answers, self.notices = self.collections["answers"], self.collections["notices"]
        self.reviews, self.applied_events = self.collections["reviews"], self.collections["applied_events"]
        self.loads = self.collections["loads"]

    def _entry(self, event: Event, output: list[Event], records: list[Record] = (), rev: int = 1,
               loads: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return outbox_entry(event, self.log.pin_all(output), records, rev=rev, loads=loads)

    # ---- aggregates ------------------------------------------------------------------------

    async def create(self, collection: MemoryCollection, doc: dict, event: Event, output: list[Event]) -> bool:
        if doc["_id"] in collection.docs:
            return False  # the DuplicateKeyError case
        entry = self._entry(event, output, loads=load_changes(collection.name, None, doc))
        collection.docs[doc["_id"]] = copy.deepcopy({**doc, "rev": 1, "created_at": event.time,
                                                     "updated_at": event.time, "outbox": [entry]})
        self._settle(collection.name, doc["_id"], event, entry)
        return True

    async def commit(self, collection: MemoryCollection, doc: dict, changes: dict, event: Event,
                     output: list[Event], records: list[Record] = ()) -> bool:
        current = collection.docs.get(doc["_id"])
        if current is None or current["rev"] != doc["rev"] or outbox_entry_of(current, event) is not None:
            return False
        entry = self._entry(event, output, records, rev=doc["rev"] + 1,
                            loads=load_changes(collection.name, current, {**current, **changes}))
        current.update(copy.deepcopy(changes), rev=doc["rev"] + 1, updated_at=event.time)
        current["outbox"] = with_entry(current["outbox"], copy.deepcopy(entry))
        self._settle(collection.name, doc["_id"], event, entry)
        return True

    def _settle(self, collection: str, doc_id: str, event: Event, entry: dict) -> None:
        """`EvaluationStore.settle`: the history documents, the loads, then the answer kept for good."""
        for record in entry.get("records", []):
            history, doc = self.collections[record["collection"]].docs, record["doc"]
            if doc["_id"] not in history or (record["replaces"] and history[doc["_id"]]["rev"] < doc["rev"]):
                history[doc["_id"]] = copy.deepcopy(doc)
        if "loads" in entry:
            self._count_load(doc_id, entry["loads"])
        self.answers.docs.setdefault(answer_id(collection, doc_id, event),
                                     answer_document(collection, doc_id, event, copy.deepcopy(entry["output"])))

    async def answer_to(self, collection: MemoryCollection, doc_id: str, doc: dict | None,
                        event: Event) -> list[Event] | None:
        if (entry := outbox_entry_of(doc, event)) is not None:
            return events_of(entry["output"])
        kept = self.answers.docs.get(answer_id(collection.name, doc_id, event))
        return events_of(kept["output"]) if kept else None

    async def load(self, collection: MemoryCollection, doc_id: str, event: Event) -> tuple[dict | None, list | None]:
        doc = await collection.find_one({"_id": doc_id})
        return doc, await self.answer_to(collection, doc_id, doc, event)

    async def answers_to(self, collection: MemoryCollection, event: Event) -> dict[str, list[Event]]:
        return {kept["doc_id"]: events_of(kept["output"]) for kept in self.answers.docs.values()
                if kept["input"] == event.dedup_key and kept["collection"] == collection.name}

    async def keep_refusal(self, collection: MemoryCollection, doc_id: str, event: Event, output: list[Event]) -> None:
        self.answers.docs.setdefault(answer_id(collection.name, doc_id, event), answer_document(
            collection.name, doc_id, event, [envelope.to_document(e) for e in self.log.pin_all(output)]))

    # ---- evaluations -----------------------------------------------------------------------

    async def evaluation(self, nomination_id: str) -> dict | None:
        return await self.evaluations.find_one({"_id": nomination_id})

    async def evaluations_in(self, statuses: list[Status]) -> list[dict]:
        """The one query the handlers make: by status."""
        wanted = {s.value for s in statuses}
        return [_without(doc, "outbox") for _, doc in sorted(self.evaluations.docs.items()) if doc["status"] in wanted]

    async def open_assignments(self) -> dict[str, int]:
        return {doc["_id"]: doc["n"] for doc in self.loads.docs.values() if doc["n"] > 0}

    def _count_load(self, nomination_id: str, changes: dict[str, list[str]]) -> None:
        """`EvaluationStore.count_load`: the same guarded `$push`/`$pull` with their counts, the
        document created by the first join (an upsert) and never by a leave."""
        joined = changes.get("join", [])
        for evaluator in joined:
            load = self.loads.docs.setdefault(evaluator, {"_id": evaluator, "open": [], "n": 0})
            if nomination_id not in load["open"]:
                load["open"].append(nomination_id)
                load["n"] += 1
        closed = set(joined) - open_seats(self.evaluations.docs.get(nomination_id))
        for evaluator in sorted({*changes.get("leave", []), *closed}):
            load = self.loads.docs.get(evaluator)
            if load is not None and nomination_id in load["open"]:
                load["open"].remove(nomination_id)
                load["n"] -= 1

    def _scoring(self) -> list[dict]:
        scoring = {s.value for s in domain.SCORING}
        return [doc for doc in self.evaluations.docs.values() if doc["status"] in scoring]

    # ---- reminders -------------------------------------------------------------------------

    async def due_for_reminders(self, today: dt.date, horizon_days: int) -> list[dict]:
        horizon = day(today + dt.timedelta(days=horizon_days))
        return [_without(doc, "outbox", "criteria") for doc in self._scoring()
                if doc.get("opened") is True and doc["deadline"] <= horizon]

    async def sent_notices(self, nomination_id: str) -> dict[str, set[str]]:
        sent: dict[str, set[str]] = {}
        for doc in self.notices.docs.values():
            if doc["nomination_id"] == nomination_id:
                sent.setdefault(doc["evaluator_id"], set()).add(doc["key"])
        return sent

    async def add_notice(self, nomination_id: str, evaluator_id: str, key: str, event: Event) -> None:
        notice_id = f"{nomination_id}|{evaluator_id}|{key}"
        self.notices.docs.setdefault(notice_id, {
            "_id": notice_id, "nomination_id": nomination_id, "evaluator_id": evaluator_id, "key": key,
            "event": envelope.to_document(self.log.pin(event)), "published": False})

    async def unpublished_notices(self) -> list[Event]:
        return [envelope.from_document(doc["event"]) for doc in self.notices.docs.values() if not doc["published"]]

    async def mark_notices_published(self, events: list[Event]) -> None:
        ids = {e.id for e in events}
        for doc in self.notices.docs.values():
            if doc["event"]["id"] in ids:
                doc["published"] = True

    # ---- exemplars -------------------------------------------------------------------------

    async def exemplar(self, exemplar_id: str) -> dict | None:
        return await self.exemplars.find_one({"_id": exemplar_id})

    async def open_exemplar(self, doc: dict, event: Event) -> None:
        self.exemplars.docs.setdefault(doc["_id"], copy.deepcopy(new_exemplar(doc, event)))

    async def review(self, exemplar_id: str, period: str) -> dict | None:
        return copy.deepcopy(self.reviews.docs.get(review_id(exemplar_id, period)))

    # ---- directory -------------------------------------------------------------------------

    async def apply_unit(self, event: Event) -> None:
        unit: UnitRegistered = event.data
        self._apply_once(self.units, unit.unit_id, event, {
            "name": unit.name, "parent_id": unit.parent_id, "valid_from": day(unit.valid_from),
            "valid_to": day(unit.valid_to)})

    async def apply_staff(self, event: Event) -> None:
        staff: StaffRegistered = event.data
        self._apply_once(self.staff, staff.staff_id, event, {
            "unit_id": staff.unit_id, "full_name": staff.full_name, "roles": [r.value for r in staff.roles],
            "fields": [f.value for f in staff.fields], "removed": False})

    async def remove_staff(self, event: Event) -> None:
        removed: StaffRemoved = event.data
        self._apply_once(self.staff, removed.staff_id, event, {"unit_id": removed.unit_id, "removed": True})

    def _apply_once(self, collection: MemoryCollection, doc_id: str, event: Event, fields: dict) -> None:
        """`EvaluationStore._apply`: a `$set` of `fields` and the event's markers, unless applied before."""
        marker = applied_id(collection.name, doc_id, event.dedup_key)
        if marker in self.applied_events.docs:
            return
        self.applied_events.docs[marker] = applied_document(collection.name, doc_id, event.dedup_key)
        doc = collection.docs.setdefault(doc_id, {"_id": doc_id})
        if event.dedup_key not in doc.get("applied", []):
            doc.update(copy.deepcopy(fields))
            doc["applied"] = with_marker(doc.get("applied", []), event.dedup_key)

    async def unit_periods(self) -> dict[str, UnitPeriod]:
        return {doc["_id"]: UnitPeriod(doc["_id"], date(doc["valid_from"]), date(doc.get("valid_to")))
                for doc in self.units.docs.values() if "valid_from" in doc}

    async def unit_parents(self) -> dict[str, str | None]:
        return {doc["_id"]: doc.get("parent_id") for doc in self.units.docs.values()}

    async def staff_member(self, staff_id: str) -> dict | None:
        doc = self.staff.docs.get(staff_id)
        return copy.deepcopy(doc) if doc and "unit_id" in doc else None

    async def candidates(self) -> list[Candidate]:
        load = await self.open_assignments()
        return [Candidate(doc["_id"], doc["unit_id"], frozenset(Role(r) for r in doc.get("roles", [])),
                          frozenset(Field(f) for f in doc.get("fields", [])), load.get(doc["_id"], 0))
                for doc in self.staff.docs.values()
                if Role.EVALUATOR.value in doc.get("roles", []) and doc.get("removed") is not True]


def _without(doc: dict, *fields: str) -> dict:
    return copy.deepcopy({k: v for k, v in doc.items() if k not in fields})
