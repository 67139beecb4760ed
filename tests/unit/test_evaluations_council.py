"""The council after its decision, in the unit of work over memory: a recognition revoked (it
leaves the recognised exemplars, replications from the revocation day stop counting, no
follow-up is recorded after it), a decision corrected (level, reference, history kept), and
every refusal with its code."""

import datetime as dt

import pytest

from services.evaluations import council_rules
from services.evaluations.council_rules import Decided
from services.evaluations.criteria import load_criteria
from services.evaluations.decisions import EVALUATIONS, EXEMPLARS
from services.evaluations.handlers import Evaluations
from shared.documents import MemoryDocuments
from shared.envelope import Event, new_event
from shared.events import (
    CorrectionRecorded,
    CouncilDecisionRecorded,
    ReplicationReported,
    RevocationRecorded,
    ScoreSubmitted,
    VisitReported,
)
from shared.unit_of_work import UnitOfWork
from shared.vocabulary import RecognitionLevel, RevocationGround
from tests.unit.test_evaluations_handlers import POLICY, accepted, at, staff, unit

CRITERIA = load_criteria()
COUNCIL = "urn:council"


def sheet(nomination: Event, fraction: float) -> dict[str, float]:
    data = nomination.data
    return {c.id: round(c.maximum * fraction, 4) for c in CRITERIA.for_(data.field, data.nominee.kind).criteria}


def council(payload, day: str) -> Event:
    return new_event(payload, key=payload.nomination_id, source=COUNCIL, time=at(day))


def decision(recognized: bool = True, day: str = "2024-04-01") -> Event:
    return council(CouncilDecisionRecorded(
        nomination_id="N1", recognized=recognized, level=RecognitionLevel.MINISTRY if recognized else None,
        decision_ref="12/QĐ-BNNMT", decided_on=dt.date.fromisoformat(day)), day)


def revocation(revoked_on: str = "2024-06-01", day: str = "2024-06-03", ref: str = "45/QĐ-BNNMT") -> Event:
    return council(RevocationRecorded(
        nomination_id="N1", revocation_ref=ref, revoked_on=dt.date.fromisoformat(revoked_on),
        ground=RevocationGround.FALSE_DOCUMENTS, reason="Biên bản bình xét lập sau ngày họp."), day)


def correction(level: RecognitionLevel | None = None, ref: str | None = None, on: str = "2024-04-10",
               day: str = "2024-04-10") -> Event:
    return council(CorrectionRecorded(nomination_id="N1", level=level, decision_ref=ref,
                                      corrected_on=dt.date.fromisoformat(on), reason="Nhầm khi nhập quyết định."), day)


def replication(unit_id: str, applied_on: str, day: str) -> Event:
    return new_event(ReplicationReported(exemplar_id="EX-N1", adopting_unit_id=unit_id,
                                         applied_on=dt.date.fromisoformat(applied_on), reported_by=f"s-{unit_id}"),
                     key="EX-N1", source="urn:unit:x", time=at(day))


async def decided(recognized: bool = True):
    """N1 scored 90, 85 and 80 by its panel (no discussion), then decided by the council."""
    documents = MemoryDocuments()
    work = UnitOfWork(documents, Evaluations(load_criteria(), POLICY, replacement_min_days=7))
    units = ["U-NOM", "U-B", "U-C", "U-D", "U-E", "U-F"]
    await work.run([unit(u) for u in units] + [staff(f"s-{u}", u) for u in units[1:]])
    nomination = accepted("N1")
    [opened] = await work.run([nomination])
    panel = list(opened.publish[0].data.evaluators)
    await work.run([new_event(ScoreSubmitted(nomination_id="N1", evaluator_id=member, scores=sheet(nomination, f)),
                              key="N1", source="urn:portal", time=at("2024-03-10"))
                    for member, f in zip(panel, (0.9, 0.85, 0.8), strict=True)])
    [answer] = await work.run([decision(recognized)])
    assert answer.publish[0].type == ("exemplar.recognized" if recognized else "exemplar.not_recognized")
    return documents, work


