"""Read what the report needs from the services' MongoDB databases, read-only.

Only `find` is ever issued: the report never writes, locks or creates anything, so it can
run against production databases (point it at a secondary with the URI's
`readPreference=secondaryPreferred` if you like). Document shapes are those of
`services/nominations/store.py` and `services/evaluations/store.py`; the converters below
are pure so they are tested without a database.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from reporting.model import (
    Evaluation,
    Exemplar,
    Nomination,
    Person,
    ReportData,
    Review,
    Revocation,
    Unit,
    Visit,
)
from shared.programme import Programme


@dataclass(frozen=True)
class Source:
    mongo_uri: str
    nominations_db: str = "exemplars_nominations"
    evaluations_db: str = "exemplars_evaluations"


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def unit_from(doc: dict) -> Unit:
    return Unit(doc["_id"], doc.get("name") or doc["_id"], doc.get("kind"), _date(doc.get("valid_from")),
                _date(doc.get("valid_to")))


def nomination_from(doc: dict) -> Nomination:
    submission = doc.get("submission") or {}
    nominee = submission.get("nominee") or {}
    return Nomination(doc["_id"], doc["unit_id"], int(doc["year"]), str(doc.get("field", "")), doc["status"],
                      title=submission.get("title", ""), nominee_kind=nominee.get("kind"), nominee_name=nominee.get("name", ""),
                      reasons=tuple(r["code"] for r in doc.get("reasons") or ()))


def evaluation_from(doc: dict) -> Evaluation:
    result = doc.get("result") or {}
    decision = doc.get("decision") or {}
    return Evaluation(doc["_id"], doc["unit_id"], int(doc["year"]), doc.get("field", ""), doc["status"],
                      title=doc.get("title", ""), panel=tuple(doc.get("panel") or ()),
                      recused=tuple(r["evaluator_id"] for r in doc.get("recused") or ()), outcome=result.get("outcome"),
                      total=result.get("total"), spread=result.get("spread"), divergent=bool(result.get("divergent")),
                      recognized=decision.get("recognized"), opened_at=_utc(doc.get("created_at")),
                      completed_at=_utc(doc.get("completed_at")))


def revocation_from(doc: dict | None) -> Revocation | None:
    """The `revocation` the evaluations service writes beside a revoked exemplar (council.py)."""
    if not doc:
        return None
    return Revocation(doc["revocation_ref"], _date(doc["revoked_on"]), str(doc["ground"]), doc.get("reason") or "",
                      tuple(doc.get("uncounted") or ()))


def exemplar_from(doc: dict, reviews: list[dict] = (), visits: list[dict] = ()) -> Exemplar:
    """An exemplar's document with its reports (the `reviews` and `visits` collections, one
    document per report: the exemplar's own document keeps only counters)."""
    reviews = tuple(Review(r["period"], int(r["influence"]), r["trend"], bool(r.get("needs_support")),
                           r.get("support_requested"), int(r.get("study_visits") or 0),
                           tuple(r.get("new_adopting_units") or ())) for r in sorted(reviews, key=lambda r: r["period"]))
    visits = tuple(Visit(v["visiting_unit_id"], _date(v.get("visited_on")), int(v.get("participants") or 1))
                   for v in sorted(visits, key=lambda v: v.get("n", 0)))
    return Exemplar(doc["_id"], doc["nomination_id"], doc["unit_id"], int(doc["year"]), doc.get("field", ""), doc["status"],
                    title=doc.get("title", ""), nominee_name=doc.get("nominee_name", ""), nominee_kind=doc.get("nominee_kind"),
                    level=doc.get("level"), total=doc.get("total"), decision_ref=doc.get("decision_ref"),
                    recorded_by=(doc.get("decision_sender") or {}).get("producer"), reviews=reviews,
                    adopters=tuple(doc.get("adopters") or ()), visits=visits, study_visits=int(doc.get("study_visits") or 0),
                    revocation=revocation_from(doc.get("revocation")), corrections=int(doc.get("corrections_count") or 0))


async def _reports(collection, exemplar_ids: list[str]) -> dict[str, list[dict]]:
    by_exemplar: dict[str, list[dict]] = {}
    async for doc in collection.find({"exemplar_id": {"$in": exemplar_ids}}):
        by_exemplar.setdefault(doc["exemplar_id"], []).append(doc)
    return by_exemplar


def person_from(doc: dict) -> Person:
    return Person(doc["_id"], doc.get("unit_id", ""), doc.get("full_name", ""))


async def collect(source: Source, first_year: int, last_year: int, programme: Programme,
                  now: dt.datetime | None = None) -> ReportData:
    client = AsyncMongoClient(source.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000, appname="exemplars-report")
    years = {"year": {"$gte": first_year, "$lte": last_year}}
    try:
        nominations_db, evaluations_db = client[source.nominations_db], client[source.evaluations_db]
        units = [unit_from(d) async for d in nominations_db["units"].find({"name": {"$exists": True}},
                                                                          {"history": 0, "applied": 0})]
        nominations = [nomination_from(d) async for d in nominations_db["nominations"].find(years, {"outbox": 0})]
        evaluations = [evaluation_from(d) async for d in evaluations_db["evaluations"].find(
            years, {"outbox": 0, "criteria": 0, "sheets": 0})]
        exemplar_docs = await evaluations_db["exemplars"].find(years, {"outbox": 0}).to_list()
        reports = {kind: await _reports(evaluations_db[kind], [d["_id"] for d in exemplar_docs])
                   for kind in ("reviews", "visits")}
        exemplars = [exemplar_from(d, reports["reviews"].get(d["_id"], []), reports["visits"].get(d["_id"], []))
                     for d in exemplar_docs]
        people = [person_from(d) async for d in evaluations_db["staff"].find({}, {"unit_id": 1, "full_name": 1})]
    finally:
        await client.close()
    phase = next((p for p in programme.phases if (p.first_year, p.last_year) == (first_year, last_year)), None)
    policy = programme.evaluation
    return ReportData(
        first_year=first_year, last_year=last_year, generated_at=now or dt.datetime.now(dt.UTC),
        programme_name=programme.name, phase_name=phase.name if phase else None,
        yearly_minimum=programme.yearly_minimum, yearly_maximum=programme.yearly_maximum,
        recognize_from=policy.recognize_from, foster_from=policy.foster_from,
        units={u.unit_id: u for u in units}, people={p.staff_id: p for p in people},
        nominations=sorted(nominations, key=lambda n: n.nomination_id),
        evaluations=sorted(evaluations, key=lambda e: e.nomination_id),
        exemplars=sorted(exemplars, key=lambda x: x.exemplar_id),
        sources={"Đề cử, chỉ tiêu và danh mục đơn vị": f"cơ sở dữ liệu {source.nominations_db} (dịch vụ đề cử)",
                 "Đánh giá, công nhận, theo dõi và nhân rộng": f"cơ sở dữ liệu {source.evaluations_db} (dịch vụ đánh giá)"},
    )
