"""The directory and the evaluators' loads as a batch reads them, and the load counter.

The directory (units, staff) and the loads are read once per batch through `Where` queries,
whoever in the batch needs them; each evaluator's open load is a document of `loads`
changed in the same commit as the evaluation change that moves it.
"""

from dataclasses import dataclass

from services.evaluations import domain
from services.evaluations.decisions import EVALUATIONS, LOADS, STAFF, UNITS
from services.evaluations.domain import SCORING, Candidate
from services.evaluations.exemplar_rules import UnitPeriod
from shared.days import date
from shared.unit_of_work import QUERIES, Decision, Put, View, Where
from shared.vocabulary import Field, Role

SCORING_VALUES = tuple(s.value for s in SCORING)
# Read once per batch, whoever in it needs them.
CANDIDATES = Where(STAFF, "roles", (Role.EVALUATOR.value,))
ALL_LOADS = Where(LOADS)
STILL_SCORING = Where(EVALUATIONS, "status", SCORING_VALUES)
DIRECTORY_UNITS = Where(UNITS)  # every unit: parents for panels, validity for reports
PANEL_READS = frozenset({CANDIDATES, ALL_LOADS, DIRECTORY_UNITS})


@dataclass(frozen=True)
class Pool:
    """What a panel choice reads, once per decision: every current evaluator with their open
    load, and each unit's parent."""

    candidates: list[Candidate]
    parents: dict[str, str | None]

    def excluded_units(self, doc: dict) -> frozenset[str]:
        return domain.units_to_exclude(doc["unit_id"], self.parents)


def pool(view: View, changed: dict | None = None) -> Pool:
    """`changed`: a staff member's new version, which this decision writes (the view shows it only after)."""
    staff = {doc["_id"]: doc for doc in view.where(CANDIDATES)}
    if changed is not None:
        staff[changed["_id"]] = changed
    load = {doc["_id"]: len(doc["open"]) for doc in view.where(ALL_LOADS)}
    evaluators = [Candidate(doc["_id"], doc["unit_id"], frozenset(Role(r) for r in doc.get("roles", [])),
                            frozenset(Field(f) for f in doc.get("fields", [])), load.get(doc["_id"], 0))
                  for _, doc in sorted(staff.items())
                  if Role.EVALUATOR.value in doc.get("roles", []) and doc.get("removed") is not True]
    return Pool(evaluators, view.derived(DIRECTORY_UNITS, _parents))


def _parents(units: list[dict]) -> dict[str, str | None]:
    return {u["_id"]: u.get("parent_id") for u in units}


def open_seats(doc: dict | None) -> set[str]:
    """The evaluators for whom this evaluation counts in their load."""
    return set(doc["panel"]) if doc and doc["status"] in SCORING_VALUES else set()


def load_changes(before: dict | None, after: dict | None) -> dict[str, list[str]]:
    """Whose load a change of an evaluation moves, from its states before and after."""
    was, now = open_seats(before), open_seats(after)
    return {k: sorted(v) for k, v in (("join", now - was), ("leave", was - now)) if v}


def counted(view: View, decision: Decision) -> Decision:
    """The decision with the evaluators' loads it moves, in the same commit: derived here, under
    every handler, so no path that changes a panel or a status can forget them."""
    moves: list[tuple[str, str, bool]] = []
    for change in decision.changes:
        if isinstance(change, Put) and change.collection == EVALUATIONS:
            nid = change.doc["_id"]
            moved = load_changes(view.get(EVALUATIONS, nid), change.doc)
            moves += [(e, nid, True) for e in moved.get("join", [])] + [(e, nid, False) for e in moved.get("leave", [])]
    if not moves:
        return decision
    view.need({QUERIES: [ALL_LOADS]})  # read whole: an evaluator without a document has none open
    touched: dict[str, set[str]] = {}
    for evaluator, nid, joined in moves:
        if evaluator not in touched:
            touched[evaluator] = set((view.get(LOADS, evaluator) or {"open": ()})["open"])
        seats = touched[evaluator]
        (seats.add if joined else seats.discard)(nid)
    puts = [Put(LOADS, {"_id": e, "open": sorted(seats)}) for e, seats in sorted(touched.items())]
    return Decision((*decision.changes, *puts), decision.publish)


def unit_periods(view: View) -> dict[str, UnitPeriod]:
    return {doc["_id"]: UnitPeriod(doc["_id"], date(doc["valid_from"]), date(doc.get("valid_to")))
            for doc in view.where(DIRECTORY_UNITS) if doc.get("valid_from")}