def codes(outcome) -> list[str]:
    [refused] = outcome.publish
    assert refused.type == "evaluation.input_rejected"
    return [r.code for r in refused.data.reasons]


async def test_a_revocation_takes_the_title_back_and_counts_only_earlier_replications():
    documents, work = await decided()
    await work.run([replication("U-D", "2024-05-02", "2024-05-03"), replication("U-E", "2024-06-05", "2024-06-06"),
                    replication("U-D", "2024-06-10", "2024-06-10")])  # a unit counts once, from its first day
    assert documents.collections[EXEMPLARS]["EX-N1"]["adopters"] == ["U-D", "U-E"]
    [revoked] = await work.run([revocation(revoked_on="2024-06-01", day="2024-06-20")])
    [event] = revoked.publish
    assert event.type == "exemplar.revoked" and event.key == "N1"
    assert (event.data.distinct_units, event.data.level, event.data.decision_ref) == (1, RecognitionLevel.MINISTRY,
                                                                                       "12/QĐ-BNNMT")
    exemplar = documents.collections[EXEMPLARS]["EX-N1"]
    assert exemplar["status"] == "revoked" and exemplar["adopters"] == ["U-D"]
    assert exemplar["revocation"]["uncounted"] == ["U-E"] and exemplar["revocation"]["ground"] == "false_documents"
    assert exemplar["replications_count"] == 3  # the reports stay in the history
    evaluation = documents.collections[EVALUATIONS]["N1"]
    assert evaluation["status"] == "decided" and evaluation["decision"]["recognized"]  # what was decided stays
    assert evaluation["decision"]["revocation"]["revocation_ref"] == "45/QĐ-BNNMT"


async def test_after_a_revocation_nothing_more_is_recorded_for_the_model():
    _, work = await decided()
    await work.run([revocation()])
    late = await work.run([
        replication("U-F", "2024-06-10", "2024-06-10"),
        new_event(VisitReported(exemplar_id="EX-N1", visiting_unit_id="U-F", visited_on=dt.date(2024, 6, 9)),
                  key="EX-N1", source="urn:unit:x", time=at("2024-06-10")),
        revocation(day="2024-06-11", ref="46/QĐ-BNNMT"),
        correction(level=RecognitionLevel.UNIT, day="2024-06-12", on="2024-06-12"),
    ])
    assert [codes(o) for o in late] == [["EXEMPLAR_REVOKED"], ["EXEMPLAR_REVOKED"], ["ALREADY_REVOKED"],
                                        ["ALREADY_REVOKED"]]
    assert "46/QĐ-BNNMT" not in late[2].publish[0].data.reasons[0].message  # it names the first revocation
    assert "45/QĐ-BNNMT" in late[2].publish[0].data.reasons[0].message


async def test_only_a_standing_recognition_is_revoked():
    documents, work = await decided(recognized=False)
    assert codes((await work.run([revocation()]))[0]) == ["NOT_RECOGNIZED"]
    documents.collections[EVALUATIONS]["N1"]["status"] = "completed"
    documents.collections[EVALUATIONS]["N1"]["decision"] = None
    assert codes((await work.run([revocation(day="2024-06-04")]))[0]) == ["NOT_DECIDED"]


async def test_a_revocation_is_dated_between_the_decision_and_its_arrival():
    _, work = await decided()
    before, future = await work.run([revocation(revoked_on="2024-03-31", day="2024-06-03"),
                                     revocation(revoked_on="2024-06-04", day="2024-06-03")])
    assert codes(before) == ["DATE_BEFORE_DECISION"] and codes(future) == ["DATE_IN_FUTURE"]
    assert "31/03/2024" in before.publish[0].data.reasons[0].message


