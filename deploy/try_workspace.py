"""`exemplars try-workspace`: one nomination left for people to score, on the running local stack.

`exemplars demo` plays the evaluators itself. This sends the directory (unchanged if it is
there) and one nomination of this year from a unit's emulation officer, signed as the unit's
system, waits for its panel and says how each member reaches their score sheet: the link in
the mail the SMTP sink saved, or the development sign-in.
"""

import argparse
import asyncio
import datetime as dt
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy import demo_data
from deploy.demo import send
from deploy.dev_keys import Keyring, SigningProducer
from shared import envelope, topics
from shared.envelope import PoisonMessage, new_event
from shared.kafka_security import client_options
from shared.vocabulary import Role


def add_try_workspace_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("try-workspace", help="one nomination for you to score in the workspace (local run)")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--unit", default="QLDD", help="the nominating unit (default QLDD)")
    p.add_argument("--model", type=int, default=0, help="which of the demo's models (0-%d)" % (len(demo_data.MODELS) - 1))
    p.add_argument("--keys", default=".local/keys")
    p.add_argument("--workspace", default="http://127.0.0.1:8004")
    p.add_argument("--mail-dir", default=".local/mail")
    p.set_defaults(func=try_workspace)


async def try_workspace(args: argparse.Namespace) -> int:
    keyring = Keyring(args.keys)
    if not keyring.trust_file.exists():
        print(f"exemplars try-workspace: no development keys in {args.keys}: start the stack first", file=sys.stderr)
        return 2
    officer = next((m for m in demo_data.staff() if m.unit_id == args.unit and Role.EMULATION_OFFICER in m.roles), None)
    if officer is None:
        print(f"exemplars try-workspace: unit {args.unit} has no emulation officer in the demo directory", file=sys.stderr)
        return 2
    year = dt.datetime.now(dt.UTC).year
    nomination_id = f"NOM-{year}-{args.unit}-{uuid.uuid4().hex[:6]}"
    sub = demo_data.submission(nomination_id, officer, year, demo_data.MODELS[args.model % len(demo_data.MODELS)])
    producer = SigningProducer(AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", **client_options()),
                               keyring)
    consumer = AIOKafkaConsumer(bootstrap_servers=args.bootstrap, enable_auto_commit=False, **client_options())
    await producer.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in (topics.NOMINATIONS, topics.EVALUATIONS)
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        await send(producer, topics.DIRECTORY, demo_data.directory_events())
        await asyncio.sleep(3)  # the services learn the units before the nomination
        await send(producer, topics.NOMINATIONS_INTAKE,
                   [new_event(sub, key=nomination_id, source=f"urn:unit:{args.unit}")])
        print(f"Nominated {nomination_id} ({sub.title}) for {year} as {officer.full_name}, {args.unit}; "
              "waiting for the panel ...", flush=True)
        answer = await _first(consumer, nomination_id, {"nomination.rejected", "evaluation.panel_assigned",
                                                        "evaluation.panel_incomplete"})
    finally:
        await consumer.stop()
        await producer.stop()
    if answer is None:
        print("No answer within a minute: is the stack running (`make run`)?", file=sys.stderr)
        return 1
    if answer.type == "nomination.rejected":
        print("Refused: " + "; ".join(r.message for r in answer.data.reasons)
              + "\nTry another unit: --unit TTDL, --unit DDBD, ...", file=sys.stderr)
        return 1
    names = {m.staff_id: m.full_name for m in demo_data.staff()}
    members = answer.data.evaluators if answer.type == "evaluation.panel_assigned" else answer.data.assigned
    print("Panel: " + ", ".join(f"{names.get(m, m)} ({m})" for m in members))
    print(f"Each member's mail, with its link to the score sheet, is in {args.mail_dir}/ within seconds;\n"
          f"or sign in as a member at {args.workspace}/dev/signin.")
    return 0


async def _first(consumer: AIOKafkaConsumer, nomination_id: str, types: set[str]):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                try:
                    event = envelope.decode(record.key, record.value, record.headers)
                except PoisonMessage:
                    continue
                if event.key == nomination_id and event.type in types:
                    return event
    return None
