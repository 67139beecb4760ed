"""The retention per topic: its defaults, the operator's overrides, what is refused, and how
deploy/topics.py behaves with a broker that cannot describe or alter configs."""

import logging
from types import SimpleNamespace

import pytest
from aiokafka.errors import IncompatibleBrokerVersion

from deploy.topics import apply_retention, topic_plan
from shared import retention
from shared.retention import DAY_MS, FOREVER, RetentionError, RetentionPolicy, parse_duration, parse_overrides
from shared.topics import DIRECTORY, NOMINATIONS_INTAKE, TOPICS, all_topic_names, dlq

THIRTY_DAYS = str(30 * DAY_MS)


def test_event_topics_keep_everything_and_dead_letters_thirty_days_by_default():
    policy = RetentionPolicy.from_text("")
    for spec in TOPICS:
        assert policy.retention_ms(spec.name) == "-1"
        assert policy.retention_ms(dlq(spec.name)) == THIRTY_DAYS == "2592000000"
    assert set(policy.by_topic) == set(all_topic_names())
    assert policy.shortened_event_topics() == []


def test_the_replay_markers_are_kept_as_long_as_the_longest_kept_dead_letter():
    assert RetentionPolicy.from_text("").longest_dead_letter_ms() == 30 * DAY_MS
    longer = f"{dlq(TOPICS[0].name)}=90d,{dlq(TOPICS[1].name)}=7d,{TOPICS[2].name}=14d"
    assert RetentionPolicy.from_text(longer).longest_dead_letter_ms() == 90 * DAY_MS
    assert RetentionPolicy.from_text(f"{dlq(TOPICS[1].name)}=forever").longest_dead_letter_ms() == FOREVER


@pytest.mark.parametrize(("text", "ms"), [
    ("forever", FOREVER), ("30d", 30 * DAY_MS), ("12h", 12 * 3_600_000), ("5000ms", 5000), ("1ms", 1),
    (" 7d ", 7 * DAY_MS), ("999999999d", 999_999_999 * DAY_MS),
])  # fmt: skip
def test_durations(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", [
    "", "14", "-1", "0d", "014d", "14 d", "14D", "2w", "1.5d", "14dms", "Forever", "1000000000ms", "٣d", "+5d",
])  # fmt: skip
def test_durations_refused(text):
    with pytest.raises(RetentionError, match="or 1 to 9 digits followed by d, h or ms"):
        parse_duration(text)


def test_overrides_replace_the_defaults_of_the_topics_they_name_only():
    policy = RetentionPolicy.from_text(f"{dlq(NOMINATIONS_INTAKE)}=14d, {dlq(DIRECTORY)} = 90d,")
    assert policy.retention_ms(dlq(NOMINATIONS_INTAKE)) == str(14 * DAY_MS)
    assert policy.retention_ms(dlq(DIRECTORY)) == str(90 * DAY_MS)
    others = set(all_topic_names()) - {dlq(NOMINATIONS_INTAKE), dlq(DIRECTORY)}
    default = RetentionPolicy.from_text("")
    assert {name: policy.retention_ms(name) for name in others} == {name: default.retention_ms(name) for name in others}


def test_an_event_topic_may_be_shortened_and_says_so():
    policy = RetentionPolicy.from_text(f"{DIRECTORY}=3650d,{dlq(DIRECTORY)}=forever")
    assert policy.shortened_event_topics() == [DIRECTORY]
    assert policy.retention_ms(dlq(DIRECTORY)) == "-1"


@pytest.mark.parametrize(("text", "message"), [
    ("exemplars.unknown=14d", "unknown topic 'exemplars.unknown'"),
    ("exemplars.directory.DLQ=14d", "unknown topic"),
    ("=14d", "unknown topic ''"),
    ("exemplars.directory.dlq", "write topic=duration"),
    ("exemplars.directory.dlq=14d,exemplars.directory.dlq=30d", "given twice"),
    ("exemplars.directory.dlq=14", "or 1 to 9 digits followed by d, h or ms"),
    ("exemplars.directory.dlq=", "or 1 to 9 digits followed by d, h or ms"),
])  # fmt: skip
def test_overrides_refused(text, message):
    with pytest.raises(RetentionError, match=message):
        parse_overrides(text)


def test_the_environment_gives_the_overrides_and_names_itself_when_refused(monkeypatch):
    monkeypatch.setenv("EXEMPLARS_TOPIC_RETENTION", f"{dlq(DIRECTORY)}=90d")
    assert retention.load().retention_ms(dlq(DIRECTORY)) == str(90 * DAY_MS)
    assert retention.retention_ms(dlq(DIRECTORY)) == str(90 * DAY_MS)
    monkeypatch.setenv("EXEMPLARS_TOPIC_RETENTION", "exemplars.directory.dlq=3 months")
    with pytest.raises(RetentionError, match="^EXEMPLARS_TOPIC_RETENTION: "):
        retention.load()
    monkeypatch.delenv("EXEMPLARS_TOPIC_RETENTION")
    assert retention.load() == RetentionPolicy.from_text("")


