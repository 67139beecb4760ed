"""`exemplars status`: consumer lag, dead letters, and open evaluations past their deadline.

Lag is read through `shared.lag.LagProbe` (committed offsets fetched without joining the
group, so looking never rebalances a service). Overdue evaluations come from the
evaluations service's read endpoint or, read-only, from its database.
"""

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field

import httpx
from aiokafka import TopicPartition
from pymongo import AsyncMongoClient

from deploy.ops.deadletters import dead_letter_topics, from_record
from deploy.ops.kafka_io import TopicMissing, TopicReader
from deploy.ops.replay import load_replays
from deploy.ops.text import table
from shared.groups import SUBSCRIPTIONS
from shared.kafka import group_id
from shared.kafka_security import client_options
from shared.lag import LagProbe
from shared.settings import ServiceSettings

# Statuses in which evaluators may still owe a sheet (services.evaluations.domain.SCORING but
# `discussion`, where everyone has scored and a time box of its own ends it); kept as strings
# so the tool reads any version of the service without importing its code.
SCORING_STATUSES = ("open", "panel_incomplete")
PAGE = 1000
DETAIL_LIMIT = 200  # who has not scored is fetched for this many overdue evaluations at most


@dataclass
class Lag:
    service: str
    group: str
    topic: str
    committed: int
    end: int
    lag: int
    partitions: dict[int, dict[str, int]] = field(default_factory=dict)


@dataclass
class DeadLetterCount:
    topic: str
    count: int
    replayed: int | None  # distinct dead letters replayed; None when unknown
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Overdue:
    nomination_id: str
    unit_id: str | None
    year: int | None
    status: str
    deadline: str
    days_overdue: int
    pending: list[str] | None  # evaluators who have not scored; None when unknown
    title: str | None = None


@dataclass
class OverdueReport:
    source: str
    today: str
    items: list[Overdue] = field(default_factory=list)
    error: str | None = None


@dataclass
class Status:
    lag: list[Lag]
    dead_letters: list[DeadLetterCount]
    overdue: OverdueReport

    def to_json(self) -> dict:
        return asdict(self)


# ---- readings --------------------------------------------------------------------------

async def consumer_lag(reader: TopicReader, group_prefix: str = "") -> list[Lag]:
    """Lag of every subscription in shared.groups, per partition and summed.

    Committed offsets come from LagProbe; the ends from the reader, which corrects Tansu's
    end offsets (they stop at the last batch's first record, see kafka_io.TopicReader).
    """
    settings = ServiceSettings(kafka_group_prefix=group_prefix)
    probe = LagProbe(reader.bootstrap, client_options())
    ends = {topic: await reader.end_offsets(topic) for topic in dict.fromkeys(s.topic for s in SUBSCRIPTIONS)}
    rows = []
    try:
        for sub in SUBSCRIPTIONS:
            group = group_id(settings, sub.service, sub.name)
            tps = {TopicPartition(sub.topic, p): end for p, end in ends[sub.topic].items()}
            committed = await probe.committed(group, tps)
            parts = {tp.partition: {"committed": committed[tp], "end": end, "lag": max(0, end - committed[tp])}
                     for tp, end in sorted(tps.items(), key=lambda item: item[0].partition)}
            rows.append(Lag(sub.service, group, sub.topic, sum(p["committed"] for p in parts.values()),
                            sum(p["end"] for p in parts.values()), sum(p["lag"] for p in parts.values()), parts))
    finally:
        await probe.close()
    return rows


async def dead_letter_counts(reader: TopicReader) -> list[DeadLetterCount]:
    """Read whole: dead-letter topics are small, and the reasons say more than a number."""
    try:
        replays = await load_replays(reader)
    except Exception:  # noqa: BLE001 - the counts matter more than the replay column
        replays = None
    rows = []
    for topic in dead_letter_topics():
        try:
            letters = [from_record(r) for r in await reader.read(topic)]
        except TopicMissing:
            continue
        reasons = Counter(letter.reason or "?" for letter in letters)
        replayed = None if replays is None else sum(1 for letter in letters if replays.get(letter.ref))
        rows.append(DeadLetterCount(topic, len(letters), replayed, dict(sorted(reasons.items()))))
    return rows


def days_overdue(deadline: dt.date, today: dt.date) -> int:
    """Past the deadline means after its day, as the evaluations service's overdue notice counts."""
    return (today - deadline).days


