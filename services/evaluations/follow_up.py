"""Following exemplars after the council: periodic reviews, replications, study visits.

This is the part of the plan no judging product covers: an exemplar is only worth its
spread. Every report is one document of its own (`reviews`, `replications`, `visits`), and
the exemplar's document (or fostering record's) keeps the running figures the API shows and
the events report: counters, the adopting units (at most every unit of the directory), the
latest review's trend. Nothing in it grows with the number of reports.

"Today" in the checks is the report's receive time, never the sender's `time`.
"""

from services.evaluations import exemplar_rules as rules
from services.evaluations.decisions import Decision, decide_once, derived, make
from services.evaluations.store import EvaluationStore, as_exemplar, day, record, review_id
from shared.envelope import Event
from shared.events import (
    ExemplarReplicated,
    ReplicationReported,
    ReviewRecorded,
    ReviewReported,
    SupportNeeded,
    VisitReported,
)


class FollowUp:
    def __init__(self, store: EvaluationStore) -> None:
        self.store = store

    async def review_reported(self, event: Event) -> list[Event]:
        rep: ReviewReported = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = rules.check_review(exemplar_id=rep.exemplar_id, exemplar=as_exemplar(doc), period=rep.period,
                                          new_adopting_units=rep.new_adopting_units,
                                          units=await self.store.unit_periods())
            if reasons:
                return Decision(reasons=reasons)
            needs = rules.support_needed(needs_support=rep.needs_support, support_requested=rep.support_requested,
                                          trend=rep.trend)
            review = {"_id": review_id(doc["_id"], rep.period), "exemplar_id": doc["_id"], "period": rep.period,
                      "influence": rep.influence, "trend": rep.trend.value,
                      "new_adopting_units": list(rep.new_adopting_units), "study_visits": rep.study_visits,
                      "difficulties": rep.difficulties, "needs_support": needs,
                      "support_requested": rep.support_requested, "reported_by": rep.reported_by,
                      "at": event.time, "received_at": event.received_at, "event_id": event.id}
            # A second report for a period corrects the first: the period counts once. Every
            # earlier report of this exemplar was written before this one is decided (one
            # partition, each input settled before the next: `EvaluationStore.settle`).
            previous = await self.store.review(doc["_id"], rep.period)
            reported = doc["review_visits"] + rep.study_visits - (previous["study_visits"] if previous else 0)
            adopters = rules.adopters_after(doc["adopters"], rep.new_adopting_units)
            visits = rules.study_visits_total(reported, doc["visits_count"])
            changes = {"adopters": adopters, "review_visits": reported, "study_visits": visits,
                       "reviews_count": doc["reviews_count"] + (0 if previous else 1),
                       "trend": rep.trend.value, "needs_support": needs, "last_review": rep.period}
            output = [derived(make(ReviewRecorded, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                                   period=rep.period, influence=rep.influence, trend=rep.trend,
                                   adopting_units=len(adopters), study_visits=visits, needs_support=needs),
                              event, doc["_id"])]
            if needs:
                output.append(derived(make(SupportNeeded, exemplar_id=doc["_id"], unit_id=doc["unit_id"],
                                           title=doc["title"], period=rep.period, trend=rep.trend,
                                           support_requested=rep.support_requested, difficulties=rep.difficulties),
                                      event, doc["_id"]))
            return Decision(output, changes, records=[record("reviews", review, replaces=True)])

        return await decide_once(self.store, self.store.exemplars, rep.exemplar_id, event, decide,
                                 subject=rep.exemplar_id, sender=rep.reported_by)

    async def replication_reported(self, event: Event) -> list[Event]:
        rep: ReplicationReported = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = rules.check_replication(exemplar_id=rep.exemplar_id, exemplar=as_exemplar(doc),
                                               adopting_unit_id=rep.adopting_unit_id, applied_on=rep.applied_on,
                                               units=await self.store.unit_periods(),
                                               today=event.received_at.date())
            if reasons:
                return Decision(reasons=reasons)
            adopters = rules.adopters_after(doc["adopters"], [rep.adopting_unit_id])
            n = doc["replications_count"] + 1
            entry = {"_id": event.dedup_key, "exemplar_id": doc["_id"], "n": n,
                     "adopting_unit_id": rep.adopting_unit_id, "applied_on": day(rep.applied_on),
                     "description": rep.description, "reported_by": rep.reported_by, "at": event.time,
                     "received_at": event.received_at, "event_id": event.id}
            replicated = make(ExemplarReplicated, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                              adopting_unit_id=rep.adopting_unit_id, distinct_units=len(adopters),
                              new_unit=rep.adopting_unit_id not in doc["adopters"])
            return Decision([derived(replicated, event, doc["_id"])], {"adopters": adopters, "replications_count": n},
                            records=[record("replications", entry)])

        return await decide_once(self.store, self.store.exemplars, rep.exemplar_id, event, decide,
                                 subject=rep.exemplar_id, sender=rep.reported_by)

    async def visit_reported(self, event: Event) -> list[Event]:
        visit: VisitReported = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = rules.check_visit(exemplar_id=visit.exemplar_id, exemplar=as_exemplar(doc),
                                         visiting_unit_id=visit.visiting_unit_id, visited_on=visit.visited_on,
                                         units=await self.store.unit_periods(), today=event.received_at.date())
            if reasons:
                return Decision(reasons=reasons)
            n = doc["visits_count"] + 1
            entry = {"_id": event.dedup_key, "exemplar_id": doc["_id"], "n": n,
                     "visiting_unit_id": visit.visiting_unit_id, "visited_on": day(visit.visited_on),
                     "participants": visit.participants, "note": visit.note, "at": event.time,
                     "received_at": event.received_at, "event_id": event.id}
            # Recorded only: the design has no event for a visit; the next review reports the total.
            return Decision([], {"visits_count": n, "study_visits": rules.study_visits_total(doc["review_visits"], n)},
                            records=[record("visits", entry)])

        return await decide_once(self.store, self.store.exemplars, visit.exemplar_id, event, decide,
                                 subject=visit.exemplar_id)
