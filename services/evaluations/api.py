"""Read endpoints of the evaluations projection.

Score sheets stay private while an evaluation is open (evaluators judge independently);
the API says who has scored, and the per-criterion breakdown once the panel is done.

Who reads what (shared/readers.py):
- operators: everything, always;
- the ministry office: every evaluation; its panel and the evaluators' totals once complete;
- a unit: its own evaluations, never the evaluators' names (their totals without them);
- an evaluator: the evaluations they are on the panel of, only their own place on it until
  the panel is done;
- a recusal's reason: operators and the evaluator who gave it;
- a divergent panel's discussion: its dates and size to every reader of the evaluation; what
  was said to its members, and to the others once the panel is done, by whom only where the
  names are shown;
- recognised exemplars, and revoked ones: anyone signed in (a recognition was published to
  every unit, and so is its revocation); fostering records: the programme's readers and the unit.

An exemplar's follow-up history can be long (every study visit is a report): its page shows
the totals and the latest `HISTORY_SHOWN` reports of each kind, oldest first; the whole
history is paged through `/exemplars/{id}/reviews|replications|visits`.
"""

from enum import StrEnum
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query

from services.evaluations.criteria import CriteriaError, CriteriaRegistry
from services.evaluations.domain import ExemplarStatus, Status
from services.evaluations.store import EvaluationStore
from shared.days import date
from shared.http import Lifespan, Readiness, service_api
from shared.readers import ReadAccess, Reader, not_found
from shared.vocabulary import Field, NomineeKind, RecognitionLevel

HISTORY_SHOWN = 100


class HistoryKind(StrEnum):
    REVIEWS = "reviews"
    REPLICATIONS = "replications"
    VISITS = "visits"


# Panels and scores are shown once the panel is done; a cancelled evaluation never was.
DONE = {Status.COMPLETED.value, Status.DECIDED.value}
PUBLIC = {ExemplarStatus.RECOGNIZED.value, ExemplarStatus.REVOKED.value}


def create_api(store: EvaluationStore, registry: CriteriaRegistry, access: ReadAccess, readiness: Readiness,
               lifespan: Lifespan) -> FastAPI:
    api = service_api("evaluations", readiness, lifespan)

    @api.get("/evaluations")
    async def evaluations(year: int | None = None, unit_id: str | None = None, status: Status | None = None,
                          limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                          reader: Reader = Depends(access)) -> list[dict[str, Any]]:
        if unit_id:
            reader.require(reader.reads_unit(unit_id))
            units = {unit_id}
        else:
            reader.require(reader.programme or bool(reader.units))
            units = None if reader.programme else reader.units
        docs = await store.find_evaluations(year=year, units=units, status=status.value if status else None,
                                            limit=limit, offset=offset)
        return [_evaluation(doc, reader) for doc in docs]

    @api.get("/assignments")
    async def assignments(status: Status | None = None, limit: int = Query(100, ge=1, le=1000),
                          offset: int = Query(0, ge=0), reader: Reader = Depends(access)) -> list[dict[str, Any]]:
        """The evaluations the reader's evaluators are on the panel of."""
        reader.require(bool(reader.evaluators))
        docs = await store.find_evaluations(year=None, status=status.value if status else None, limit=limit,
                                            offset=offset, evaluators=reader.evaluators)
        return [_evaluation(doc, reader) for doc in docs]

    @api.get("/evaluations/{nomination_id}")
    async def evaluation(nomination_id: str, reader: Reader = Depends(access)) -> dict[str, Any]:
        doc = await store.evaluation(nomination_id)
        if doc is None or not (reader.reads_unit(doc["unit_id"]) or _seat(doc, reader)):
            raise not_found(reader, f"no evaluation for nomination {nomination_id}")
        return _evaluation(doc, reader)

    @api.get("/exemplars")
    async def exemplars(year: int | None = None, field: Field | None = None, level: RecognitionLevel | None = None,
                        status: ExemplarStatus = ExemplarStatus.RECOGNIZED,
                        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                        reader: Reader = Depends(access)) -> list[dict[str, Any]]:
        units = None if status.value in PUBLIC or reader.programme else reader.units
        docs = await store.find_exemplars(year=year, field=field.value if field else None,
                                          level=level.value if level else None, status=status.value,
                                          limit=limit, offset=offset, units=units)
        return [_exemplar(doc) for doc in docs]

    async def readable_exemplar(exemplar_id: str, reader: Reader) -> dict[str, Any]:
        doc = await store.exemplar(exemplar_id)
        if doc is None or not (doc["status"] in PUBLIC or reader.reads_unit(doc["unit_id"])):
            raise not_found(reader, f"no exemplar or fostering record {exemplar_id}")
        return doc

    @api.get("/exemplars/{exemplar_id}")
    async def exemplar(exemplar_id: str, reader: Reader = Depends(access)) -> dict[str, Any]:
        doc = await readable_exemplar(exemplar_id, reader)
        view = _exemplar(doc)
        for kind in HistoryKind:
            view[kind.value] = await store.history(exemplar_id, kind.value, limit=HISTORY_SHOWN, latest=True)
        view["fostering"] = doc["status"] == ExemplarStatus.FOSTERING.value
        view["revoked"] = doc["status"] == ExemplarStatus.REVOKED.value
        view["history_shown"] = HISTORY_SHOWN
        return view

    @api.get("/exemplars/{exemplar_id}/{kind}")
    async def exemplar_history(exemplar_id: str, kind: HistoryKind, limit: int = Query(100, ge=1, le=1000),
                               offset: int = Query(0, ge=0), reader: Reader = Depends(access)) -> dict[str, Any]:
        doc = await readable_exemplar(exemplar_id, reader)
        return {"exemplar_id": exemplar_id, "total": _totals(doc)[kind.value], "offset": offset,
                kind.value: await store.history(exemplar_id, kind.value, limit=limit, offset=offset)}

    @api.get("/criteria/{field}/{kind}")
    async def criteria(field: Field, kind: NomineeKind, _: Reader = Depends(access)) -> dict[str, Any]:
        try:
            current = registry.for_(field, kind)
        except CriteriaError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {**current.snapshot(), "fingerprint": current.fingerprint}

    return api


