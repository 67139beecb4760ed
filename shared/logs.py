"""JSON-lines logging, one object per line, so operators can ship and query logs as data.

Every line written while a Kafka record is being handled carries that record's event
(`event_id`, `event_type`, `subject`) and position (`topic`, `partition`, `offset`): the
consumer sets them once per record in a context variable (`about`), and a filter on the
handler copies them onto each log record, so no call site has to pass them.
"""

import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

# Fields a log line may carry about the event or record it concerns.
CONTEXT_FIELDS = ("event_id", "event_type", "subject", "topic", "partition", "offset", "delivery_id")

_context: ContextVar[Mapping[str, object]] = ContextVar("exemplars_log_context", default=MappingProxyType({}))


@contextmanager
def about(**fields: object) -> Iterator[None]:
    """Log lines inside this block (and tasks it starts) carry `fields`, merged over outer ones."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class EventContextFilter(logging.Filter):
    """Copies the current event context onto the record; explicit `extra=` values win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(EventContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
