"""Prometheus metrics of one service process: FastStream's Kafka metrics and the domain's counters.

The domain counters are taken where an event leaves the service: a broker middleware sees
every publish once the broker has confirmed it, reads the CloudEvents type from the
headers and, for the few types whose labels live in the payload, the payload itself. So a
counter moves only for what really reached Kafka, whichever code path published it
(handlers, schedules, the delivery worker, dead letters).

What a count means under redelivery: each distinct event (CloudEvents id; for a dead
letter, the original record's topic, partition and offset) is counted once per process,
among the last `REMEMBERED` it published. A redelivered input, a unit system's retry or a
publish retried after a broker error republishes the same ids and is not counted again. A
crash or a rebalance moves uncommitted work to a fresh process that counts it again, so
`increase()` over a window that holds a restart can be a little high; the projections
(read endpoints) remain the exact record. Counters start at 0 with each process; sum them
over instances. Lag is the group's, the same whichever instance reports it: take max().
"""

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from faststream import BaseMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily

from shared.events import short_type
from shared.lag import LagProbe
from shared.progress import PROGRESS

log = logging.getLogger("exemplars.metrics")

REMEMBERED = 100_000  # distinct event ids kept for de-duplication (~15 MB at most)
LAG_MIN_INTERVAL_SECONDS = 5.0  # scrapes closer together reuse the last reading
LAG_TIMEOUT_SECONDS = 5.0  # a slow or absent broker must not hang the scrape

# Refusals whose payload lists reasons with a machine code.
REFUSALS = ("nomination.rejected", "nomination.withdrawal_rejected", "evaluation.input_rejected")
DELIVERIES = {"notification.sent": "sent", "notification.failed": "failed"}
MAX_LABEL = 64  # label values come from payloads: bound them


@dataclass(frozen=True)
class Sample:
    """One increment of one domain counter."""

    counter: str
    labels: tuple[tuple[str, str], ...]


def samples(topic: str, headers: Mapping[str, str], body: bytes) -> tuple[str, list[Sample]]:
    """The de-duplication key of a confirmed publish and the increments it stands for."""
    if "x-dlq-reason" in headers:
        source = headers.get("x-dlq-topic", topic)
        key = f"dlq/{source}/{headers.get('x-dlq-partition')}/{headers.get('x-dlq-offset')}"
        return key, [_sample("dead_letters", topic=source, reason=headers["x-dlq-reason"])]
    event_type = short_type(headers.get("ce_type", "")) or "unknown"
    key = f"{headers.get('ce_source')}/{headers.get('ce_id')}" if headers.get("ce_id") else ""
    found = [_sample("events_published", topic=topic, type=event_type)]
    if event_type in REFUSALS or event_type == "evaluation.completed" or event_type in DELIVERIES:
        data = _json(body)
        if event_type in REFUSALS:
            codes = {str(reason.get("code")) for reason in data.get("reasons") or () if isinstance(reason, dict)}
            found += [_sample("refusal_reasons", type=event_type, code=code) for code in sorted(codes)]
        elif event_type == "evaluation.completed":
            found.append(_sample("evaluations_completed", band=str(data.get("outcome", "unknown"))))
        else:
            found.append(_sample("deliveries", status=DELIVERIES[event_type], channel=str(data.get("channel", "unknown"))))
    return key, found


def _sample(counter: str, **labels: str) -> Sample:
    return Sample(counter, tuple((name, value[:MAX_LABEL]) for name, value in labels.items()))


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


