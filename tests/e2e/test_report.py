"""The programme review over the wire: the demo feed plays the 2023-2025 phase against the real
services, `exemplars report` writes the review, and every figure is checked against an
independent count of the events published on the topics.

The test runs a stack of its own (Tansu, SecantusDB), as the fault suite does: the session's
log holds other tests' nominations for the same units and years (the fault tests alone fill
every unit's quota for 2023-2026), and a real phase needs the real years and units.
"""

import asyncio
import csv
import datetime as dt
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from pymongo import AsyncMongoClient

from deploy import demo_data
from deploy.demo import publish_phase, send
from deploy.stack import EmbeddedStack, StackConfig
from reporting.html import SECTIONS
from shared import topics
from shared.envelope import Event, derived_id
from shared.lag import LagProbe
from tests.conftest import TopicLog, wait_until

YEARS = [2023, 2024, 2025]
LOGGED = (topics.DIRECTORY, topics.NOMINATIONS_INTAKE, topics.EVALUATIONS_INTAKE, topics.NOMINATIONS, topics.EVALUATIONS)


@dataclass
class Phase:
    out: Path
    logs: dict[str, TopicLog]
    counts: dict[str, int]

    def events(self, topic: str, *types: str) -> list[Event]:
        """Each event once (the services republish an answer when an input is redelivered)."""
        unique = {e.id: e for e in self.logs[topic].events() if not types or e.type in types}
        return list(unique.values())

    def csv(self, name: str) -> list[dict[str, str]]:
        with (self.out / f"{name}.csv").open(encoding="utf-8-sig", newline="") as source:
            return list(csv.DictReader(source))


