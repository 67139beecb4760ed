"""Following exemplars after the council: periodic reviews, replications, study visits.

This is the part of the plan no judging product covers: an exemplar is only worth its
spread. Every report is one document of its own (`reviews`, `replications`, `visits`), and
the exemplar's document (or fostering record's) keeps the running figures the API shows and
the events report: counters, the adopting units (at most every unit of the directory), the
latest review's trend. Nothing in it grows with the number of reports.

Pure decisions over the batch's view; "today" in the checks is the report's receive time,
never the sender's `time`.
"""

from services.evaluations import exemplar_rules as rules
from services.evaluations.decisions import (
    EXEMPLARS,
    REPLICATIONS,
    REVIEWS,
    VISITS,
    derived,
    make,
    refuse,
    review_id,
)
from services.evaluations.directory import unit_periods
from services.evaluations.domain import ExemplarStatus
from services.evaluations.exemplar_rules import Exemplar
from shared.days import day
from shared.envelope import Event, signed_by
from shared.events import (
    ExemplarReplicated,
    ReplicationReported,
    ReviewRecorded,
    ReviewReported,
    SupportNeeded,
    VisitReported,
)
from shared.unit_of_work import Decision, Put, View


def review_reported(view: View, event: Event) -> Decision:
    rep: ReviewReported = event.data
    doc = view.get(EXEMPLARS, rep.exemplar_id)
    reasons = rules.check_review(exemplar_id=rep.exemplar_id, exemplar=as_exemplar(doc), period=rep.period,
                                 new_adopting_units=rep.new_adopting_units, units=unit_periods(view))
    if reasons:
        return refuse(event, reasons, subject=rep.exemplar_id, sender=rep.reported_by)
    needs = rules.support_needed(needs_support=rep.needs_support, support_requested=rep.support_requested,
                                 trend=rep.trend)
    review = {"_id": review_id(doc["_id"], rep.period), "exemplar_id": doc["_id"], "period": rep.period,
              "influence": rep.influence, "trend": rep.trend.value,
              "new_adopting_units": list(rep.new_adopting_units), "study_visits": rep.study_visits,
              "difficulties": rep.difficulties, "needs_support": needs,
              "support_requested": rep.support_requested, "reported_by": rep.reported_by,
              "at": event.time, "received_at": event.received_at, "event_id": event.id, "sender": signed_by(event)}
    # A second report for a period corrects the first (the same document): the period counts once.
    previous = view.get(REVIEWS, review["_id"])
    reported = doc["review_visits"] + rep.study_visits - (previous["study_visits"] if previous else 0)
    adopters = rules.adopters_after(doc["adopters"], rep.new_adopting_units)
    visits = rules.study_visits_total(reported, doc["visits_count"])
    # A review says which period a unit started in, not the day: the day the review arrived.
    first_days = rules.first_days(doc.get("adopted_on", {}), rep.new_adopting_units, day(event.received_at.date()))
    exemplar = {**doc, "adopters": adopters, "adopted_on": first_days, "review_visits": reported,
                "study_visits": visits, "reviews_count": doc["reviews_count"] + (0 if previous else 1),
                "trend": rep.trend.value, "needs_support": needs, "last_review": rep.period, "updated_at": event.time}
    output = [derived(make(ReviewRecorded, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                           period=rep.period, influence=rep.influence, trend=rep.trend,
                           adopting_units=len(adopters), study_visits=visits, needs_support=needs),
                      event, doc["_id"])]
    if needs:
        output.append(derived(make(SupportNeeded, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                                   period=rep.period, trend=rep.trend, support_requested=rep.support_requested,
                                   difficulties=rep.difficulties),
                              event, doc["_id"]))
    return Decision.of(Put(EXEMPLARS, exemplar), Put(REVIEWS, review), publish=output)


def replication_reported(view: View, event: Event) -> Decision:
    rep: ReplicationReported = event.data
    doc = view.get(EXEMPLARS, rep.exemplar_id)
    reasons = rules.check_replication(exemplar_id=rep.exemplar_id, exemplar=as_exemplar(doc),
                                      adopting_unit_id=rep.adopting_unit_id, applied_on=rep.applied_on,
                                      units=unit_periods(view), today=event.received_at.date())
    if reasons:
        return refuse(event, reasons, subject=rep.exemplar_id, sender=rep.reported_by)
    adopters = rules.adopters_after(doc["adopters"], [rep.adopting_unit_id])
    n = doc["replications_count"] + 1
    entry = {"_id": event.dedup_key, "exemplar_id": doc["_id"], "n": n, "adopting_unit_id": rep.adopting_unit_id,
             "applied_on": day(rep.applied_on), "description": rep.description, "reported_by": rep.reported_by,
             "at": event.time, "received_at": event.received_at, "event_id": event.id, "sender": signed_by(event)}
    replicated = make(ExemplarReplicated, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                      adopting_unit_id=rep.adopting_unit_id, distinct_units=len(adopters),
                      new_unit=rep.adopting_unit_id not in doc["adopters"])
    first_days = rules.first_days(doc.get("adopted_on", {}), [rep.adopting_unit_id], day(rep.applied_on))
    exemplar = {**doc, "adopters": adopters, "adopted_on": first_days, "replications_count": n,
                "updated_at": event.time}
    return Decision.of(Put(EXEMPLARS, exemplar), Put(REPLICATIONS, entry),
                       publish=[derived(replicated, event, doc["_id"])])


def visit_reported(view: View, event: Event) -> Decision:
    visit: VisitReported = event.data
    doc = view.get(EXEMPLARS, visit.exemplar_id)
    reasons = rules.check_visit(exemplar_id=visit.exemplar_id, exemplar=as_exemplar(doc),
                                visiting_unit_id=visit.visiting_unit_id, visited_on=visit.visited_on,
                                units=unit_periods(view), today=event.received_at.date())
    if reasons:
        return refuse(event, reasons, subject=visit.exemplar_id)
    n = doc["visits_count"] + 1
    entry = {"_id": event.dedup_key, "exemplar_id": doc["_id"], "n": n, "visiting_unit_id": visit.visiting_unit_id,
             "visited_on": day(visit.visited_on), "participants": visit.participants, "note": visit.note,
             "at": event.time, "received_at": event.received_at, "event_id": event.id, "sender": signed_by(event)}
    # Recorded only: the design has no event for a visit; the next review reports the total.
    exemplar = {**doc, "visits_count": n, "study_visits": rules.study_visits_total(doc["review_visits"], n),
                "updated_at": event.time}
    return Decision.of(Put(EXEMPLARS, exemplar), Put(VISITS, entry))


def as_exemplar(doc: dict | None) -> Exemplar | None:
    return Exemplar(doc["_id"], doc["unit_id"], doc["year"], ExemplarStatus(doc["status"])) if doc else None


def new_exemplar(doc: dict, event: Event) -> dict:
    """An exemplar or fostering record as the council's decision opens it: counters, not lists."""
    return {**doc, "adopters": [], "reviews_count": 0, "review_visits": 0, "replications_count": 0,
            "visits_count": 0, "study_visits": 0, "created_at": event.time, "updated_at": event.time}
