"""Thin handlers: gather what the rules need from the store, decide, record, answer."""

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from services.nominations import domain
from services.nominations.domain import Status, SubmissionContext
from services.nominations.store import NominationStore, as_nomination
from shared import topics
from shared.envelope import Event, new_event
from shared.events import (
    EvaluationCompleted,
    ExemplarNotRecognized,
    ExemplarRecognized,
    NominationAccepted,
    NominationRejected,
    NominationSubmitted,
    NominationWithdrawn,
    QuotaShortfall,
    WithdrawalRejected,
)
from shared.programme import Programme

SOURCE = "urn:exemplars:nominations"
log = logging.getLogger("exemplars.nominations")
Handler = Callable[[Event], Awaitable[list[Event]]]


class Handlers:
    def __init__(self, store: NominationStore, programme: Programme) -> None:
        self.store = store
        self.programme = programme

    def by_topic(self) -> dict[str, dict[str, Handler]]:
        """What the service consumes: the live consumers and a rebuild route the same way."""
        return {
            topics.NOMINATIONS_INTAKE: {"nomination.submitted": self.submitted, "nomination.withdrawn": self.withdrawn},
            topics.DIRECTORY: {"unit.registered": self.unit_registered, "staff.registered": self.staff_registered,
                               "staff.removed": self.staff_removed},
            topics.EVALUATIONS: {"evaluation.completed": self.evaluation_completed,
                                 "exemplar.recognized": self.recognized, "exemplar.not_recognized": self.not_recognized},
        }

    # ---- intake ----------------------------------------------------------------------------

    async def submitted(self, event: Event) -> list[Event]:
        sub: NominationSubmitted = event.data
        existing = await self.store.nomination(sub.nomination_id)
        if (answer := await self.store.answer_to(existing, event)) is not None:
            return answer
        key = domain.nominee_key(sub)
        ctx = SubmissionContext(
            unit=await self.store.unit(sub.unit_id),
            submitter=await self.store.staff_member(sub.submitter_id),
            nominee_staff=await self.store.staff_member(sub.nominee.staff_id),
            held_places=await self.store.held_places(sub.unit_id, sub.year, excluding=sub.nomination_id),
            nominee_held_by=await self.store.nominee_holder(sub.year, key, excluding=sub.nomination_id),
            # A refused nomination may be corrected and sent again under the same id.
            id_taken=existing is not None and existing["status"] != Status.REJECTED,
        )
        reasons = domain.check_submission(sub, ctx, self.programme)
        if ctx.id_taken:
            # The live nomination under this id is not ours to touch: the refusal is kept on its own.
            answer = self._rejected(event, reasons)
            await self.store.keep_answer(event, [answer])
            return [answer]
        if not reasons:
            reasons = await self._reserve(sub, key)
        if reasons:
            answer = self._rejected(event, reasons)
            await self.store.record_submission(event, Status.REJECTED, key, reasons, answer)
            return [answer]
        held = await self.store.held_places(sub.unit_id, sub.year, excluding="")
        answer = new_event(
            NominationAccepted(**sub.model_dump(), accepted_in_year=held, yearly_maximum=self.programme.yearly_maximum),
            key=sub.nomination_id, source=SOURCE, derived_from=event)
        await self.store.record_submission(event, Status.ACCEPTED, key, [], answer)
        return [answer]

    async def _reserve(self, sub: NominationSubmitted, key: str) -> list:
        """Claim the nominee, then a place; a race lost to another instance becomes a refusal."""
        if other := await self.store.claim_nominee(sub.year, key, sub.nomination_id):
            return [domain.nominee_taken(sub, other)]
        if not await self.store.take_place(sub.unit_id, sub.year, sub.nomination_id, self.programme.yearly_maximum):
            await self.store.release(sub.nomination_id)
            held = await self.store.held_places(sub.unit_id, sub.year, excluding=sub.nomination_id)
            return [domain.quota_exceeded(sub, held, self.programme.yearly_maximum)]
        return []

    def _rejected(self, event: Event, reasons: list) -> Event:
        sub: NominationSubmitted = event.data
        return new_event(NominationRejected(nomination_id=sub.nomination_id, unit_id=sub.unit_id, year=sub.year,
                                            submitter_id=sub.submitter_id, title=sub.title, reasons=reasons),
                         key=sub.nomination_id, source=SOURCE, derived_from=event)

    async def withdrawn(self, event: Event) -> list[Event]:
        req: NominationWithdrawn = event.data
        doc = await self.store.nomination(req.nomination_id)
        if (answer := await self.store.answer_to(doc, event)) is not None:
            return answer
        reasons = domain.check_withdrawal(req, as_nomination(doc), await self.store.staff_member(req.requested_by))
        if reasons:
            answer = new_event(WithdrawalRejected(nomination_id=req.nomination_id, unit_id=req.unit_id,
                                                  requested_by=req.requested_by, reasons=reasons),
                               key=req.nomination_id, source=SOURCE, derived_from=event)
            # The nomination does not change: a refusal is kept beside it, never in it (requests
            # refused one after another would otherwise grow its document without bound).
            await self.store.keep_answer(event, [answer])
            return [answer]
        # Free the place first: if we crash before the status changes, the retry frees it again.
        await self.store.release(req.nomination_id)
        answer = new_event(NominationWithdrawn(nomination_id=req.nomination_id, unit_id=req.unit_id,
                                               requested_by=req.requested_by, reason=req.reason, year=doc["year"],
                                               title=doc["submission"]["title"]),
                           key=req.nomination_id, source=SOURCE, derived_from=event)
        await self.store.record_answer(req.nomination_id, event, [answer], {"status": Status.WITHDRAWN.value})
        return [answer]

    # ---- directory -------------------------------------------------------------------------

    async def unit_registered(self, event: Event) -> list[Event]:
        await self.store.apply_unit(event)
        return []

    async def staff_registered(self, event: Event) -> list[Event]:
        await self.store.apply_staff(event)
        return []

    async def staff_removed(self, event: Event) -> list[Event]:
        await self.store.remove_staff(event)
        return []

    # ---- evaluation outcomes ---------------------------------------------------------------

    async def evaluation_completed(self, event: Event) -> list[Event]:
        done: EvaluationCompleted = event.data
        await self.store.set_evaluation_state(done.nomination_id, {"evaluation": {
            "outcome": done.outcome.value, "total": done.total, "divergent": done.divergent}})
        return []

    async def recognized(self, event: Event) -> list[Event]:
        rec: ExemplarRecognized = event.data
        await self.store.set_evaluation_state(rec.nomination_id, {
            "status": Status.RECOGNIZED.value, "decision": {"level": rec.level.value, "ref": rec.decision_ref}})
        return []

    async def not_recognized(self, event: Event) -> list[Event]:
        dec: ExemplarNotRecognized = event.data
        await self.store.set_evaluation_state(dec.nomination_id, {
            "status": Status.NOT_RECOGNIZED.value, "decision": {"ref": dec.decision_ref, "fostering": dec.fostering}})
        return []

    # ---- yearly shortfall ------------------------------------------------------------------

    async def shortfalls(self, today: dt.date) -> list[Event]:
        """Decide the shortfalls due by `today` (once per unit and year) and return all not yet published."""
        years = domain.shortfall_due(today, self.programme)
        units = await self.store.all_units() if years else []
        for year in years:
            held = await self.store.held_by_unit(year)
            for unit, count in domain.units_short(year, units, held, self.programme):
                if await self.store.shortfall_recorded(unit.unit_id, year):
                    continue
                event = new_event(QuotaShortfall(unit_id=unit.unit_id, year=year, accepted=count,
                                                 yearly_minimum=self.programme.yearly_minimum, checked_on=today),
                                  key=unit.unit_id, source=SOURCE, id_parts=(unit.unit_id, str(year)))
                await self.store.add_shortfall(unit.unit_id, year, event)
        return await self.store.unpublished_shortfalls()
