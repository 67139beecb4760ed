"""Publish the demo feed as the units' own systems would: a plain Kafka client, CloudEvents.

`exemplars demo --years 2023-2025` plays a whole phase: the directory, each year's
nominations (some refused), then, reacting to what the services publish, the panels'
score sheets, the council's decisions and a year of follow-up for every recognised
exemplar. Panels are the evaluations service's choice, so the feed reads
`exemplars.evaluations` to know who scores.
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.demo_data import adopting_units, directory_events, nomination_waves
from deploy.dev_keys import Keyring, SigningProducer
from deploy.stack import StackConfig
from shared import envelope, topics
from shared.envelope import Event, PoisonMessage
from shared.kafka_security import client_options
from shared.outages import until_available
from shared.settings import ServiceSettings
from shared.vault import MongoVault, Vault, keys_to_seal

DEFAULT_YEARS = [2023, 2024, 2025]  # the programme's current phase: what the review report is about


async def send(producer: SigningProducer, topic: str, events: list[Event], structured_every: int = 0) -> None:
    """Send all, then await every confirmation (pipelined, as TRAPS.md advises); personal
    fields sealed when the producer has the key store, which is waited for when it is down
    (nothing has been sent yet, so the wait loses and repeats nothing)."""
    futures = []
    keys = await until_available(lambda: keys_to_seal(producer.vault, events), "the key store")
    for n, event in enumerate(events):
        # Some unit systems use a CloudEvents SDK in structured mode; show that both work.
        structured = structured_every and n % structured_every == 0
        key, value, headers = (envelope.encode_structured if structured else envelope.encode)(event, keys)
        futures.append(await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]))
    await asyncio.gather(*futures)


def parse_years(text: str) -> list[int]:
    """`2024`, `2023-2025` or `2023,2025`."""
    years: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        start, end = int(first), int(last or first)
        if end < start:
            raise ValueError(f"{part.strip()}: the last year comes before the first")
        years.update(range(start, end + 1))
    return sorted(years)


async def publish_phase(bootstrap: str, years: list[int], *, keyring: Keyring, seed: int = 7,
                        settle_seconds: float = 5.0, timeout: float = 600.0, directory: bool = True,
                        conflict_rate: float = 0.1, criteria_dir: str | None = None,
                        progress: Callable[[str], None] | None = None, vault: Vault | None = None) -> dict[str, int]:
    """Play `years` to the end (or until `timeout`); returns what was sent and what is still awaited.
    Every event is signed with the `keyring`'s key of its source, as the services require."""
    from services.evaluations.criteria import load_criteria
    from services.evaluations.demo_feed import Responder
    from services.evaluations.settings import EvaluationsSettings

    # The same criteria files as the service (EVALUATIONS_CRITERIA_DIR), or the sheets would not fit.
    registry = load_criteria(criteria_dir or EvaluationsSettings().criteria_dir)
    responder = Responder(registry, adopting_units(), seed=seed, conflict_rate=conflict_rate)
    waves = [nomination_waves(year, seed) for year in years]
    first = [e for wave, _ in waves for e in wave]
    second = [e for _, wave in waves for e in wave]
    responder.expect(first + second)
    producer = SigningProducer(AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                                **client_options()), keyring, vault)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20,
                                **client_options())
    await producer.start()
    await consumer.start()
    counts = {"directory": 0, "nominations": len(first) + len(second)}
    try:
        partitions = [TopicPartition(topic, p) for topic in (topics.NOMINATIONS, topics.EVALUATIONS)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise RuntimeError(f"no {topics.NOMINATIONS} or {topics.EVALUATIONS} topic at {bootstrap}: "
                               "is the stack running (`exemplars run`, or `exemplars topics`)?")
        consumer.assign(partitions)
        # From the start: answers may precede us (a rerun, or a fast service), and ids make replays harmless.
        await consumer.seek_to_beginning(*partitions)
        if directory:
            events = directory_events()
            await send(producer, topics.DIRECTORY, events)
            counts["directory"] = len(events)
            # Directory and intake are separate topics: give the services a moment to learn the units.
            await asyncio.sleep(settle_seconds)
        pump = _Pump(consumer, producer, responder, time.monotonic() + timeout, progress)
        await send(producer, topics.NOMINATIONS_INTAKE, first, structured_every=3)
        # The second wave (over quota, the same nominee again, withdrawals) depends on the first's outcome.
        await pump.run(lambda: not responder.unanswered(first))
        await send(producer, topics.NOMINATIONS_INTAKE, second)
        await pump.run(lambda: not responder.pending())
    finally:
        await consumer.stop()
        await producer.stop()
    sent = responder.sent
    counts.update({
        "accepted": sum(1 for a in responder.answered.values() if a == "accepted"),
        "refused": sum(1 for a in responder.answered.values() if a == "rejected"),
        "score sheets": sent.get("evaluation.score_submitted", 0),
        "conflicts": sent.get("evaluation.conflict_declared", 0),
        "discussion comments": sent.get("evaluation.comment_posted", 0),
        "decisions": sent.get("council.decision_recorded", 0),
        "recognised": sum(1 for c in responder.closed.values() if c == "recognized"),
        "reviews": sent.get("exemplar.review_reported", 0),
        "replications": sent.get("exemplar.replication_reported", 0),
        "visits": sent.get("exemplar.visit_reported", 0),
        "inputs refused": responder.refused,
        "pending": len(responder.pending()),
    })
    return counts


class _Pump:
    """Reads what the services publish and sends the responder's answers, until a condition holds."""

    def __init__(self, consumer: AIOKafkaConsumer, producer: SigningProducer, responder, deadline: float,
                 progress: Callable[[str], None] | None) -> None:
        self.consumer, self.producer, self.responder = consumer, producer, responder
        self.deadline, self.progress = deadline, progress
        self.last_report = time.monotonic()

    async def run(self, done: Callable[[], bool]) -> None:
        while not done() and time.monotonic() < self.deadline:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
            replies: list[Event] = []
            for records in batches.values():
                for record in records:
                    try:
                        event = envelope.decode(record.key, record.value, record.headers)
                    except PoisonMessage:
                        continue  # the services' topics carry only their events; nothing for us
                    replies += self.responder.observe(event)
            if replies:
                await send(self.producer, topics.EVALUATIONS_INTAKE, replies)
            if self.progress and time.monotonic() - self.last_report > 10:
                self.last_report = time.monotonic()
                self.progress(f"{len(self.responder.pending())} items still awaited")


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="play a demo phase: directory, nominations, scores, decisions, follow-up")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--years", default=None,
                   help="years to play: 2024, 2023-2025 or 2023,2025 (default: the phase 2023-2025)")
    p.add_argument("--year", type=int, default=None, help="one year (same as --years YEAR)")
    p.add_argument("--seed", type=int, default=7, help="the same seed replays the same data (default: 7)")
    p.add_argument("--settle", type=float, default=5.0, help="seconds between directory and nominations")
    p.add_argument("--timeout", type=float, default=600.0, help="give up waiting for the services after this")
    p.add_argument("--keys", default=".local/keys",
                   help="the development keys `exemplars run` created, to sign with (default: .local/keys)")
    p.add_argument("--mongo-uri", default=StackConfig(Path(".local")).mongo_uri,
                   help="the database holding the key store of personal data, to seal with "
                        "(default: the local run's)")
    p.set_defaults(func=run_demo)


async def run_demo(args: argparse.Namespace) -> int:
    years = parse_years(args.years) if args.years else [args.year] if args.year else DEFAULT_YEARS
    keyring = Keyring(args.keys)
    if not keyring.trust_file.exists():
        print(f"exemplars demo: no development keys in {args.keys}: start the stack first (`exemplars run` "
              "creates them), or give --keys", file=sys.stderr)
        return 2
    print(f"Playing {', '.join(map(str, years))} against {args.bootstrap} ...", flush=True)
    counts = await publish_phase(args.bootstrap, years, keyring=keyring, seed=args.seed, settle_seconds=args.settle,
                                 timeout=args.timeout, progress=lambda line: print(line, flush=True),
                                 vault=MongoVault.open(args.mongo_uri, ServiceSettings().keys_database))
    for what, n in counts.items():
        print(f"{what:<16} {n}")
    if counts["pending"]:
        print("The services did not answer everything in time; rerun the same command to go on.", flush=True)
        return 1
    return 0