async def overdue_from_http(base_url: str, today: dt.date, transport: httpx.AsyncBaseTransport | None = None,
                            token: str | None = None) -> OverdueReport:
    """From the read endpoint, with an operator's token (the pending evaluators are names the
    endpoint shows operators only)."""
    report = OverdueReport(f"{base_url.rstrip('/')}/evaluations", today.isoformat())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0, transport=transport, headers=headers) as http:
            found = []
            for status in SCORING_STATUSES:
                offset = 0
                while True:
                    response = await http.get("/evaluations", params={"status": status, "limit": PAGE, "offset": offset})
                    response.raise_for_status()
                    page = response.json()
                    found += [doc for doc in page if doc.get("deadline")
                              and dt.date.fromisoformat(doc["deadline"]) < today]
                    if len(page) < PAGE:
                        break
                    offset += PAGE
            for n, doc in enumerate(sorted(found, key=lambda d: (d["deadline"], d["nomination_id"]))):
                pending = None
                if n < DETAIL_LIMIT:
                    detail = await http.get(f"/evaluations/{doc['nomination_id']}")
                    if detail.status_code == 200:
                        pending = [m["evaluator_id"] for m in detail.json().get("panel", []) if not m.get("scored")]
                deadline = dt.date.fromisoformat(doc["deadline"])
                report.items.append(Overdue(doc["nomination_id"], doc.get("unit_id"), doc.get("year"), doc["status"],
                                            deadline.isoformat(), days_overdue(deadline, today), pending, doc.get("title")))
    except (httpx.HTTPError, ValueError) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
    return report


async def overdue_from_mongo(uri: str, database: str, today: dt.date) -> OverdueReport:
    report = OverdueReport(f"mongodb {database}.evaluations", today.isoformat())
    midnight = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)  # days are stored as UTC midnights
    client = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5_000, appname="exemplars-status")
    try:
        cursor = client[database]["evaluations"].find(
            {"status": {"$in": list(SCORING_STATUSES)}, "deadline": {"$lt": midnight}},
            {"status": 1, "unit_id": 1, "year": 1, "title": 1, "deadline": 1, "panel": 1, "sheets.evaluator_id": 1})
        for doc in await cursor.sort([("deadline", 1), ("_id", 1)]).to_list():
            deadline = doc["deadline"].date()
            scored = {s.get("evaluator_id") for s in doc.get("sheets", [])}
            report.items.append(Overdue(doc["_id"], doc.get("unit_id"), doc.get("year"), doc["status"],
                                        deadline.isoformat(), days_overdue(deadline, today),
                                        [m for m in doc.get("panel", []) if m not in scored], doc.get("title")))
    except Exception as exc:  # noqa: BLE001 - report what could not be read, keep the rest of the status
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return report


# ---- output ----------------------------------------------------------------------------

def render(status: Status) -> str:
    lag_rows = [(row.service, row.group, row.topic, row.committed, row.end, row.lag) for row in status.lag]
    total = sum(row.lag for row in status.lag)
    out = [f"Consumer lag (total {total})",
           table(("SERVICE", "GROUP", "TOPIC", "COMMITTED", "END", "LAG"), lag_rows), ""]
    dl_rows = [(row.topic, row.count, row.replayed, ", ".join(f"{k} {v}" for k, v in row.reasons.items()) or None)
               for row in status.dead_letters]
    out += [f"Dead letters (total {sum(row.count for row in status.dead_letters)})",
            table(("DEAD-LETTER TOPIC", "COUNT", "REPLAYED", "REASONS"), dl_rows), ""]
    report = status.overdue
    head = f"Open evaluations past their scoring deadline, today {report.today} (from {report.source})"
    if report.error:
        out += [head, f"  unavailable: {report.error}"]
    elif not report.items:
        out += [head, "  none"]
    else:
        rows = [(o.nomination_id, o.unit_id, o.year, o.status, o.deadline, o.days_overdue,
                 ", ".join(o.pending) if o.pending is not None else "?") for o in report.items]
        out += [f"{head}: {len(report.items)}",
                table(("NOMINATION", "UNIT", "YEAR", "STATUS", "DEADLINE", "DAYS OVER", "NOT SCORED"), rows)]
    return "\n".join(out)


async def collect(bootstrap: str, *, group_prefix: str = "", evaluations_url: str | None = None,
                  mongo_uri: str | None = None, mongo_database: str = "exemplars_evaluations",
                  today: dt.date | None = None, read_token: str | None = None) -> Status:
    today = today or dt.datetime.now(dt.UTC).date()
    async with TopicReader(bootstrap) as reader:
        lag = await consumer_lag(reader, group_prefix)
        counts = await dead_letter_counts(reader)
    if mongo_uri:
        overdue = await overdue_from_mongo(mongo_uri, mongo_database, today)
    else:
        overdue = await overdue_from_http(evaluations_url or "http://127.0.0.1:8002", today, token=read_token)
    return Status(lag, counts, overdue)