def test_the_local_plan_creates_each_topic_with_its_retention(monkeypatch):
    monkeypatch.setenv("EXEMPLARS_TOPIC_RETENTION", f"{dlq(DIRECTORY)}=12h")
    plan = {topic.name: topic.topic_configs for topic in topic_plan()}
    assert plan[dlq(DIRECTORY)] == {"retention.ms": str(12 * 3_600_000), "cleanup.policy": "delete"}
    assert plan[DIRECTORY]["retention.ms"] == "-1"
    assert plan[dlq(NOMINATIONS_INTAKE)]["retention.ms"] == THIRTY_DAYS
    monkeypatch.setenv("EXEMPLARS_TOPIC_RETENTION", "exemplars.nowhere=1d")
    with pytest.raises(RetentionError):
        topic_plan()


# ---- deploy/topics.py with brokers that cannot do everything ---------------------------------------


class Broker:
    """An admin client's stand-in: DescribeConfigs and IncrementalAlterConfigs answered from a dict,
    or refused the way aiokafka refuses an API the broker did not advertise."""

    def __init__(self, configs: dict[str, dict[str, str]], describe: bool = True, alter: bool = True,
                 refuse: dict[str, int] | None = None) -> None:
        self.configs, self.describe, self.alter, self.refuse = configs, describe, alter, refuse or {}
        self.altered: list[tuple[str, str]] = []

    async def describe_configs(self, resources):
        if not self.describe:
            raise IncompatibleBrokerVersion("DescribeConfigsRequest cannot be used if the API version is unknown")
        return [SimpleNamespace(resources=[
            (0, None, 2, r.name, [(key, value, False, 1, False) for key, value in self.configs.get(r.name, {}).items()])
            for r in resources])]

    async def _send_request(self, request):
        if not self.alter:
            raise IncompatibleBrokerVersion("IncrementalAlterConfigs cannot be used if the API version is unknown")
        answers = []
        for _, name, [(key, _, value)] in request.resources:
            code = self.refuse.get(name, 0)
            if not code:
                self.configs.setdefault(name, {})[key] = value
                self.altered.append((name, value))
            answers.append((code, "refused" if code else None, 2, name))
        return SimpleNamespace(responses=answers)


async def test_only_topics_with_another_retention_are_altered():
    broker = Broker({"a": {"retention.ms": "-1", "cleanup.policy": "delete"}, "b": {"retention.ms": THIRTY_DAYS}})
    changed = await apply_retention(broker, {"a": THIRTY_DAYS, "b": THIRTY_DAYS, "c": "-1"})
    assert changed == {"a": THIRTY_DAYS, "c": "-1"}
    assert broker.altered == [("a", THIRTY_DAYS), ("c", "-1")]
    assert broker.configs["a"] == {"retention.ms": THIRTY_DAYS, "cleanup.policy": "delete"}


async def test_a_broker_without_incremental_alter_configs_is_named_and_left_as_it_is(caplog):
    broker = Broker({"a": {"retention.ms": "-1"}}, alter=False)
    with caplog.at_level(logging.WARNING, logger="exemplars.topics"):
        assert await apply_retention(broker, {"a": THIRTY_DAYS}) == {}
    assert "no IncrementalAlterConfigs" in caplog.text and "left as it is" in caplog.text
    assert broker.configs["a"]["retention.ms"] == "-1"


async def test_a_broker_without_describe_configs_gets_every_retention_set(caplog):
    broker = Broker({}, describe=False)
    with caplog.at_level(logging.WARNING, logger="exemplars.topics"):
        assert await apply_retention(broker, {"a": THIRTY_DAYS, "b": "-1"}) == {"a": THIRTY_DAYS, "b": "-1"}
    assert "no DescribeConfigs" in caplog.text


async def test_a_refusal_is_logged_with_the_brokers_answer(caplog):
    broker = Broker({"a": {"retention.ms": "-1"}, "b": {"retention.ms": "-1"}}, refuse={"a": 29})
    with caplog.at_level(logging.WARNING, logger="exemplars.topics"):
        assert await apply_retention(broker, {"a": THIRTY_DAYS, "b": THIRTY_DAYS}) == {"b": THIRTY_DAYS}
    assert "a: the broker refused retention.ms=2592000000: TopicAuthorizationFailedError" in caplog.text
