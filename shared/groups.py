"""Every consumer group of the system: which service reads which topic, under which name.

The group id is `shared.kafka.group_id(settings, service, name)`. The services subscribe
from this list (`shared.kafka.subscribe_units`, with the handlers of their `routes()`),
and the tools that measure lag, touch a group or rebuild a projection read it too; a unit
test (tests/unit/test_ops_groups.py) checks what the services' apps actually subscribe.
"""

from dataclasses import dataclass

from shared.topics import (
    DIRECTORY,
    EVALUATIONS,
    EVALUATIONS_INTAKE,
    NOMINATIONS,
    NOMINATIONS_INTAKE,
    NOTIFICATIONS,
)


@dataclass(frozen=True)
class Subscription:
    service: str
    name: str  # the handler name: the second half of the group id
    topic: str
    # True on another service's output topic: types without a handler are skipped, not poison.
    ignore_unhandled: bool


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription("nominations", "intake", NOMINATIONS_INTAKE, ignore_unhandled=False),
    Subscription("nominations", "directory", DIRECTORY, ignore_unhandled=False),
    Subscription("nominations", "evaluations", EVALUATIONS, ignore_unhandled=True),
    Subscription("evaluations", "intake", EVALUATIONS_INTAKE, ignore_unhandled=False),
    Subscription("evaluations", "nominations", NOMINATIONS, ignore_unhandled=True),
    Subscription("evaluations", "directory", DIRECTORY, ignore_unhandled=False),
    Subscription("notifications", "directory", DIRECTORY, ignore_unhandled=False),
    Subscription("notifications", "nominations", NOMINATIONS, ignore_unhandled=True),
    Subscription("notifications", "evaluations", EVALUATIONS, ignore_unhandled=True),
    Subscription("workspace", "directory", DIRECTORY, ignore_unhandled=True),
    Subscription("workspace", "nominations", NOMINATIONS, ignore_unhandled=True),
    Subscription("workspace", "evaluations", EVALUATIONS, ignore_unhandled=True),
)

SERVICES: tuple[str, ...] = tuple(dict.fromkeys(s.service for s in SUBSCRIPTIONS))


def of_service(service: str) -> list[Subscription]:
    return [s for s in SUBSCRIPTIONS if s.service == service]


def readers(topic: str) -> list[Subscription]:
    """The subscriptions that consume `topic` (a replay to it reaches each of them)."""
    return [s for s in SUBSCRIPTIONS if s.topic == topic]


def subscription(service: str, name: str) -> Subscription:
    for s in SUBSCRIPTIONS:
        if (s.service, s.name) == (service, name):
            return s
    raise KeyError(f"{service}.{name} is not a subscription of the system")

# The one topic each service writes: a rebuild takes the service's decisions from it. The
# workspace has none: it answers nothing, and what people do there goes to the intake topics.
OUTPUT_TOPICS: dict[str, str] = {"nominations": NOMINATIONS, "evaluations": EVALUATIONS, "notifications": NOTIFICATIONS}
