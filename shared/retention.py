"""How long each topic keeps its records: the `retention.ms` every topic is created with.

Personal data may be kept no longer than its purpose needs (Law 91/2025/QH15), so retention
is a setting per topic rather than one value for all (DESIGN.md, "Personal data"):

- the event topics keep their records forever (-1): the log is the source of truth and every
  projection is rebuilt from offset 0; a person's sealed fields in them are crypto-shredded
  when the person is erased (shared/personal.py), not expired;
- the dead-letter topics keep theirs 30 days: long enough for an operator to look into a
  dead letter and replay it (`exemplars deadletters list|show|replay`), no longer, since a
  dead letter may hold what no key can shred (a record that could not be read, a field an
  outside system sent in clear).

An operator changes any of them with `EXEMPLARS_TOPIC_RETENTION` (compose: the
`KAFKA_TOPIC_RETENTION` of `.env`, read by deploy/kafka/create-topics.sh with the same
rules), e.g. `exemplars.nominations.intake.dlq=14d,exemplars.directory.dlq=90d`. A value is
`forever` or a whole number of 1 to 9 digits followed by `d`, `h` or `ms`; an unknown topic,
a topic given twice or any other value is refused before a topic is touched, rather than
guessed at.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.topics import TOPICS, all_topic_names, dlq

ENV_VARIABLE = "EXEMPLARS_TOPIC_RETENTION"
FOREVER = -1
DAY_MS = 86_400_000
DEAD_LETTER_DAYS = 30

_UNIT_MS = {"d": DAY_MS, "h": 3_600_000, "ms": 1}
# Nine digits keep every value inside a signed 64-bit number, which the shell twin of this
# parser (create-topics.sh) relies on; longer periods are written in a larger unit.
_DURATION = re.compile(r"([1-9][0-9]{0,8})(d|h|ms)")
_RULE = "give `forever` or 1 to 9 digits followed by d, h or ms (e.g. 30d, 12h, 5000ms)"


class RetentionError(ValueError):
    """A retention setting that cannot be applied as written."""


class RetentionSettings(BaseSettings):
    """The operator's overrides, read like the operator tools' other settings (`EXEMPLARS_`)."""

    model_config = SettingsConfigDict(env_prefix="EXEMPLARS_", extra="ignore")

    topic_retention: str = ""


def parse_duration(text: str) -> int:
    """Milliseconds of `forever`, `30d`, `12h` or `5000ms`; -1 is forever."""
    value = text.strip()
    if value == "forever":
        return FOREVER
    match = _DURATION.fullmatch(value)
    if not match:
        raise RetentionError(f"{text!r}: {_RULE}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_overrides(text: str) -> dict[str, int]:
    """`topic=duration` items separated by commas (or lines); empty items are ignored."""
    known = all_topic_names()
    overrides: dict[str, int] = {}
    for item in (part.strip() for part in re.split(r"[,\n]", text)):
        if not item:
            continue
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals:
            raise RetentionError(f"{item!r}: write topic=duration, e.g. {dlq(known[0])}=14d")
        if name not in known:
            raise RetentionError(f"{item!r}: unknown topic {name!r} (known: {', '.join(known)})")
        if name in overrides:
            raise RetentionError(f"{item!r}: {name} is given twice")
        try:
            overrides[name] = parse_duration(value)
        except RetentionError:
            raise RetentionError(f"{item!r}: {_RULE}") from None
    return overrides


def defaults() -> dict[str, int]:
    result: dict[str, int] = {}
    for spec in TOPICS:
        result[spec.name] = FOREVER
        result[dlq(spec.name)] = DEAD_LETTER_DAYS * DAY_MS
    return result


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention in milliseconds of every topic of shared/topics.py."""

    by_topic: Mapping[str, int]

    @classmethod
    def from_text(cls, overrides: str) -> "RetentionPolicy":
        return cls({**defaults(), **parse_overrides(overrides)})

    def retention_ms(self, topic: str) -> str:
        """The value of the topic's `retention.ms` config, as Kafka takes it (a string)."""
        return str(self.by_topic[topic])

    def longest_dead_letter_ms(self) -> int:
        """How long the longest-kept dead letter stays: what a record about dead letters (the
        operators' replay markers) needs to be kept, and no longer (it names who replayed)."""
        kept = [self.by_topic[dlq(spec.name)] for spec in TOPICS]
        return FOREVER if FOREVER in kept else max(kept)

    def shortened_event_topics(self) -> list[str]:
        """Event topics an override gave a finite retention: a rebuild no longer sees their start."""
        return [spec.name for spec in TOPICS if self.by_topic[spec.name] != FOREVER]


def load() -> RetentionPolicy:
    """The policy in force: the defaults with the operator's overrides from the environment."""
    try:
        return RetentionPolicy.from_text(RetentionSettings().topic_retention)
    except RetentionError as error:
        raise RetentionError(f"{ENV_VARIABLE}: {error}") from None


def retention_ms(topic: str, policy: RetentionPolicy | None = None) -> str:
    return (policy or load()).retention_ms(topic)
