"""The council's inputs: a decision on a completed evaluation, its corrections, and the
revocation of a recognition. Pure decisions over the batch's view (`council_rules` judges).

The evaluation's `decision` keeps what the council decided as it stands now, with every
correction (the values it replaced) and the revocation beside it; the exemplar's document
follows the level and reference, and leaves the recognised lists when revoked. "Today" in the
checks is the input's receive time, never the sender's `time`.
"""

from services.evaluations import council_rules as rules
from services.evaluations import domain
from services.evaluations.council_rules import Decided
from services.evaluations.decisions import EVALUATIONS, EXEMPLARS, derived, make, refuse
from services.evaluations.domain import ExemplarStatus, Status
from services.evaluations.follow_up import new_exemplar
from services.evaluations.scoring import status_of
from shared.days import date, day
from shared.envelope import Event, signed_by
from shared.events import (
    CorrectionRecorded,
    CouncilDecisionRecorded,
    DecisionCorrected,
    ExemplarNotRecognized,
    ExemplarRecognized,
    ExemplarRevoked,
    RevocationRecorded,
)
from shared.unit_of_work import Decision, Needs, Put, View
from shared.vocabulary import Outcome, RecognitionLevel


def needs(nomination_id: str) -> Needs:
    return {EVALUATIONS: [nomination_id], EXEMPLARS: [domain.exemplar_id(nomination_id)]}


def decision_recorded(view: View, event: Event) -> Decision:
    dec: CouncilDecisionRecorded = event.data
    nid = dec.nomination_id
    doc = view.get(EVALUATIONS, nid)
    result = (doc or {}).get("result") or {}
    gate_names = {g["id"]: g["name"] for g in doc["criteria"]["gates"]} if doc else {}
    reasons = rules.check_decision(nomination_id=nid, status=status_of(doc), recognized=dec.recognized,
                                   level=dec.level, gates=result.get("gates", {}), gate_names=gate_names)
    if reasons:
        return refuse(event, reasons, subject=nid)
    exemplar_id = domain.exemplar_id(nid)
    fostering = rules.opens_fostering(False, Outcome(result["outcome"]))
    if dec.recognized:
        data = make(
            ExemplarRecognized, exemplar_id=exemplar_id, nomination_id=nid, unit_id=doc["unit_id"], year=doc["year"],
            field=doc["field"], nominee_name=doc["nominee_name"], nominee_staff_id=doc.get("nominee_staff_id"),
            title=doc["title"], level=dec.level, decision_ref=dec.decision_ref, total=result["total"])
    else:
        data = make(
            ExemplarNotRecognized, exemplar_id=exemplar_id, nomination_id=nid, unit_id=doc["unit_id"], year=doc["year"],
            title=doc["title"], decision_ref=dec.decision_ref, fostering=fostering)
    decision = {"recognized": dec.recognized, "level": dec.level.value if dec.level and dec.recognized else None,
                "decision_ref": dec.decision_ref, "decided_on": day(dec.decided_on), "note": dec.note,
                "at": event.time, "received_at": event.received_at, "sender": signed_by(event),
                "corrections": [], "revocation": None}
    doc = {**doc, "status": Status.DECIDED.value, "decision": decision, "updated_at": event.time}
    changes = [Put(EVALUATIONS, doc)]
    if (dec.recognized or fostering) and view.get(EXEMPLARS, exemplar_id) is None:
        status = ExemplarStatus.RECOGNIZED if dec.recognized else ExemplarStatus.FOSTERING
        changes.append(Put(EXEMPLARS, new_exemplar({
            "_id": exemplar_id, "nomination_id": nid, "unit_id": doc["unit_id"], "year": doc["year"],
            "field": doc["field"], "nominee_kind": doc["nominee_kind"], "nominee_name": doc["nominee_name"],
            "nominee_staff_id": doc.get("nominee_staff_id"), "title": doc["title"], "movement": doc.get("movement"),
            "status": status.value,
            "level": decision["level"], "decision_ref": dec.decision_ref, "decided_on": decision["decided_on"],
            "total": result["total"], "outcome": result["outcome"], "decision_sender": signed_by(event)}, event)))
    return Decision.of(*changes, publish=[derived(data, event, nid)])


