"""The ministry office's overview of a year, from the workspace's projection."""

import datetime as dt

from services.workspace.overview import overview
from shared.programme import load_programme

PROGRAMME = load_programme()  # at least 1, at most 2 accepted nominations per unit and year
UNITS = [{"_id": "A", "name": "Cục A", "valid_from": "2020-01-01", "valid_to": None},
         {"_id": "B", "name": "Cục B", "valid_from": "2020-01-01", "valid_to": None},
         {"_id": "OLD", "name": "Sở cũ", "valid_from": "2020-01-01", "valid_to": "2025-02-28"}]
NOMINATIONS = [{"unit_id": "A", "year": 2026, "status": "accepted"}, {"unit_id": "A", "year": 2026, "status": "accepted"},
               {"unit_id": "B", "year": 2026, "status": "withdrawn"}, {"unit_id": "B", "year": 2025, "status": "accepted"},
               {"unit_id": "B", "year": 2026, "status": "rejected"}]
EVALUATIONS = [
    {"_id": "N1", "year": 2026, "status": "open", "deadline": "2026-05-01", "title": "Quá hạn"},
    {"_id": "N2", "year": 2026, "status": "open", "deadline": "2026-07-01", "title": "Còn hạn"},
    {"_id": "N3", "year": 2026, "status": "discussion", "deadline": "2026-05-01", "title": "Thảo luận",
     "discussion": {"closes_on": "2026-06-05", "spread": 30}},
    {"_id": "N4", "year": 2026, "status": "decided", "title": "Lan rộng", "adopting_units": 5,
     "decision": {"recognized": True, "level": "ministry"}},
    {"_id": "N5", "year": 2026, "status": "decided", "title": "Đơn vị", "decision": {"recognized": True, "level": "unit"}},
    {"_id": "N6", "year": 2026, "status": "decided", "decision": {"recognized": False, "fostering": True}},
    {"_id": "N7", "year": 2025, "status": "decided", "decision": {"recognized": True, "level": "ministry"}},
]


def test_a_year_at_a_glance():
    seen = overview(2026, dt.date(2026, 6, 1), UNITS, NOMINATIONS, EVALUATIONS, PROGRAMME)
    assert [(q.unit_id, q.accepted, q.short) for q in seen.quota] == [("B", 0, True), ("A", 2, False)]  # short first
    assert [e["_id"] for e in seen.overdue] == ["N1"]  # a discussing panel has scored: not overdue
    assert [e["_id"] for e in seen.discussing] == ["N3"]
    assert seen.recognitions == {"ministry": 1, "unit": 1, "fostering": 1}  # 2025's decision is another year's
    assert [e["_id"] for e in seen.spread] == ["N4", "N5"]
    assert seen.statuses["decided"] == 3
