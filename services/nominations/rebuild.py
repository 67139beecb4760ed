"""Rebuild the nominations projection from the log, in memory (see shared/replay.py).

The service's own handlers run through the same unit of work as live, over memory
(`shared.documents.MemoryDocuments`); each answer is pinned to the logged event of the same
id. Who won the last place of a unit's year depended on how the live instances interleaved
partitions, which the log does not keep: the handlers are told the answer the log holds
(`Nominations.settled`), so a submission accepted live finds its place and its nominee
free, and one refused records the published reasons. The yearly shortfalls are decided by
a schedule, not by an input, so they come straight from the logged events.
"""

from services.nominations.handlers import NOMINATIONS, QUOTAS, STAFF, UNITS, Nominations
from services.nominations.settings import NominationsSettings
from services.nominations.store import shortfall_document
from shared import replay
from shared.envelope import Event, derived_id
from shared.events import NominationAccepted, NominationRejected, QuotaShortfall
from shared.programme import load_programme
from shared.replay import Answers, Comparison, Logged
from shared.unit_of_work import ANSWERS

COMPARISON: dict[str, Comparison] = {
    UNITS: Comparison(),
    STAFF: Comparison(),
    # `updated_at` is the time of the last input applied.
    NOMINATIONS: Comparison(ignore=frozenset({"updated_at"})),
    ANSWERS: Comparison(),
    # Holders in the order they came: partitions interleave differently in a replay.
    QUOTAS: Comparison(unordered=frozenset({"holders"})),
    "nominee_claims": Comparison(),
    "shortfalls": Comparison(),
}


def settled_by(answers: Answers):
    """The answer the log holds for a submission, accepted or refused."""
    def settled(event: Event) -> Event | None:
        for kind in (NominationAccepted, NominationRejected):
            if (logged := answers.by_id.get(derived_id(event.dedup_key, kind.event_type))) is not None:
                return logged
        return None
    return settled


async def rebuild(inputs: list[Logged], answers: Answers, settings: NominationsSettings) -> dict[str, list[dict]]:
    handlers = Nominations(load_programme(settings.programme_file), settled=settled_by(answers))
    documents = await replay.run(inputs, handlers, answers)
    for event in answers.of_type(QuotaShortfall.event_type):
        documents.put("shortfalls", shortfall_document(event, published=True))
    return documents.documents()