async def test_a_correction_changes_the_level_and_keeps_what_it_replaced():
    documents, work = await decided()
    [first] = await work.run([correction(level=RecognitionLevel.UNIT)])
    corrected = first.publish[0].data
    assert first.publish[0].type == "exemplar.decision_corrected"
    assert (corrected.level, corrected.previous_level, corrected.number) == (RecognitionLevel.UNIT,
                                                                             RecognitionLevel.MINISTRY, 1)
    [second] = await work.run([correction(ref="12A/QĐ-BNNMT", day="2024-04-11", on="2024-04-11")])
    assert second.publish[0].data.previous_decision_ref == "12/QĐ-BNNMT" and second.publish[0].data.number == 2
    decision_doc = documents.collections[EVALUATIONS]["N1"]["decision"]
    assert (decision_doc["level"], decision_doc["decision_ref"]) == ("unit", "12A/QĐ-BNNMT")
    assert [(c["previous_level"], c["level"]) for c in decision_doc["corrections"]] == [("ministry", "unit"),
                                                                                        ("unit", "unit")]
    exemplar = documents.collections[EXEMPLARS]["EX-N1"]
    assert (exemplar["level"], exemplar["decision_ref"], exemplar["corrections_count"]) == ("unit", "12A/QĐ-BNNMT", 2)
    [revoked] = await work.run([revocation()])
    assert revoked.publish[0].data.level == RecognitionLevel.UNIT  # the revocation names the title as corrected
    assert revoked.publish[0].data.decision_ref == "12A/QĐ-BNNMT"


async def test_a_correction_must_change_something_that_exists():
    _, work = await decided(recognized=False)
    level, same, ref = await work.run([correction(level=RecognitionLevel.UNIT), correction(ref="12/QĐ-BNNMT"),
                                       correction(ref="13/QĐ-BNNMT", on="2024-03-01")])
    assert codes(level) == ["NOT_RECOGNIZED"] and codes(same) == ["NOTHING_TO_CORRECT"]
    assert codes(ref) == ["DATE_BEFORE_DECISION"]
    [fixed] = await work.run([correction(ref="13/QĐ-BNNMT", day="2024-04-12", on="2024-04-12")])
    assert fixed.publish[0].data.recognized is False and fixed.publish[0].data.level is None


async def test_a_second_decision_points_to_correction_and_revocation():
    _, work = await decided()
    [again] = await work.run([decision(day="2024-04-02")])
    assert codes(again) == ["ALREADY_DECIDED"] and "đính chính" in again.publish[0].data.reasons[0].message


# ---- pure rules ------------------------------------------------------------------------------

STANDING = Decided("N1", True, RecognitionLevel.MINISTRY, "12/QĐ-BNNMT", dt.date(2024, 4, 1))


@pytest.mark.parametrize(("decided", "level", "ref", "code"), [
    (None, RecognitionLevel.UNIT, None, "NOT_DECIDED"),
    (STANDING, RecognitionLevel.MINISTRY, "12/QĐ-BNNMT", "NOTHING_TO_CORRECT"),
    (STANDING, None, None, "NOTHING_TO_CORRECT"),
    (Decided("N1", True, RecognitionLevel.UNIT, "1", dt.date(2024, 4, 1), corrections=20), None, "2",
     "CORRECTIONS_FULL"),
    (Decided("N1", True, RecognitionLevel.UNIT, "1", dt.date(2024, 4, 1), revoked=("9", dt.date(2024, 5, 1))),
     None, "2", "ALREADY_REVOKED"),
])
def test_correction_refusals(decided, level, ref, code):
    reasons = council_rules.check_correction(nomination_id="N1", decided=decided, level=level, decision_ref=ref,
                                             corrected_on=dt.date(2024, 4, 2), today=dt.date(2024, 4, 2))
    assert [r.code for r in reasons] == [code]


def test_replications_count_until_the_revocation_day():
    first = {"U-A": dt.date(2024, 5, 31), "U-B": dt.date(2024, 6, 1)}
    assert council_rules.counted_adopters(["U-A", "U-B", "U-OLD"], first, dt.date(2024, 6, 1)) == ["U-A", "U-OLD"]
