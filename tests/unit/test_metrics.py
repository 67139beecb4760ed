"""Domain counters: labels taken from published records, and what a count means under redelivery."""

import json

from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared import envelope
from shared.events import NominationRejected, Reason, ce_type
from shared.metrics import Sample, ServiceMetrics, samples


def headers(event_type: str, event_id: str = "e-1", source: str = "urn:service:test") -> dict[str, str]:
    return {"ce_specversion": "1.0", "ce_id": event_id, "ce_source": source, "ce_type": ce_type(event_type),
            "content-type": "application/json"}


def values(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def rejected(nomination_id: str = "NOM-1", codes: tuple[str, ...] = ("QUOTA_EXCEEDED",)) -> envelope.Event:
    data = NominationRejected(nomination_id=nomination_id, unit_id="QLDD", year=2024,
                              reasons=[Reason(code=code, message="lý do") for code in codes])
    return envelope.new_event(data, key=nomination_id, source="urn:exemplars:nominations", id_parts=(nomination_id,))


def test_a_refusal_counts_the_event_and_each_distinct_reason_code():
    event = rejected(codes=("QUOTA_EXCEEDED", "FIELD_UNKNOWN", "QUOTA_EXCEEDED"))
    _, value, hdrs = envelope.encode(event)
    key, found = samples("exemplars.nominations", hdrs, value)
    assert key == event.dedup_key
    assert found == [
        Sample("events_published", (("topic", "exemplars.nominations"), ("type", "nomination.rejected"))),
        Sample("refusal_reasons", (("type", "nomination.rejected"), ("code", "FIELD_UNKNOWN"))),
        Sample("refusal_reasons", (("type", "nomination.rejected"), ("code", "QUOTA_EXCEEDED"))),
    ]


def test_withdrawal_and_input_refusals_carry_their_codes_too():
    for event_type in ("nomination.withdrawal_rejected", "evaluation.input_rejected"):
        body = json.dumps({"reasons": [{"code": "NOT_OWN_UNIT", "message": "x"}]}).encode()
        _, found = samples("t", headers(event_type), body)
        assert Sample("refusal_reasons", (("type", event_type), ("code", "NOT_OWN_UNIT"))) in found


def test_completed_evaluations_by_outcome_band():
    _, found = samples("exemplars.evaluations", headers("evaluation.completed"), b'{"outcome": "foster", "total": 61}')
    assert found[1] == Sample("evaluations_completed", (("band", "foster"),))


def test_deliveries_by_status_and_channel():
    _, sent = samples("exemplars.notifications", headers("notification.sent"), b'{"channel": "email"}')
    _, failed = samples("exemplars.notifications", headers("notification.failed"), b'{"channel": "webhook"}')
    assert sent[1] == Sample("deliveries", (("status", "sent"), ("channel", "email")))
    assert failed[1] == Sample("deliveries", (("status", "failed"), ("channel", "webhook")))


def test_a_dead_letter_counts_by_source_topic_and_reason_keyed_by_the_original_position():
    dlq_headers = {"ce_type": ce_type("nomination.submitted"), "x-dlq-reason": "undecodable",
                   "x-dlq-topic": "exemplars.nominations.intake", "x-dlq-partition": "3", "x-dlq-offset": "17"}
    key, found = samples("exemplars.nominations.intake.dlq", dlq_headers, b"not json")
    assert key == "dlq/exemplars.nominations.intake/3/17"
    assert found == [Sample("dead_letters", (("topic", "exemplars.nominations.intake"), ("reason", "undecodable")))]


def test_unknown_types_and_bad_payloads_still_count_without_failing():
    _, found = samples("t", {"ce_id": "1", "ce_type": "com.example.other.v1"}, b"")
    assert found == [Sample("events_published", (("topic", "t"), ("type", "unknown")))]
    _, found = samples("t", headers("nomination.rejected"), b"\xff not json")
    assert found == [Sample("events_published", (("topic", "t"), ("type", "nomination.rejected")))]


def test_label_values_from_payloads_are_bounded():
    body = json.dumps({"reasons": [{"code": "X" * 500}]}).encode()
    _, found = samples("t", headers("nomination.rejected"), body)
    assert len(dict(found[1].labels)["code"]) == 64


def test_the_same_event_published_again_is_counted_once():
    metrics = ServiceMetrics("test")
    event = rejected()
    _, value, hdrs = envelope.encode(event)
    for _ in range(3):  # a redelivered input answered again with the same id, or a retried publish
        metrics.published("exemplars.nominations", hdrs, value)
    other = rejected("NOM-2")
    _, value2, hdrs2 = envelope.encode(other)
    metrics.published("exemplars.nominations", hdrs2, value2)
    found = values(metrics)
    assert found[("exemplars_events_published_total",
                  (("topic", "exemplars.nominations"), ("type", "nomination.rejected")))] == 2
    assert found[("exemplars_refusal_reasons_total", (("code", "QUOTA_EXCEEDED"), ("type", "nomination.rejected")))] == 2


async def test_the_middleware_counts_what_goes_through_broker_publish():
    """The wiring only (FastStream's in-memory broker); tests/e2e/test_operations_endpoints.py does it for real."""
    metrics = ServiceMetrics("test")
    broker = KafkaBroker("127.0.0.1:9", middlewares=metrics.middlewares)
    _, value, hdrs = envelope.encode(rejected())
    async with TestKafkaBroker(broker) as br:
        await br.publish(value, "exemplars.nominations", key=b"NOM-1", headers=hdrs)
    found = values(metrics)
    assert found[("exemplars_refusal_reasons_total", (("code", "QUOTA_EXCEEDED"), ("type", "nomination.rejected")))] == 1
    assert found[("faststream_published_messages_total", (("app_name", "test"), ("broker", "kafka"),
                                                          ("destination", "exemplars.nominations"),
                                                          ("status", "success")))] == 1
