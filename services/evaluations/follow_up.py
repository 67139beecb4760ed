"""Following exemplars after the council: periodic reviews, replications, study visits.

This is the part of the plan no judging product covers: an exemplar is only worth its
spread, so every report updates one document per exemplar (or fostering record) with
the running figures the API shows and the events report.
"""

from typing import Any

from services.evaluations import exemplar_rules as rules
from services.evaluations.decisions import Decision, decide_once, derived, make
from services.evaluations.store import EvaluationStore, as_exemplar, day
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
            review = {"period": rep.period, "influence": rep.influence, "trend": rep.trend.value,
                      "new_adopting_units": list(rep.new_adopting_units), "study_visits": rep.study_visits,
                      "difficulties": rep.difficulties, "needs_support": needs,
                      "support_requested": rep.support_requested, "reported_by": rep.reported_by,
                      "at": event.time, "event_id": event.id}
            # A second report for a period corrects the first: the period counts once.
            reviews = sorted([r for r in doc["reviews"] if r["period"] != rep.period] + [review],
                             key=lambda r: r["period"])
            adopters = rules.adopters_after(doc["adopters"], rep.new_adopting_units)
            visits = _visits_total(reviews, doc["visits"])
            changes = {"reviews": reviews, "adopters": adopters, "study_visits": visits, "trend": rep.trend.value,
                       "needs_support": needs, "last_review": rep.period}
            output = [derived(make(ReviewRecorded, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                                   period=rep.period, influence=rep.influence, trend=rep.trend,
                                   adopting_units=len(adopters), study_visits=visits, needs_support=needs),
                              event, doc["_id"])]
            if needs:
                output.append(derived(make(SupportNeeded, exemplar_id=doc["_id"], unit_id=doc["unit_id"],
                                           title=doc["title"], period=rep.period, trend=rep.trend,
                                           support_requested=rep.support_requested, difficulties=rep.difficulties),
                                      event, doc["_id"]))
            return Decision(output, changes)

        return await decide_once(self.store, self.store.exemplars, rep.exemplar_id, event, decide,
                                 subject=rep.exemplar_id, sender=rep.reported_by)

    async def replication_reported(self, event: Event) -> list[Event]:
        rep: ReplicationReported = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = rules.check_replication(exemplar_id=rep.exemplar_id, exemplar=as_exemplar(doc),
                                               adopting_unit_id=rep.adopting_unit_id, applied_on=rep.applied_on,
                                               units=await self.store.unit_periods(), today=event.time.date())
            if reasons:
                return Decision(reasons=reasons)
            adopters = rules.adopters_after(doc["adopters"], [rep.adopting_unit_id])
            entry = {"adopting_unit_id": rep.adopting_unit_id, "applied_on": day(rep.applied_on),
                     "description": rep.description, "reported_by": rep.reported_by, "at": event.time,
                     "event_id": event.id}
            replicated = make(ExemplarReplicated, exemplar_id=doc["_id"], unit_id=doc["unit_id"], title=doc["title"],
                              adopting_unit_id=rep.adopting_unit_id, distinct_units=len(adopters),
                              new_unit=rep.adopting_unit_id not in doc["adopters"])
            return Decision([derived(replicated, event, doc["_id"])],
                            {"adopters": adopters, "replications": doc["replications"] + [entry]})

        return await decide_once(self.store, self.store.exemplars, rep.exemplar_id, event, decide,
                                 subject=rep.exemplar_id, sender=rep.reported_by)

    async def visit_reported(self, event: Event) -> list[Event]:
        visit: VisitReported = event.data

        async def decide(doc: dict | None) -> Decision:
            reasons = rules.check_visit(exemplar_id=visit.exemplar_id, exemplar=as_exemplar(doc),
                                         visiting_unit_id=visit.visiting_unit_id, visited_on=visit.visited_on,
                                         units=await self.store.unit_periods(), today=event.time.date())
            if reasons:
                return Decision(reasons=reasons)
            entry = {"visiting_unit_id": visit.visiting_unit_id, "visited_on": day(visit.visited_on),
                     "participants": visit.participants, "note": visit.note, "at": event.time, "event_id": event.id}
            visits = doc["visits"] + [entry]
            # Recorded only: the design has no event for a visit; the next review reports the total.
            return Decision([], {"visits": visits, "study_visits": _visits_total(doc["reviews"], visits)})

        return await decide_once(self.store, self.store.exemplars, visit.exemplar_id, event, decide,
                                 subject=visit.exemplar_id)


def _visits_total(reviews: list[dict[str, Any]], visits: list[dict[str, Any]]) -> int:
    return rules.study_visits_total({r["period"]: r["study_visits"] for r in reviews}, len(visits))
