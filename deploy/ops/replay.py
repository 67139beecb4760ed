"""Replaying dead letters to their source topic, exactly, and remembering that we did.

A replay publishes the original key, value and headers (decoded from
`x-dlq-original-headers`, never the `x-dlq-*` ones) to the topic the record came from, on
the partition it came from, so the services see the very record they refused, in its
aggregate's order. Nothing is added to the record: a replay is recorded on the marker
topic instead, keyed by the dead letter, after the broker has confirmed the replay. That
record, shared by every operator's machine, is what makes a second replay of the same
dead letter ask for --force. A crash between the two leaves a replay unrecorded; replaying
it again is harmless because every service drops an event whose CloudEvents source and id
it has already processed.
"""

import datetime as dt
import getpass
import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from deploy.ops import REPLAY_MARKER_TOPIC
from deploy.ops.deadletters import DeadLetter
from deploy.ops.kafka_io import CLIENT_ID, TopicMissing, TopicReader
from deploy.ops.text import table, utc_text
from shared import retention
from shared.kafka_security import client_options
from shared.topics import DLQ_SUFFIX

MARKER_TOPIC = REPLAY_MARKER_TOPIC


@dataclass(frozen=True)
class Replay:
    """One replay of one dead letter, as recorded on the marker topic."""

    dead_letter: str  # DeadLetter.ref
    topic: str
    partition: int
    offset: int
    at: str
    by: str
    forced: bool

    def describe(self) -> str:
        forced = " (forced)" if self.forced else ""
        return f"{self.at} by {self.by} to {self.topic}[{self.partition}]@{self.offset}{forced}"

    def to_json(self) -> dict:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "at": self.at,
                "by": self.by, "forced": self.forced}


@dataclass(frozen=True)
class Step:
    letter: DeadLetter
    topic: str  # where it goes
    partition: int | None  # None: the producer's partitioner picks by key
    earlier: tuple[Replay, ...]
    refused: str | None  # why it will not be replayed


def plan(letters: Iterable[DeadLetter], replays: Mapping[str, list[Replay]], partitions: Mapping[str, int], *,
         to_topic: str | None = None, force: bool = False) -> list[Step]:
    """What a replay would do with each selected dead letter; pure, so --dry-run shows the truth.

    `partitions`: partition count of each destination topic (0 or absent: no such topic).
    """
    steps = []
    for letter in letters:
        topic = to_topic or letter.source_topic
        earlier = tuple(replays.get(letter.ref, ()))
        count = partitions.get(topic, 0)
        same = topic == letter.source_topic and letter.source_partition is not None
        partition = letter.source_partition if same and letter.source_partition < count else None
        refused = None
        if letter.original_headers is None:
            refused = f"original headers cannot be recovered exactly ({letter.problem})"
        elif topic.endswith(DLQ_SUFFIX) or topic == MARKER_TOPIC:
            refused = f"{topic} is not an event topic"
        elif count == 0:
            refused = f"topic {topic} does not exist"
        elif earlier and not force:
            refused = f"replayed before ({earlier[-1].describe()}); --force replays it again"
        steps.append(Step(letter, topic, partition, earlier, refused))
    return steps


def render_plan(steps: list[Step], dry_run: bool) -> str:
    rows = [(s.letter.ref, s.letter.reason, s.letter.event.type, s.letter.event.id,
             f"{s.topic}[{'key' if s.partition is None else s.partition}]", len(s.earlier) or None,
             "refused: " + s.refused if s.refused else ("would replay" if dry_run else "to replay"))
            for s in steps]
    return table(("DEAD LETTER", "REASON", "EVENT TYPE", "EVENT ID", "TO", "REPLAYED", "ACTION"), rows)


def marker_key(letter: DeadLetter) -> bytes:
    return letter.ref.encode()