class ServiceMetrics:
    """One registry per service process, served at /metrics."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        # Consumed batches (count, size, duration, outcome) and publishes, per topic.
        self.faststream = KafkaPrometheusMiddleware(registry=self.registry, app_name=service)
        r = self.registry
        self.counters: dict[str, Counter] = {
            "events_published": Counter(
                "exemplars_events_published", "Distinct events this process published, by topic and event type",
                ["topic", "type"], registry=r),
            "refusal_reasons": Counter(
                "exemplars_refusal_reasons",
                "Reason codes in the refusals this process published (one per distinct code of an event)",
                ["type", "code"], registry=r),
            "evaluations_completed": Counter(
                "exemplars_evaluations_completed", "evaluation.completed published, by outcome band",
                ["band"], registry=r),
            "deliveries": Counter(
                "exemplars_notification_deliveries", "Final outcomes of deliveries (notification.sent / .failed)",
                ["status", "channel"], registry=r),
            "dead_letters": Counter(
                "exemplars_dead_letters", "Records dead-lettered, by the topic they came from and the reason",
                ["topic", "reason"], registry=r),
        }  # fmt: skip
        self.lag = Gauge("exemplars_consumer_lag", "Records not yet committed by the consumer group",
                         ["group", "topic", "partition"], registry=r)
        self.lag_ok = Gauge("exemplars_consumer_lag_ok", "1 if the last lag reading succeeded, else 0", registry=r)
        self.failing = Gauge("exemplars_partition_failures",
                             "Failed attempts in a row at a consumed partition's batch (absent when it moves)",
                             ["group", "topic", "partition"], registry=r)
        self.stalled = Gauge("exemplars_partitions_stalled",
                             "Consumed partitions that have failed repeatedly and are not moving", registry=r)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._probe: LagProbe | None = None
        self._groups: list[tuple[str, str]] = []
        self._lag_lock = asyncio.Lock()
        self._lag_read_at = float("-inf")

    @property
    def middlewares(self) -> tuple[Any, ...]:
        """For `kafka.make_broker`: FastStream's metrics, then the domain counters."""
        return self.faststream, partial(_CountPublished, metrics=self)

    def published(self, topic: str, headers: Mapping[str, str] | None, body: Any) -> None:
        """Count one publish the broker confirmed (once per distinct event, see the module doc)."""
        if not isinstance(body, (bytes, bytearray)):
            return  # not an event of ours
        key, found = samples(topic, headers or {}, bytes(body))
        if key:
            if key in self._seen:
                self._seen.move_to_end(key)
                return
            self._seen[key] = None
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        for sample in found:
            self.counters[sample.counter].labels(**dict(sample.labels)).inc()

    def track_lag(self, probe: LagProbe, groups: Iterable[tuple[str, str]]) -> None:
        """Report the lag of these (group id, topic) pairs, read when /metrics is scraped."""
        self._probe, self._groups = probe, list(groups)

    async def refresh_lag(self) -> None:
        if self._probe is None:
            return
        async with self._lag_lock:
            if time.monotonic() - self._lag_read_at < LAG_MIN_INTERVAL_SECONDS:
                return
            try:
                async with asyncio.timeout(LAG_TIMEOUT_SECONDS):
                    for group, topic in self._groups:
                        for tp, lag in (await self._probe.lag(group, [topic])).items():
                            self.lag.labels(group, tp.topic, str(tp.partition)).set(lag)
                self.lag_ok.set(1)
            except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Kafka does not
                log.warning("reading consumer lag failed: %r", exc)
                self.lag_ok.set(0)
            self._lag_read_at = time.monotonic()

    def track_units(self, unit: Any) -> None:
        """Count the batches a unit of work committed and the inputs they held (shared/unit_of_work.py)."""
        self.registry.register(_UnitsCollector(unit))

    def refresh_progress(self) -> None:
        self.failing.clear()
        for stall in PROGRESS.failing():
            self.failing.labels(stall.group, stall.topic, str(stall.partition)).set(stall.failures)
        self.stalled.set(len(PROGRESS.stalled()))

    async def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        await self.refresh_lag()
        self.refresh_progress()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _UnitsCollector:
    """Read from the unit of work when scraped: it counts, the registry only shows."""

    def __init__(self, unit: Any) -> None:
        self.unit = unit

    def describe(self) -> list:
        return []

    def collect(self):
        yield CounterMetricFamily("exemplars_unit_of_work_batches", "Batches committed as one unit of work",
                                  value=self.unit.batches)
        yield CounterMetricFamily("exemplars_unit_of_work_inputs", "Inputs in the batches committed",
                                  value=self.unit.inputs)


class _CountPublished(BaseMiddleware):
    """Counts a publish after `call_next` returned, i.e. after the broker confirmed it."""

    def __init__(self, msg: Any, /, *, context: Any, metrics: ServiceMetrics) -> None:
        super().__init__(msg, context=context)
        self._metrics = metrics

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        result = await call_next(cmd)
        try:
            self._metrics.published(cmd.destination, cmd.headers, cmd.body)
        except Exception:  # noqa: BLE001 - counting must never fail a confirmed publish
            log.exception("counting a published record failed")
        return result
