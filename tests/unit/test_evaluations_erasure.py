"""What `person.erased` clears of an evaluation: the person's own words, where the events they
came from place them (shared/personal.py), and nothing else. (The live projection against a
rebuild from the log: tests/integration/test_erasure_rebuild.py.)"""

from services.evaluations import domain, erasure
from shared.events.base import ERASED

PERSON = "CB-7"


def evaluation(**more) -> dict:
    return {"_id": "N1", "nominee_kind": "individual", "nominee_name": "Lê Văn Bảy", "nominee_staff_id": "CB-9",
            "panel": ["CB-1", "CB-2", "CB-3"],
            "sheets": [{"evaluator_id": PERSON, "scores": {"a": 9}, "comment": "Tốt",
                        "criterion_comments": {"a": "Rõ"}},
                       {"evaluator_id": "CB-1", "scores": {"a": 7}, "comment": None, "criterion_comments": {}}],
            "recused": [{"evaluator_id": PERSON, "reason": "Người thân", "replacement_id": None},
                        {"evaluator_id": PERSON, "reason": domain.NO_LONGER_ELIGIBLE, "replacement_id": "CB-3"},
                        {"evaluator_id": "CB-4", "reason": "Cùng dự án", "replacement_id": "CB-2"}],
            "vacancies": [{"recused_id": PERSON, "reason": "Người thân"}],
            "discussion": {"comments": [{"evaluator_id": PERSON, "comment": "Giữ điểm"},
                                        {"evaluator_id": "CB-1", "comment": "Đồng ý"}]}, **more}


def test_their_words_are_erased_and_everyone_elses_stay():
    cleared = erasure.evaluation_cleared(evaluation(), PERSON)
    assert cleared["sheets"][0] == {"evaluator_id": PERSON, "scores": {"a": 9}, "comment": ERASED,
                                    "criterion_comments": {"a": ERASED}}
    assert cleared["sheets"][1]["comment"] is None  # nothing said, nothing sealed: stays None
    assert [r["reason"] for r in cleared["recused"]] == [ERASED, domain.NO_LONGER_ELIGIBLE, "Cùng dự án"]
    assert cleared["vacancies"] == [{"recused_id": PERSON, "reason": ERASED}]
    assert [c["comment"] for c in cleared["discussion"]["comments"]] == [ERASED, "Đồng ý"]
    assert cleared["nominee_name"] == "Lê Văn Bảy"  # not theirs
    assert erasure.evaluation_cleared(cleared, PERSON) is None  # once is enough


def test_the_nominee_loses_their_name_and_nothing_else():
    cleared = erasure.evaluation_cleared(evaluation(), "CB-9")
    assert cleared == {**evaluation(), "nominee_name": ERASED}
    assert erasure.evaluation_cleared(evaluation(), "CB-404") is None
