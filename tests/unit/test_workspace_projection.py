"""The workspace's projection of an evaluation, in the unit of work over memory: the members'
sheets, the discussion and what a recusal does to both."""

import datetime as dt

from services.workspace.handlers import ASSIGNMENTS, Workspace
from shared.documents import MemoryDocuments
from shared.envelope import new_event
from shared.events import (
    CommentRecorded,
    CriteriaSetRef,
    DecisionCorrected,
    DiscussionOpened,
    EvaluatorReplaced,
    ExemplarRecognized,
    ExemplarReplicated,
    ExemplarRevoked,
    PanelAssigned,
    ScoreRecorded,
)
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import Field, NomineeKind, RecognitionLevel, RevocationGround

SOURCE = "urn:exemplars:evaluations"


def event(data):
    return new_event(data, key="N1", source=SOURCE)


def recorded(member: str, total: float, amended: bool = False):
    return event(ScoreRecorded(nomination_id="N1", evaluator_id=member, scores={"a": total / 10}, total=total,
                               amended=amended, comment=f"Nhận xét của {member}"))


async def projection(*data) -> dict:
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Workspace())
    panel = PanelAssigned(nomination_id="N1", unit_id="QLDD", year=2025, field=Field.LAND,
                          nominee_kind=NomineeKind.COLLECTIVE, title="Mô hình", evaluators=["A", "B", "C"],
                          criteria=CriteriaSetRef(set_id="land.collective", version=1), deadline=dt.date(2025, 7, 1))
    for outcome in await work.run([event(panel), *data]):
        assert outcome.error is None
    return documents.collections[ASSIGNMENTS]["N1"]


async def test_each_members_latest_sheet_is_kept():
    doc = await projection(recorded("A", 90), recorded("B", 80), recorded("A", 85, amended=True))
    assert {member: sheet["total"] for member, sheet in doc["sheets"].items()} == {"A": 85, "B": 80}
    assert doc["sheets"]["A"]["amended"] and doc["sheets"]["A"]["comment"] == "Nhận xét của A"


async def test_a_discussion_keeps_each_comment_once():
    opened = event(DiscussionOpened(nomination_id="N1", unit_id="QLDD", title="Mô hình", evaluators=["A", "B", "C"],
                                    evaluator_totals={"A": 90, "B": 80, "C": 50}, spread=40, threshold=25,
                                    closes_on=dt.date(2025, 7, 6)))
    said = CommentRecorded(nomination_id="N1", evaluator_id="C", comment="Tôi xem lại.", number=1)
    doc = await projection(recorded("A", 90), recorded("B", 80), recorded("C", 50), opened, event(said), event(said))
    assert doc["status"] == "discussion" and doc["discussion"]["closes_on"] == "2025-07-06"
    assert [(c["number"], c["evaluator_id"]) for c in doc["discussion"]["comments"]] == [(1, "C")]


async def test_a_recusal_takes_the_members_sheet_and_reopens_scoring():
    opened = event(DiscussionOpened(nomination_id="N1", unit_id="QLDD", title="Mô hình", evaluators=["A", "B", "C"],
                                    evaluator_totals={"A": 90, "B": 80, "C": 50}, spread=40, threshold=25,
                                    closes_on=dt.date(2025, 7, 6)))
    replaced = EvaluatorReplaced(nomination_id="N1", title="Mô hình", recused_id="C", replacement_id="D",
                                 reason="Người thân công tác tại đơn vị", deadline=dt.date(2025, 7, 8))
    doc = await projection(recorded("A", 90), recorded("B", 80), recorded("C", 50), opened, event(replaced))
    assert doc["panel"] == ["A", "B", "D"] and set(doc["sheets"]) == {"A", "B"} and doc["status"] == "open"
    assert doc["discussion"]["spread"] == 40  # what was said stays for when the panel discusses again


def recognition():
    return event(ExemplarRecognized(exemplar_id="EX-N1", nomination_id="N1", unit_id="QLDD", year=2025,
                                    field=Field.LAND, nominee_name="Phòng Dữ liệu", title="Mô hình",
                                    level=RecognitionLevel.MINISTRY, decision_ref="12/QĐ-BNNMT", total=80))


async def test_a_correction_then_a_revocation_keep_the_decision_readable():
    corrected = DecisionCorrected(exemplar_id="EX-N1", nomination_id="N1", unit_id="QLDD", year=2025, title="Mô hình",
                                  recognized=True, level=RecognitionLevel.UNIT, previous_level=RecognitionLevel.MINISTRY,
                                  decision_ref="12/QĐ-BNNMT", previous_decision_ref="12/QĐ-BNNMT",
                                  corrected_on=dt.date(2025, 12, 3), reason="Nhầm cấp.", number=1)
    replicated = ExemplarReplicated(exemplar_id="EX-N1", unit_id="QLDD", title="Mô hình", adopting_unit_id="VT",
                                    distinct_units=3)
    revoked = ExemplarRevoked(exemplar_id="EX-N1", nomination_id="N1", unit_id="QLDD", year=2025, field=Field.LAND,
                              nominee_name="Phòng Dữ liệu", title="Mô hình", level=RecognitionLevel.UNIT,
                              decision_ref="12/QĐ-BNNMT", revocation_ref="45/QĐ-BNNMT",
                              revoked_on=dt.date(2026, 1, 15), ground=RevocationGround.FRAUD, reason="Gian dối.",
                              distinct_units=1)
    # The replication comes late, from another partition: the revocation's count stands.
    doc = await projection(recognition(), event(corrected), event(revoked), event(replicated))
    decision = doc["decision"]
    assert (decision["level"], decision["corrections"], decision["recognized"]) == ("unit", 1, True)
    assert decision["revocation"] == {"revocation_ref": "45/QĐ-BNNMT", "revoked_on": "2026-01-15",
                                      "ground": "fraud", "reason": "Gian dối."}
    assert doc["adopting_units"] == 1
