"""Creating the design's topics (the local stack and tests; compose has its own job).

Each topic gets the retention of shared/retention.py. A topic that already exists gets it
too, so a changed setting takes effect on the next start: through IncrementalAlterConfigs,
which sets `retention.ms` alone. aiokafka has no call for it, hence the request below; its
`alter_configs` (AlterConfigs) is no substitute: on Apache Kafka it replaces every config of
the topic (what it does not name reverts to the broker's default), and Tansu, the local
broker, does not offer it. A broker that offers neither describing nor altering configs is
logged as such and left as it is: the topics still exist and the stack still runs.
"""

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String

from shared import retention
from shared.kafka_security import client_options
from shared.retention import RetentionPolicy
from shared.topics import TOPICS, dlq

log = logging.getLogger("exemplars.topics")

RETENTION = "retention.ms"


def topic_plan(partitions: int | None = None, replication: int = 1,
               policy: RetentionPolicy | None = None) -> list[NewTopic]:
    """Every topic with its partitions and its retention (the environment's policy unless given)."""
    policy = policy or retention.load()
    plan = []
    for spec in TOPICS:
        for name, count in ((spec.name, partitions or spec.partitions), (dlq(spec.name), 1)):
            config = {RETENTION: policy.retention_ms(name), "cleanup.policy": "delete"}
            plan.append(NewTopic(name, count, replication, topic_configs=config))
    return plan


async def create_topics(bootstrap: str, partitions: int | None = None, timeout: float = 30.0,
                        policy: RetentionPolicy | None = None) -> list[str]:
    """Create missing topics and bring the retention of existing ones to the policy's; returns
    the names created. Idempotent."""
    policy = policy or retention.load()  # a bad setting stops us before the broker is touched
    for name in policy.shortened_event_topics():
        log.warning("%s keeps %s ms only: a rebuild from offset 0 will not see what has expired",
                    name, policy.retention_ms(name))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **client_options())
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        plan = topic_plan(partitions, policy=policy)
        existing = set(await admin.list_topics())
        missing = [topic for topic in plan if topic.name not in existing]
        created = await _create(admin, missing) if missing else []
        try:
            await apply_retention(admin, {topic.name: topic.topic_configs[RETENTION]
                                          for topic in plan if topic.name not in created})
        except KafkaError as error:
            # The topics are there; a broker that fails here must not keep the stack from starting.
            log.warning("retention of the existing topics not applied: the broker answered %r", error)
        return created
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> list[str]:
    """The names created; one another runner created first counts as existing."""
    response = await admin.create_topics(topics)
    created = []
    for name, code, *message in response.topic_errors:  # versions before 1 carry no message
        if code == 0:
            created.append(name)
        elif code != TopicAlreadyExistsError.errno:
            raise for_code(code)(f"creating {name}: {message[0] if message else code}")
    return created


async def apply_retention(admin: AIOKafkaAdminClient, wanted: dict[str, str]) -> dict[str, str]:
    """Set `retention.ms` where the broker reports another value; returns what was changed
    (topic -> new value). Warns, and changes nothing, where the broker cannot do it."""
    if not wanted:
        return {}
    current = await describe_retention(admin, list(wanted))
    stale = {name: value for name, value in wanted.items() if current is None or current.get(name) != value}
    if not stale:
        return {}
    try:
        response = await admin._send_request(IncrementalAlterConfigs(stale))  # noqa: SLF001 - see the module docstring
    except IncompatibleBrokerVersion as error:
        log.warning("the broker offers no IncrementalAlterConfigs (%s): retention of %s left as it is",
                    error, ", ".join(sorted(stale)))
        return {}
    changed = {}
    for code, message, _, name in response.responses:
        if code:
            log.warning("%s: the broker refused retention.ms=%s: %s (%s)",
                        name, stale[name], for_code(code).__name__, message)
            continue
        changed[name] = stale[name]
        log.info("%s: retention.ms %s -> %s", name, "?" if current is None else current.get(name), stale[name])
    after = await describe_retention(admin, list(changed))
    for name in [n for n in changed if after is not None and after.get(n) != changed[n]]:
        log.warning("%s: the broker accepted retention.ms=%s but reports %s", name, changed[name], after.get(name))
    return changed


async def describe_retention(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, str | None] | None:
    """`retention.ms` per topic as the broker reports it (None for a topic without it), or
    None when the broker cannot say."""
    if not names:
        return {}
    # Every config of each topic: Tansu drops the connection when asked for named keys.
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses = await admin.describe_configs(resources)
    except IncompatibleBrokerVersion as error:
        log.warning("the broker offers no DescribeConfigs (%s): retention is set without comparing", error)
        return None
    result: dict[str, str | None] = {}
    for response in responses:
        for code, message, _, name, entries in response.resources:
            if code:
                log.warning("%s: the broker cannot describe its configs: %s (%s)",
                            name, for_code(code).__name__, message)
                continue
            result[name] = next((entry[1] for entry in entries if entry[0] == RETENTION), None)
    return result


# ---- IncrementalAlterConfigs (KIP-339), version 0: not in aiokafka ------------------------------

_SET = 0  # the operation that sets one key and leaves the others as they are


class _IncrementalAlterConfigsResponse_v0(Response):
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("responses", Array(("error_code", Int16), ("error_message", String("utf-8")),
                            ("resource_type", Int8), ("resource_name", String("utf-8")))),
    )


class _IncrementalAlterConfigsRequest_v0(RequestStruct):
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = _IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(
        ("resources", Array(("resource_type", Int8), ("resource_name", String("utf-8")),
                            ("configs", Array(("name", String("utf-8")), ("config_operation", Int8),
                                              ("value", String("utf-8")))))),
        ("validate_only", Boolean),
    )


class IncrementalAlterConfigs(Request[_IncrementalAlterConfigsRequest_v0]):
    """Set `retention.ms` of each topic given (topic -> value)."""

    API_KEY = 44

    def __init__(self, retention_by_topic: dict[str, str]) -> None:
        self.resources = [(int(ConfigResourceType.TOPIC), name, [(RETENTION, _SET, value)])
                          for name, value in retention_by_topic.items()]

    def build(self, struct: type[_IncrementalAlterConfigsRequest_v0]) -> _IncrementalAlterConfigsRequest_v0:
        return struct(resources=self.resources, validate_only=False)