@pytest.fixture(scope="module")
async def phase(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-stack")
    stack = EmbeddedStack(StackConfig.ephemeral(root))
    await stack.start_servers()
    bootstrap = stack.config.bootstrap
    logs = {topic: await TopicLog(bootstrap, topic, stack.vault()).start() for topic in LOGGED}
    producer = await stack.producer(linger_ms=5)
    mongo = AsyncMongoClient(stack.config.mongo_uri, tz_aware=True)
    try:
        # The directory first, applied by both services, so the feed needs no settling time.
        await send(producer, topics.DIRECTORY, demo_data.directory_events())
        await asyncio.gather(stack.start_service("nominations"),
                             stack.start_service("evaluations", REMINDER_CHECK_SECONDS="3600"))
        people = len(demo_data.staff())
        for db in ("exemplars_nominations", "exemplars_evaluations"):
            async def applied(db=db):
                return await mongo[db]["staff"].count_documents({"full_name": {"$exists": True}}) >= people
            await wait_until(applied, timeout=60, what=f"the directory in {db}")
        counts = await publish_phase(bootstrap, YEARS, settle_seconds=0, timeout=150, directory=False,
                                     keyring=stack.keyring)
        assert counts["pending"] == 0, counts
        await _read_to_the_end(bootstrap, logs)
        out = root / "review"
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.cli", "report", "--from", "2023", "--to", "2025", "--out", str(out),
            "--mongo-uri", stack.config.mongo_uri, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(command.communicate(), 60)
        assert command.returncode == 0, output.decode()
        yield Phase(out, logs, counts)
    finally:
        for log in logs.values():
            await log.stop()
        await producer.stop()
        await mongo.close()
        stack.stop()


async def _read_to_the_end(bootstrap: str, logs: dict[str, TopicLog]) -> None:
    # LagProbe, not end_offsets(): Tansu reports the start of a partition's last batch as its end.
    probe = LagProbe(bootstrap)
    try:
        ends = await probe.end_offsets("report-test-probe", list(logs))
    finally:
        await probe.close()

    async def caught_up():
        read = Counter()
        for topic, log in logs.items():
            for record in list(log.records):
                tp = TopicPartition(topic, record.partition)
                read[tp] = max(read[tp], record.offset + 1)
        return all(read[tp] >= end for tp, end in ends.items())

    await wait_until(caught_up, timeout=30, what="the topic logs to reach the end offsets")


# ---- the independent count ------------------------------------------------------------------


class Expected:
    """The review's figures, counted from the events alone."""

    def __init__(self, phase: Phase) -> None:
        submitted = {}
        for e in phase.events(topics.NOMINATIONS_INTAKE, "nomination.submitted"):
            if e.data.year in YEARS:
                submitted.setdefault(e.data.nomination_id, e.data)
        self.submitted = submitted
        answers = {}
        for e in phase.events(topics.NOMINATIONS, "nomination.accepted", "nomination.rejected", "nomination.withdrawn"):
            if e.key in submitted:
                kind = e.type.split(".")[1]
                if kind == "withdrawn" or e.key not in answers:
                    answers[e.key] = e
        self.outcome = {nid: {"accepted": "accepted", "rejected": "refused", "withdrawn": "withdrawn"}[e.type.split(".")[1]]
                        for nid, e in answers.items()}
        self.reasons = {nid: {r.code for r in e.data.reasons} for nid, e in answers.items() if e.type == "nomination.rejected"}
        self.accepted_at = {e.key: e.time for e in phase.events(topics.NOMINATIONS, "nomination.accepted") if e.key in submitted}
        units = {}
        for e in phase.events(topics.DIRECTORY, "unit.registered"):
            units[e.data.unit_id] = e.data
        self.units = units
        self._evaluations(phase)
        self._exemplars(phase)

    def _evaluations(self, phase: Phase) -> None:
        out = [e for e in phase.events(topics.EVALUATIONS) if getattr(e.data, "nomination_id", e.key) in self.submitted
               or e.type.startswith("exemplar.")]
        self.cancelled = {e.key for e in out if e.type == "evaluation.cancelled"}
        panels: dict[str, list[str]] = {}
        self.recusals = Counter()
        for e in sorted(out, key=lambda e: e.time):
            if e.type == "evaluation.panel_assigned":
                panels[e.key] = list(e.data.evaluators)
            elif e.type == "evaluation.evaluator_replaced":
                panels[e.key] = [p for p in panels.get(e.key, []) if p != e.data.recused_id] + \
                                ([e.data.replacement_id] if e.data.replacement_id else [])
                if e.key not in self.cancelled:
                    self.recusals[e.data.recused_id] += 1
        self.panels = {nid: p for nid, p in panels.items() if nid not in self.cancelled}
        self.completed = {e.key: e.data for e in out if e.type == "evaluation.completed"}
        # Completion time: the score sheet whose answer the completion is (its id derives from the sheet's).
        sheets = {derived_id(s.dedup_key, "evaluation.completed"): s
                  for s in phase.events(topics.EVALUATIONS_INTAKE, "evaluation.score_submitted")}
        completed_ids = {e.key: e.id for e in out if e.type == "evaluation.completed"}
        self.days = {nid: (sheets[cid].time - self.accepted_at[nid]).total_seconds() / 86400
                     for nid, cid in completed_ids.items()}
        self.recognized = {e.data.exemplar_id: e.data for e in out if e.type == "exemplar.recognized"}
        self.not_recognized = {e.data.exemplar_id: e.data for e in out if e.type == "exemplar.not_recognized"}
        self.support_needed = Counter(e.data.exemplar_id for e in out if e.type == "exemplar.support_needed")

    def _exemplars(self, phase: Phase) -> None:
        answered = {e.id for e in phase.events(topics.EVALUATIONS, "exemplar.review_recorded", "exemplar.replicated")}
        refused = {e.data.input_id for e in phase.events(topics.EVALUATIONS, "evaluation.input_rejected")}
        self.reviews, self.adopters, self.visits = defaultdict(list), defaultdict(list), defaultdict(list)
        for e in phase.events(topics.EVALUATIONS_INTAKE):
            x = getattr(e.data, "exemplar_id", None)
            if x not in self.recognized:
                continue
            if e.type == "exemplar.review_reported" and derived_id(e.dedup_key, "exemplar.review_recorded") in answered:
                self.reviews[x].append(e.data)
                self.adopters[x] += [u for u in e.data.new_adopting_units if u not in self.adopters[x]]
            elif e.type == "exemplar.replication_reported" and derived_id(e.dedup_key, "exemplar.replicated") in answered:
                if e.data.adopting_unit_id not in self.adopters[x]:
                    self.adopters[x].append(e.data.adopting_unit_id)
            elif e.type == "exemplar.visit_reported" and e.id not in refused:
                self.visits[x].append(e.data)

    def study_visits(self, x: str) -> int:
        return max(sum(r.study_visits for r in self.reviews[x]), len(self.visits[x]))

    def latest(self, x: str):
        return max(self.reviews[x], key=lambda r: r.period) if self.reviews[x] else None

    def counts(self, keep) -> list[int]:
        chosen = [nid for nid, sub in self.submitted.items() if keep(sub)]
        outcomes = Counter(self.outcome[nid] for nid in chosen)
        return [len(chosen), outcomes["accepted"], outcomes["refused"], outcomes["withdrawn"]]

    def eligible(self, year: int) -> list[str]:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        return sorted(u for u, d in self.units.items() if d.kind.value != "ministry" and d.valid_from <= last
                      and (d.valid_to is None or d.valid_to >= first))

    def held(self, unit: str, year: int) -> int:
        return sum(1 for nid, sub in self.submitted.items()
                   if sub.unit_id == unit and sub.year == year and self.outcome[nid] == "accepted")


@pytest.fixture(scope="module")
def expected(phase) -> Expected:
    return Expected(phase)


def ints(row: dict[str, str], *headers: str) -> list[int]:
    return [int(row[h]) for h in headers]


COUNTS = ("Đề cử đã gửi", "Được chấp nhận", "Bị từ chối", "Đã rút")


# ---- the checks ----------------------------------------------------------------------------------


def test_the_phase_has_every_kind_of_case(phase, expected):
    outcomes = Counter(expected.outcome.values())
    assert outcomes["accepted"] >= 40 and outcomes["refused"] >= 10 and outcomes["withdrawn"] == 3
    assert {o.outcome.value for o in expected.completed.values()} == {"recognize", "foster", "not_recognized"}
    assert expected.recognized and expected.support_needed and any(expected.visits.values())
    # The only evaluation input refused is the deliberate mistake: a unit reporting its own model as replicated.
    refusals = phase.events(topics.EVALUATIONS, "evaluation.input_rejected")
    assert refusals and {r.code for e in refusals for r in e.data.reasons} == {"OWN_UNIT"}
    assert phase.counts["inputs refused"] == len(refusals)


def test_nominations_by_year_field_and_unit(phase, expected):
    by_year = {row["Năm"]: ints(row, *COUNTS) for row in phase.csv("nominations_by_year")}
    assert by_year == {**{str(y): expected.counts(lambda s, y=y: s.year == y) for y in YEARS},
                       "Tổng cộng": expected.counts(lambda s: True)}
    by_field = {row["Mã lĩnh vực"]: ints(row, *COUNTS) for row in phase.csv("nominations_by_field") if row["Mã lĩnh vực"]}
    assert by_field == {f: expected.counts(lambda s, f=f: s.field == f) for f in {s.field for s in expected.submitted.values()}}
    by_unit = {row["Mã đơn vị"]: ints(row, *COUNTS) for row in phase.csv("nominations_by_unit") if row["Mã đơn vị"]}
    assert by_unit == {u: expected.counts(lambda s, u=u: s.unit_id == u) for u in {s.unit_id for s in expected.submitted.values()}}
    reasons = {row["Mã lý do"]: int(row["Số đề cử"]) for row in phase.csv("refusal_reasons")}
    assert reasons == Counter(code for codes in expected.reasons.values() for code in codes)
    assert {"QUOTA_EXCEEDED", "NOMINEE_ALREADY_NOMINATED", "UNIT_NOT_REGISTERED", "UNIT_NOT_ACTIVE", "FIELD_UNKNOWN",
            "SUBMITTER_NOT_IN_UNIT"} <= set(reasons)


def test_quota_compliance(phase, expected):
    rows = {row["Năm"]: row for row in phase.csv("quota_by_year")}
    for year in YEARS:
        held = Counter(expected.held(u, year) for u in expected.eligible(year))
        row = rows[str(year)]
        assert int(row["Số đơn vị thuộc diện đề cử"]) == len(expected.eligible(year))
        assert [int(row[f"Có {k} đề cử được chấp nhận"]) for k in range(3)] == [held[0], held[1], held[2]]
    nominated = {s.unit_id for s in expected.submitted.values()}
    never = {u for y in YEARS for u in expected.eligible(y)} - nominated
    assert {row["Mã đơn vị"] for row in phase.csv("units_never_nominated")} == never
    assert demo_data.silent_unit() in never


def test_evaluations_outcomes_divergence_duration_and_load(phase, expected):
    rows = {row["Năm"]: row for row in phase.csv("evaluations_by_year")}
    for year in [*YEARS, None]:
        row = rows[str(year) if year else "Tổng cộng"]
        mine = [nid for nid in expected.panels if year is None or expected.submitted[nid].year == year]
        done = [expected.completed[nid] for nid in mine if nid in expected.completed]
        outcomes = Counter(c.outcome.value for c in done)
        assert ints(row, "Đợt đánh giá", "Đã chấm xong", "Đề nghị công nhận", "Tiếp tục bồi dưỡng",
                    "Không đề nghị công nhận", "Chênh lệch lớn giữa thành viên") == [
            len(mine), len(done), outcomes["recognize"], outcomes["foster"], outcomes["not_recognized"],
            sum(c.divergent for c in done)]
        days = [expected.days[nid] for nid in mine if nid in expected.completed]
        assert float(row["Số ngày trung bình từ khi chấp nhận đến khi chấm xong"]) == pytest.approx(
            sum(days) / len(days), abs=0.006)
    assert int(rows["Tổng cộng"]["Đã hủy"]) == len(expected.cancelled)
    divergent = {row["Mã đề cử"] for row in phase.csv("divergent_evaluations")}
    assert divergent == {nid for nid, c in expected.completed.items() if c.divergent}
    load = {row["Mã cán bộ"]: ints(row, "Số hội đồng tham gia", "Số lần rút khỏi hội đồng")
            for row in phase.csv("evaluator_load")}
    panels = Counter(m for p in expected.panels.values() for m in p)
    assert load == {p: [panels[p], expected.recusals[p]] for p in set(panels) | set(expected.recusals)}


def test_recognitions_and_the_exemplars(phase, expected):
    rows = {row["Năm"]: row for row in phase.csv("recognitions_by_year")}
    for year in YEARS:
        levels = Counter(r.level.value for r in expected.recognized.values() if r.year == year)
        refused = [n for n in expected.not_recognized.values() if n.year == year]
        assert ints(rows[str(year)], "Công nhận cấp đơn vị", "Công nhận cấp Bộ", "Tổng số được công nhận",
                    "Không công nhận", "Trong đó: tiếp tục bồi dưỡng") == [
            levels["unit"], levels["ministry"], sum(levels.values()), len(refused), sum(n.fostering for n in refused)]
    listed = {row["Mã điển hình"]: row for row in phase.csv("exemplars")}
    assert set(listed) == set(expected.recognized)
    for x, rec in expected.recognized.items():
        assert listed[x]["Mô hình"] == rec.title and listed[x]["Tập thể, cá nhân"] == rec.nominee_name
        assert listed[x]["Đơn vị"] == expected.units[rec.unit_id].name
        assert listed[x]["Hệ thống ghi nhận quyết định"] == "demo"  # the feed plays the council, and signs as itself


def test_follow_up_and_support(phase, expected):
    summary = {row["Chỉ tiêu"]: int(row["Số lượng"]) for row in phase.csv("follow_up_summary")}
    reviews = [r for x in expected.recognized for r in expected.reviews[x]]
    assert summary["Số báo cáo theo dõi đã nhận"] == len(reviews)
    assert summary["Số lần đề nghị hỗ trợ"] == sum(expected.support_needed.values())
    assert summary["Báo cáo có xu hướng “Phát triển”"] == sum(r.trend.value == "growing" for r in reviews)
    assert summary["Báo cáo có xu hướng “Suy giảm”"] == sum(r.trend.value == "declining" for r in reviews)
    resolved = 0
    for x in expected.recognized:
        ordered = sorted(expected.reviews[x], key=lambda r: r.period)
        asked = [i for i, r in enumerate(ordered) if r.needs_support or r.trend.value == "declining"]
        resolved += sum(1 for i in asked if any(not (r.needs_support or r.trend.value == "declining") for r in ordered[i + 1:]))
    assert summary["Đề nghị hỗ trợ đã được đáp ứng"] == resolved
    detail = {row["Mã điển hình"]: row for row in phase.csv("follow_up")}
    for x in expected.recognized:
        latest = expected.latest(x)
        assert int(detail[x]["Số báo cáo"]) == len(expected.reviews[x])
        assert detail[x]["Kỳ gần nhất"] == (latest.period if latest else "")


def test_spread_visits_and_the_models_worth_honouring(phase, expected):
    spread = {row["Mã điển hình"]: row for row in phase.csv("spread")}
    names = {u: d.name for u, d in expected.units.items()}
    for x in expected.recognized:
        assert int(spread[x]["Số đơn vị áp dụng"]) == len(expected.adopters[x])
        assert spread[x]["Các đơn vị đã áp dụng"].split("; ") == [names[u] for u in expected.adopters[x]] or not expected.adopters[x]
        assert int(spread[x]["Số đoàn tham quan học tập"]) == expected.study_visits(x)
    assert len(phase.csv("visits")) == sum(len(v) for v in expected.visits.values())
    # The documented rule, applied to the events: growing, at least two other units, widest spread first.
    eligible = [x for x, rec in expected.recognized.items()
                if (latest := expected.latest(x)) and latest.trend.value == "growing" and len(expected.adopters[x]) >= 2]
    ranked = sorted(eligible, key=lambda x: (-len(expected.adopters[x]), -expected.study_visits(x),
                                             -expected.recognized[x].total, x))[:5]
    assert [row["Mã điển hình"] for row in phase.csv("recommended")] == ranked
    assert ranked, "the demo phase should have models worth honouring"


class Document(HTMLParser):
    """Section ids, every table's cells by table id, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_the_html_parses_has_every_section_and_reads_in_vietnamese(phase, expected):
    raw = (phase.out / "bao-cao.html").read_bytes()
    page = raw.decode("utf-8")  # strict: a broken byte would fail here
    doc = Document()
    doc.feed(page)
    doc.close()
    assert set(SECTIONS) <= doc.ids
    text = " ".join(doc.text)
    rec = next(iter(expected.recognized.values()))
    for phrase in ("BÁO CÁO TỔNG KẾT", "Giai đoạn 2023-2025", "Phát hiện, bồi dưỡng, nhân rộng điển hình tiên tiến",
                   "Cục Quản lý đất đai", "Sở Tài nguyên và Môi trường Thành phố Hồ Chí Minh", "Khí tượng thủy văn",
                   "Tiếp tục bồi dưỡng", rec.title, rec.nominee_name):
        assert phrase in text, phrase
    assert "\ufffd" not in page and "Ã" not in page  # no replacement characters, no double-encoded UTF-8
    assert page.count("<svg") == 4 and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    # Every table of the page says what its CSV file says (the page leaves out the code columns).
    assert {t.removeprefix("bang-") for t in doc.tables} >= {"nominations_by_year", "quota_by_year", "recommended"}
    for table_id, rows in doc.tables.items():
        key = table_id.removeprefix("bang-")
        with (phase.out / f"{key}.csv").open(encoding="utf-8-sig", newline="") as source:
            header, *stored_rows = list(csv.reader(source))
        columns = [header.index(h) for h in rows[0]]
        assert [h for h in header if not h.startswith("Mã ")] == rows[0], key
        assert len(rows) - 1 == len(stored_rows), key
        for shown, stored in zip(rows[1:], stored_rows, strict=True):
            for cell, column in zip(shown, columns, strict=True):
                assert _same(cell, stored[column]), (key, cell, stored[column])


def _same(shown: str, stored: str) -> bool:
    if shown == stored:
        return True
    try:  # 1.234,56 on the page, 1234.56 in the file
        return abs(float(shown.replace(".", "").replace(",", ".")) - float(stored)) < 0.006
    except ValueError:
        return False