def parse_marker(key: bytes | None, value: bytes | None) -> Replay | None:
    try:
        body = json.loads(value or b"")
        return Replay(dead_letter=(key or b"").decode(), topic=body["to"]["topic"],
                      partition=int(body["to"]["partition"]), offset=int(body["to"]["offset"]),
                      at=str(body["at"]), by=str(body.get("by", "?")), forced=bool(body.get("forced", False)))
    except (ValueError, KeyError, TypeError):
        return None  # not ours: the topic is shared knowledge, not a contract to crash on


def marker_value(letter: DeadLetter, topic: str, partition: int, offset: int, forced: bool, by: str,
                 at: dt.datetime) -> bytes:
    return json.dumps({
        "dead_letter": {"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
        "source": {"topic": letter.source_topic, "partition": letter.source_partition, "offset": letter.source_offset},
        "event": {"type": letter.event.type, "id": letter.event.id, "source": letter.event.source},
        "reason": letter.reason,
        "to": {"topic": topic, "partition": partition, "offset": offset},
        "at": utc_text(at), "by": by, "forced": forced,
    }, ensure_ascii=False).encode()


async def load_replays(reader: TopicReader) -> dict[str, list[Replay]]:
    """Every recorded replay by dead letter; none when the marker topic does not exist yet."""
    try:
        records = await reader.read(MARKER_TOPIC)
    except TopicMissing:
        return {}
    result: dict[str, list[Replay]] = {}
    for record in records:
        if (replay := parse_marker(record.key, record.value)) is not None:
            result.setdefault(replay.dead_letter, []).append(replay)
    return result


async def ensure_marker_topic(bootstrap: str, retention_ms: int) -> None:
    """One partition keeps the replays in order, as long as the longest-kept dead letter: a
    marker outliving every letter it could name would only keep who replayed it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=CLIENT_ID, request_timeout_ms=10_000,
                                **client_options())
    try:
        await admin.start()
        if MARKER_TOPIC in set(await admin.list_topics()):
            return
        try:
            brokers = len((await admin.describe_cluster())["brokers"])
        except Exception:  # noqa: BLE001 - a broker without DescribeCluster: assume one
            brokers = 1
        # Replicated like the event topics on a real cluster (three brokers), once locally.
        topic = NewTopic(MARKER_TOPIC, 1, min(3, max(brokers, 1)), topic_configs={"retention.ms": str(retention_ms)})
        try:
            await admin.create_topics([topic])
        except TopicAlreadyExistsError:
            pass  # another operator got there first
    finally:
        await admin.close()


def operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # noqa: BLE001 - a name is nice to have, never a reason to fail
        return "unknown"


async def execute(bootstrap: str, steps: list[Step], *, force: bool,
                  policy: retention.RetentionPolicy) -> list[tuple[Step, Replay]]:
    """Replay the steps not refused, in order; each is recorded once the broker confirmed it
    on the marker topic, made on first use with the `policy`'s longest dead-letter retention."""
    todo = [s for s in steps if s.refused is None]
    if not todo:
        return []
    await ensure_marker_topic(bootstrap, policy.longest_dead_letter_ms())
    # Not idempotent: Tansu lacks InitProducerId, and a duplicate here is dropped by id anyway.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_options(), acks="all", enable_idempotence=False,
                                client_id=CLIENT_ID, request_timeout_ms=15_000)
    done = []
    by = operator()
    try:
        await producer.start()
        for step in todo:  # one at a time: the original order per aggregate is kept
            letter = step.letter
            meta = await producer.send_and_wait(step.topic, value=letter.value, key=letter.key,
                                                headers=list(letter.original_headers), partition=step.partition)
            at = dt.datetime.now(dt.UTC)
            forced = bool(step.earlier) and force
            await producer.send_and_wait(MARKER_TOPIC, key=marker_key(letter),
                                         value=marker_value(letter, step.topic, meta.partition, meta.offset, forced, by, at))
            done.append((step, Replay(letter.ref, step.topic, meta.partition, meta.offset, utc_text(at), by, forced)))
    finally:
        await producer.stop()
    return done