def revocation_recorded(view: View, event: Event) -> Decision:
    rev: RevocationRecorded = event.data
    nid = rev.nomination_id
    doc = view.get(EVALUATIONS, nid)
    reasons = rules.check_revocation(nomination_id=nid, decided=decided_of(doc), revoked_on=rev.revoked_on,
                                     today=event.received_at.date())
    if reasons:
        return refuse(event, reasons, subject=nid)
    exemplar = view.get(EXEMPLARS, domain.exemplar_id(nid))
    first_days = {unit: date(on) for unit, on in exemplar.get("adopted_on", {}).items()}
    counted = rules.counted_adopters(exemplar["adopters"], first_days, rev.revoked_on)
    revocation = {"revocation_ref": rev.revocation_ref, "revoked_on": day(rev.revoked_on), "ground": rev.ground.value,
                  "reason": rev.reason, "uncounted": [u for u in exemplar["adopters"] if u not in counted],
                  "at": event.time, "received_at": event.received_at, "sender": signed_by(event)}
    decision = doc["decision"]
    revoked = make(ExemplarRevoked, exemplar_id=exemplar["_id"], nomination_id=nid, unit_id=doc["unit_id"],
                   year=doc["year"], field=doc["field"], nominee_name=doc["nominee_name"],
                   nominee_staff_id=doc.get("nominee_staff_id"), title=doc["title"],
                   level=decision["level"], decision_ref=decision["decision_ref"], revocation_ref=rev.revocation_ref,
                   revoked_on=rev.revoked_on, ground=rev.ground, reason=rev.reason, distinct_units=len(counted))
    return Decision.of(
        Put(EVALUATIONS, {**doc, "decision": {**decision, "revocation": revocation}, "updated_at": event.time}),
        Put(EXEMPLARS, {**exemplar, "status": ExemplarStatus.REVOKED.value, "adopters": counted,
                        "revocation": revocation, "updated_at": event.time}),
        publish=[derived(revoked, event, nid)])


def correction_recorded(view: View, event: Event) -> Decision:
    cor: CorrectionRecorded = event.data
    nid = cor.nomination_id
    doc = view.get(EVALUATIONS, nid)
    decided = decided_of(doc)
    reasons = rules.check_correction(nomination_id=nid, decided=decided, level=cor.level,
                                     decision_ref=cor.decision_ref, corrected_on=cor.corrected_on,
                                     today=event.received_at.date())
    if reasons:
        return refuse(event, reasons, subject=nid)
    level = cor.level or decided.level
    ref = cor.decision_ref or decided.decision_ref
    entry = {"number": decided.corrections + 1, "level": level.value if level else None,
             "previous_level": decided.level.value if decided.level else None, "decision_ref": ref,
             "previous_decision_ref": decided.decision_ref, "corrected_on": day(cor.corrected_on),
             "reason": cor.reason, "at": event.time, "received_at": event.received_at, "sender": signed_by(event)}
    decision = {**doc["decision"], "level": entry["level"], "decision_ref": ref,
                "corrections": [*doc["decision"].get("corrections", []), entry]}
    changes = [Put(EVALUATIONS, {**doc, "decision": decision, "updated_at": event.time})]
    exemplar_id = domain.exemplar_id(nid)
    if (exemplar := view.get(EXEMPLARS, exemplar_id)) is not None:  # none for a plain refusal
        changes.append(Put(EXEMPLARS, {**exemplar, "level": entry["level"], "decision_ref": ref,
                                       "corrections_count": entry["number"], "updated_at": event.time}))
    corrected = make(DecisionCorrected, exemplar_id=exemplar_id, nomination_id=nid, unit_id=doc["unit_id"],
                     year=doc["year"], title=doc["title"], recognized=decided.recognized, level=level,
                     previous_level=decided.level, decision_ref=ref, previous_decision_ref=decided.decision_ref,
                     corrected_on=cor.corrected_on, reason=cor.reason, number=entry["number"])
    return Decision.of(*changes, publish=[derived(corrected, event, nid)])


def decided_of(doc: dict | None) -> Decided | None:
    if doc is None or status_of(doc) is not Status.DECIDED:
        return None
    decision = doc["decision"]
    revocation = decision.get("revocation")
    return Decided(doc["_id"], decision["recognized"],
                   RecognitionLevel(decision["level"]) if decision.get("level") else None,
                   decision["decision_ref"], date(decision["decided_on"]),
                   (revocation["revocation_ref"], date(revocation["revoked_on"])) if revocation else None,
                   len(decision.get("corrections", [])))
