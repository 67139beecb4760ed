"""The ministry office's overview of the programme, without I/O: for a year, each unit's
quota used, the evaluations still open (overdue, discussing), the council's recognitions and
how far the recognised models have spread, from the workspace's own projection."""

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.programme import Programme

OPEN = ("panel_incomplete", "open", "discussion")


@dataclass(frozen=True)
class UnitQuota:
    unit_id: str
    name: str
    accepted: int
    short: bool  # under the yearly minimum


@dataclass(frozen=True)
class Overview:
    year: int
    quota: list[UnitQuota]
    maximum: int
    minimum: int
    statuses: Counter
    overdue: list[Mapping[str, Any]]  # still scoring after the deadline, the longest overdue first
    discussing: list[Mapping[str, Any]]
    recognitions: Counter  # "ministry", "unit", "not_recognized", "fostering"
    spread: list[Mapping[str, Any]]  # recognised models, the most widely applied first


def overview(year: int, today: dt.date, units: Iterable[Mapping[str, Any]], nominations: Iterable[Mapping[str, Any]],
             evaluations: Iterable[Mapping[str, Any]], programme: Programme) -> Overview:
    evaluations = [e for e in evaluations if e.get("year") == year]
    accepted = Counter(n["unit_id"] for n in nominations if n.get("year") == year and n.get("status") == "accepted")
    quota = sorted((UnitQuota(u["_id"], u.get("name", u["_id"]), accepted[u["_id"]],
                              accepted[u["_id"]] < programme.yearly_minimum)
                    for u in units if _valid_in(u, year)), key=lambda q: (not q.short, q.name))
    overdue = sorted((e for e in evaluations if e.get("status") in ("open", "panel_incomplete")
                      and e.get("deadline") and e["deadline"] < today.isoformat()), key=lambda e: (e["deadline"], e["_id"]))
    discussing = sorted((e for e in evaluations if e.get("status") == "discussion"),
                        key=lambda e: (e["discussion"]["closes_on"], e["_id"]))
    recognitions: Counter = Counter()
    for e in evaluations:
        decision = e.get("decision")
        if decision:
            recognitions["revoked" if decision.get("revocation") else decision["level"] if decision["recognized"] else
                         "fostering" if decision.get("fostering") else "not_recognized"] += 1
    standing = (e for e in evaluations if (d := e.get("decision") or {}).get("recognized") and not d.get("revocation"))
    spread = sorted(standing,
                    key=lambda e: (-e.get("adopting_units", 0), e["_id"]))
    return Overview(year, quota, programme.yearly_maximum, programme.yearly_minimum,
                    Counter(e.get("status") for e in evaluations), overdue, discussing, recognitions, spread)


def _valid_in(unit: Mapping[str, Any], year: int) -> bool:
    """Valid on at least one day of `year`, as the nominations service judges it."""
    start, end = unit.get("valid_from"), unit.get("valid_to")
    return bool(start) and start <= f"{year}-12-31" and (not end or end >= f"{year}-01-01")
