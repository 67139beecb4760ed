"""JSON log lines carry the event they are about, set once per record by the consumer."""

import asyncio
import io
import json
import logging

import pytest

from shared import logs


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("test"))
    handler.addFilter(logs.EventContextFilter())
    logger = logging.getLogger("exemplars.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_lines_inside_a_context_carry_the_event_and_record(captured):
    logger, lines = captured
    with logs.about(topic="exemplars.nominations.intake", partition=2, offset=41):
        with logs.about(event_id="e-1", event_type="nomination.submitted", subject="NOM-1"):
            logger.warning("handler failed")
        logger.info("after the event, still the record")
    logger.info("outside")
    first, second, third = lines()
    assert first["event_id"] == "e-1" and first["event_type"] == "nomination.submitted" and first["subject"] == "NOM-1"
    assert (first["topic"], first["partition"], first["offset"]) == ("exemplars.nominations.intake", 2, 41)
    assert "event_id" not in second and second["offset"] == 41
    assert not set(logs.CONTEXT_FIELDS) & set(third)


def test_explicit_extras_win_and_none_values_are_left_out(captured):
    logger, lines = captured
    with logs.about(event_id="e-1", subject=None):
        logger.info("about another event", extra={"event_id": "e-2"})
    (line,) = lines()
    assert line["event_id"] == "e-2" and "subject" not in line


async def test_concurrent_tasks_keep_their_own_event(captured):
    """The consumer handles partitions concurrently: each task's lines name its own event."""
    logger, lines = captured

    async def handle(event_id: str) -> None:
        with logs.about(event_id=event_id):
            await asyncio.sleep(0.01)
            logger.info("handled %s", event_id)

    await asyncio.gather(*(handle(f"e-{n}") for n in range(5)))
    assert all(line["message"] == f"handled {line['event_id']}" for line in lines())