def _seat(doc: dict[str, Any], reader: Reader) -> set[str]:
    """The reader's evaluators on this evaluation's panel, or who recused from it."""
    members = set(doc["panel"]) | {r["evaluator_id"] for r in doc["recused"]}
    return members & reader.evaluators


def _evaluation(doc: dict[str, Any], reader: Reader) -> dict[str, Any]:
    scored = {s["evaluator_id"]: s["at"] for s in doc.get("sheets", [])}
    view = {
        "nomination_id": doc["_id"], "status": doc["status"], "unit_id": doc["unit_id"], "year": doc["year"],
        "field": doc["field"], "nominee_kind": doc["nominee_kind"], "nominee_name": doc["nominee_name"],
        "title": doc["title"], "criteria": doc["criteria_ref"], "panel_size": doc["panel_size"],
        "deadline": doc["deadline"].date().isoformat() if doc.get("deadline") else None,
        "panel": [{"evaluator_id": member, "scored": member in scored, "scored_at": scored.get(member)}
                  for member in doc["panel"]],
        "recused": [{k: r.get(k) for k in ("evaluator_id", "reason", "at", "replacement_id", "sender")}
                    for r in doc["recused"]],
        "vacancies": len(doc.get("vacancies", [])),
        "result": doc.get("result"), "decision": doc.get("decision"),
        "created_at": doc.get("created_at"), "updated_at": doc.get("updated_at"),
    }
    if discussion := doc.get("discussion"):
        view["discussion"] = _discussion(discussion)
    if "sheets" in doc:
        view["scored"] = sum(1 for member in doc["panel"] if member in scored)
    else:  # listing: the panel's progress is enough
        view["panel"] = [{"evaluator_id": member} for member in doc["panel"]]
    return view if reader.operator else _as_seen_by(view, doc, reader)


def _as_seen_by(view: dict[str, Any], doc: dict[str, Any], reader: Reader) -> dict[str, Any]:
    """What a reader other than an operator sees of an evaluation (the module's docstring):
    `panel` and `recused` are None where the names are hidden."""
    seat = _seat(doc, reader)
    if doc["status"] in DONE and (seat or reader.programme):
        names = set(doc["panel"]) | {r["evaluator_id"] for r in doc["recused"]}
    else:
        names = seat
    if not names:
        _discussion_as_seen(view, doc, seat, names)
        view["panel"] = view["recused"] = None
        if view["result"]:  # the totals without who gave them
            view["result"] = {**view["result"], "evaluator_totals": sorted(view["result"]["evaluator_totals"].values())}
        return view
    _discussion_as_seen(view, doc, seat, names)
    view["panel"] = [member for member in view["panel"] if member["evaluator_id"] in names]
    view["recused"] = [{**r, "reason": r["reason"] if r["evaluator_id"] in seat else None,
                        "replacement_id": r["replacement_id"] if r["replacement_id"] in names else None}
                       for r in view["recused"] if r["evaluator_id"] in names]
    return view


def _discussion(discussion: dict[str, Any]) -> dict[str, Any]:
    view = {k: date(discussion.get(k)) for k in ("opened_on", "closes_on", "closed_on")}
    return {**view, "closed_by": discussion.get("closed_by"), "spread_at_opening": discussion.get("spread"),
            "comment_count": len(discussion["comments"]),
            "comments": [{k: c.get(k) for k in ("evaluator_id", "comment", "at")} for c in discussion["comments"]]}


def _discussion_as_seen(view: dict[str, Any], doc: dict[str, Any], seat: set[str], names: set[str]) -> None:
    """What was said, once the panel is done or to a member; by whom, only where names are shown."""
    if (discussion := view.get("discussion")) is None:
        return
    if not (seat or doc["status"] in DONE):
        discussion["comments"] = []
        return
    discussion["comments"] = [{**c, "evaluator_id": c["evaluator_id"] if c["evaluator_id"] in names else None}
                              for c in discussion["comments"]]


def _exemplar(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in doc.items() if k not in ("_id", "review_visits")}
    view["exemplar_id"] = doc["_id"]
    view["adopting_units"] = len(doc.get("adopters", []))
    view["totals"] = _totals(doc)
    return view


def _totals(doc: dict[str, Any]) -> dict[str, int]:
    return {"reviews": doc.get("reviews_count", 0), "replications": doc.get("replications_count", 0),
            "visits": doc.get("visits_count", 0)}
