"""What operators scrape and read, over the wire: /metrics moves with real traffic, log lines name the
event they are about, and the AsyncAPI document is served. Real Tansu, SecantusDB and service process."""

import asyncio
import json
import time
import uuid

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from deploy import demo_data
from deploy.demo import send
from deploy.demo_data import MODELS, submission
from deploy.docs import DOCS_DIR
from shared import envelope, topics
from shared.envelope import new_event
from shared.events import StaffRemoved

pytestmark = pytest.mark.timeout(120)

INTAKE = topics.NOMINATIONS_INTAKE
UNIT = "STNMT-HCM"

Samples = dict[tuple[str, frozenset], float]


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the series of `name` whose labels include `labels` (0 when there is none yet)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def until(port: int, name: str, target: float, timeout: float = 15.0, **labels: str) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(port)
        if value(samples, name, **labels) >= target:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} stayed at {value(samples, name, **labels)}, expected {target}")
        await asyncio.sleep(0.2)


def officer_of(unit_id: str):
    return next(m for m in demo_data.staff() if m.unit_id == unit_id and m.roles)


async def test_counters_move_with_answers_and_refusals_and_not_with_redelivery(nominations_service, producer,
                                                                               topic_log):
    port = nominations_service.http_port
    log = await topic_log(topics.NOMINATIONS)
    before = await scrape(port)
    tag = uuid.uuid4().hex[:8]

    # A nomination: whatever the answer, its type's counter moves by one.
    nomination = new_event(submission(f"NOM-OPS-{tag}", officer_of(UNIT), 2024, MODELS[6]),
                           key=f"NOM-OPS-{tag}", source=f"urn:unit:{UNIT}")
    await send(producer, INTAKE, [nomination])
    replies = await log.wait_for(lambda: [e for e in log.events() if e.id in _answer_ids(nomination)], 20.0,
                                 what="the answer to the nomination")
    reply = replies[0]
    published = dict(name="exemplars_events_published_total", topic=topics.NOMINATIONS, type=reply.type)
    after = await until(port, target=value(before, **published) + 1, **published)

    # A refusal: the counter of its reason code moves, once per distinct code.
    refused = new_event(submission(f"NOM-OPS-{tag}-r", officer_of(UNIT), 2019, MODELS[6]),
                        key=f"NOM-OPS-{tag}-r", source=f"urn:unit:{UNIT}")
    await send(producer, INTAKE, [refused])
    code = dict(name="exemplars_refusal_reasons_total", type="nomination.rejected", code="YEAR_NOT_OPEN")
    after = await until(port, target=value(before, **code) + 1, **code)
    rejected = dict(name="exemplars_events_published_total", topic=topics.NOMINATIONS, type="nomination.rejected")
    counted = value(after, **rejected)

    # The same event again (a unit system's retry): answered again with the same id, not counted again.
    await send(producer, INTAKE, [refused])
    await log.wait_for(lambda: len([e for e in log.events() if e.id in _answer_ids(refused)]) >= 2, 20.0,
                       what="the repeated answer")
    await asyncio.sleep(1.0)  # the repeated answer's confirmation reaches the service
    again = await scrape(port)
    assert value(again, **rejected) == counted
    assert value(again, **code) == value(after, **code)

    # FastStream's Kafka middleware: consumed batches per topic, publishes per destination.
    assert value(again, "faststream_received_messages_total", app_name="nominations", handler=INTAKE) >= 3
    assert value(again, "faststream_received_processed_messages_total", handler=INTAKE, status="acked") >= 1
    assert value(again, "faststream_published_messages_total", destination=topics.NOMINATIONS, status="success") >= 3
    assert value(again, "faststream_received_processed_messages_duration_seconds_count", handler=INTAKE) >= 1
    # The unit of work: three inputs took at least one batch, at most three; none is counted before it commits.
    batches = value(again, "exemplars_unit_of_work_batches_total") - value(before, "exemplars_unit_of_work_batches_total")
    inputs = value(again, "exemplars_unit_of_work_inputs_total") - value(before, "exemplars_unit_of_work_inputs_total")
    assert 1 <= batches <= inputs and inputs >= 3


def _answer_ids(event) -> set[str]:
    return {envelope.derived_id(event.dedup_key, t) for t in topics.BY_NAME[topics.NOMINATIONS].event_types}


async def test_dead_letters_are_counted_and_logged_with_the_event(nominations_service, producer, topic_log):
    port = nominations_service.http_port
    before = await scrape(port)
    dlq_log = await topic_log(topics.dlq(INTAKE))
    # A valid event of a type that does not belong on the intake topic.
    member = officer_of(UNIT)
    stray = new_event(StaffRemoved(staff_id=member.staff_id, unit_id=member.unit_id), key=member.unit_id,
                      source="urn:hr")
    await send(producer, INTAKE, [stray])
    dead = dict(name="exemplars_dead_letters_total", topic=INTAKE, reason="unexpected_type")
    await until(nominations_service.http_port, target=value(before, **dead) + 1, **dead)
    record = await dlq_log.wait_for(
        lambda: next((r for r in dlq_log.records if dict(r.headers).get("ce_id") == stray.id.encode()), None),
        20.0, what="the dead letter")

    lines = [json.loads(line) for line in nominations_service.log_path.read_text().splitlines() if line.startswith("{")]
    (line,) = [entry for entry in lines if entry.get("event_id") == stray.id and "dead-lettering" in entry["message"]]
    assert line["event_type"] == "staff.removed" and line["subject"] == member.unit_id
    offset = int(dict(record.headers)["x-dlq-offset"])
    assert (line["topic"], line["offset"]) == (INTAKE, offset) and isinstance(line["partition"], int)
    assert line["service"] == "nominations" and line["level"] == "WARNING"

    samples = await scrape(port)
    lags = {ls for (n, ls) in samples if n == "exemplars_consumer_lag"}
    groups = {dict(ls)["group"] for ls in lags}
    assert {"nominations.intake", "nominations.directory", "nominations.evaluations"} <= groups
    assert len({ls for ls in lags if dict(ls)["topic"] == INTAKE}) == topics.BY_NAME[INTAKE].partitions
    assert value(samples, "exemplars_consumer_lag_ok") == 1


async def test_asyncapi_document_is_served(nominations_service):
    base = f"http://127.0.0.1:{nominations_service.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
        page = await http.get("/docs/asyncapi")
        document = await http.get("/docs/asyncapi.json")
        as_yaml = await http.get("/docs/asyncapi.yaml")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="message-nomination.submitted"' in page.text and "<script" not in page.text
    served = document.json()
    assert served["asyncapi"].startswith("3.") and served["info"]["title"] == "Exemplars — nominations"
    assert yaml.safe_load(as_yaml.text) == served
    committed = json.loads((DOCS_DIR / "nominations.json").read_text(encoding="utf-8"))
    # The same contract as the committed document; only the broker address is this deployment's.
    assert served["channels"] == committed["channels"] and served["components"] == committed["components"]
    assert served["servers"]["development"]["host"] != committed["servers"]["development"]["host"]
