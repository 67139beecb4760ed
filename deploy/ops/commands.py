"""The `deadletters`, `status` and `rebuild` subcommands: their arguments and what they run.

Kept out of deploy/cli.py, which only registers them, so the command line and the code
behind it change together. Exit codes: 0 done; 1 some selected dead letters were refused
(replayed before without --force, or not replayable); 2 bad arguments or nothing found.
"""

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from deploy.ops import REPLAY_MARKER_TOPIC

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deadletters", help="list, show and replay dead letters")
    dsub = p.add_subparsers(dest="deadletters_command", required=True)

    q = dsub.add_parser("list", help="dead letters of every dead-letter topic, or of one")
    _common(q)
    q.add_argument("--topic", help="a topic or its dead-letter topic (default: all)")
    q.add_argument("--since", help="written after: 2h, 3d, 2025-03-01, 2025-03-01T08:00 (UTC)")
    q.add_argument("--reason", action="append", default=[], help="undecodable, too_large, clock_skew, unexpected_type, handler_error")
    q.set_defaults(func=list_command)

    q = dsub.add_parser("show", help="one dead letter: original bytes, headers, error, replays")
    _common(q)
    q.add_argument("topic", help="a topic or its dead-letter topic")
    q.add_argument("partition", type=int)
    q.add_argument("offset", type=int)
    q.set_defaults(func=show_command)

    q = dsub.add_parser("replay", help="republish selected dead letters, exactly, to their source topic")
    _common(q)
    q.add_argument("--topic", help="a topic or its dead-letter topic (required with --offset)")
    q.add_argument("--offset", help="dead-letter offsets: 12  12,15  12-20  0:12 (partition:offset)")
    q.add_argument("--reason", action="append", default=[], help="only dead letters of this reason")
    q.add_argument("--key", help="only dead letters of this Kafka key (an aggregate id)")
    q.add_argument("--since", help="only dead letters written after this")
    q.add_argument("--all", action="store_true", help="every dead letter the other filters leave")
    q.add_argument("--to", dest="to_topic", help="another event topic (an event sent to the wrong topic)")
    q.add_argument("--dry-run", action="store_true", help="show what would be replayed, publish nothing")
    q.add_argument("--force", action="store_true", help="replay dead letters replayed before")
    q.set_defaults(func=replay_command)

    p = sub.add_parser("status", help="consumer lag, dead letters, overdue evaluations")
    p.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    p.add_argument("--group-prefix", default="", help="KAFKA_GROUP_PREFIX of the services (default: none)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--evaluations-url", default=None,
                        help="evaluations service read endpoint (default http://127.0.0.1:8002)")
    source.add_argument("--mongo-uri", default=None, help="read the evaluations database instead (read-only)")
    p.add_argument("--mongo-database", default="exemplars_evaluations")
    p.add_argument("--read-token-file", type=Path, default=os.environ.get("EXEMPLARS_READ_TOKEN_FILE"),
                   help="a file holding an operator's bearer token for the read endpoint "
                        "(default $EXEMPLARS_READ_TOKEN_FILE, else the token in $EXEMPLARS_READ_TOKEN; "
                        "make run writes .local/keys/operator.token)")
    p.add_argument("--today", type=dt.date.fromisoformat, default=None, help="judge deadlines as of this day (UTC)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=status_command)

    p = sub.add_parser("rebuild", help="rebuild a service's projection from the log, compare with the live one, switch")
    p.add_argument("service", choices=["nominations", "evaluations", "notifications"])
    p.add_argument("--bootstrap", default=None, help="default: the service's KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("--mongo-uri", default=None, help="default: the service's MONGO_URI")
    p.add_argument("--database", default=None, help="the live database (default: the service's MONGO_DATABASE)")
    p.add_argument("--group-prefix", default=None, help="default: the service's KAFKA_GROUP_PREFIX")
    p.add_argument("--trust-registry", default=None,
                   help="the trust file inputs are verified against, as live (default: the service's TRUST_REGISTRY)")
    p.add_argument("--into", default=None, help="an empty database (default: <live>_rebuilt_<UTC time>)")
    p.add_argument("--switch", action="store_true",
                   help="with every instance of the service stopped: move the live collections to a backup "
                        "database and the rebuilt ones in")
    p.add_argument("--force", action="store_true", help="switch although the projections differ")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=rebuild_command)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _fail(message: str) -> int:
    print(f"exemplars: {message}", file=sys.stderr)
    return 2


def _reports_broker_errors(command):
    """A broker that cannot be reached is a one-line message, not a traceback."""
    async def run(args: argparse.Namespace) -> int:
        from aiokafka.errors import KafkaError

        try:
            return await command(args)
        except (KafkaError, OSError, TimeoutError) as exc:
            return _fail(f"Kafka at {args.bootstrap}: {type(exc).__name__}: {exc}")
    run.__name__ = command.__name__
    return run


def _print_json(value) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


async def _read_letters(reader, topics: list[str], since) -> tuple[dict[str, list], list[str]]:
    from deploy.ops import deadletters as dl
    from deploy.ops.kafka_io import TopicMissing

    by_topic: dict[str, list] = {}
    missing = []
    for topic in topics:
        try:
            by_topic[topic] = [dl.from_record(r) for r in await reader.read(topic, since)]
        except TopicMissing:
            missing.append(topic)
    return by_topic, missing


@_reports_broker_errors
async def list_command(args: argparse.Namespace) -> int:
    from deploy.ops import deadletters as dl
    from deploy.ops import replay as rp
    from deploy.ops.kafka_io import TopicReader
    from deploy.ops.text import parse_since

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        return _fail(str(exc))
    topics = [dl.as_dead_letter_topic(args.topic)] if args.topic else dl.dead_letter_topics()
    async with TopicReader(args.bootstrap) as reader:
        by_topic, missing = await _read_letters(reader, topics, since)
        replays = await rp.load_replays(reader)
    by_topic = {t: dl.select(letters, reasons=args.reason) for t, letters in by_topic.items()}
    if args.json:
        origins = dl.replay_origins(replays)
        _print_json({"topics": {t: [dl.to_json(x, replays.get(x.ref), origin=dl.replay_of(x, origins))
                                    for x in letters] for t, letters in by_topic.items()}, "missing": missing})
    else:
        print(dl.render_list(by_topic, replays, missing))
    return 2 if missing and args.topic else 0


@_reports_broker_errors
async def show_command(args: argparse.Namespace) -> int:
    from deploy.ops import deadletters as dl
    from deploy.ops import replay as rp
    from deploy.ops.kafka_io import TopicMissing, TopicReader

    topic = dl.as_dead_letter_topic(args.topic)
    async with TopicReader(args.bootstrap) as reader:
        try:
            record = await reader.read_one(topic, args.partition, args.offset)
        except TopicMissing:
            return _fail(f"no topic {topic}")
        if record is None:
            return _fail(f"no record at {topic} partition {args.partition} offset {args.offset}")
        replays = await rp.load_replays(reader)
    letter = dl.from_record(record)
    history = replays.get(letter.ref, [])
    origin = dl.replay_of(letter, dl.replay_origins(replays))
    if args.json:
        _print_json(dl.to_json(letter, history, full=True, origin=origin))
    else:
        print(dl.render_show(letter, history, origin))
    return 0


@_reports_broker_errors
async def replay_command(args: argparse.Namespace) -> int:
    from deploy.ops import deadletters as dl
    from deploy.ops import replay as rp
    from deploy.ops.kafka_io import TopicReader
    from deploy.ops.text import parse_offsets, parse_since
    from shared import retention

    if not (args.all or args.offset or args.reason or args.key):
        return _fail("replay: choose what to replay: --offset, --reason, --key, or --all")
    if args.offset and not args.topic:
        return _fail("replay: --offset needs --topic (offsets belong to one dead-letter topic)")
    if args.to_topic and (args.to_topic.endswith(".dlq") or args.to_topic == REPLAY_MARKER_TOPIC):
        return _fail(f"replay: --to {args.to_topic} is not an event topic")
    try:
        since = parse_since(args.since) if args.since else None
        offsets = parse_offsets(args.offset) if args.offset else None
        policy = retention.load()  # the marker topic is made with it
    except ValueError as exc:
        return _fail(str(exc))
    topics = [dl.as_dead_letter_topic(args.topic)] if args.topic else dl.dead_letter_topics()
    async with TopicReader(args.bootstrap) as reader:
        by_topic, missing = await _read_letters(reader, topics, since)
        if missing and args.topic:
            return _fail(f"no topic {missing[0]}")
        chosen = [x for letters in by_topic.values()
                  for x in dl.select(letters, reasons=args.reason, offsets=offsets, key=args.key)]
        if offsets is not None:
            found = {(x.partition, x.offset) for x in chosen}
            if absent := sorted(offsets - found):
                return _fail(f"replay: no dead letter at {', '.join(f'{p}:{o}' for p, o in absent[:10])}"
                             f"{' ...' if len(absent) > 10 else ''} of {topics[0]} (nothing replayed)")
        replays = await rp.load_replays(reader)
        destinations = {args.to_topic} if args.to_topic else {x.source_topic for x in chosen}
        partitions = {t: len(await reader.partitions(t)) for t in destinations}
    steps = rp.plan(chosen, replays, partitions, to_topic=args.to_topic, force=args.force)
    refused = [s for s in steps if s.refused]
    if args.dry_run:
        if args.json:
            _print_json({"dry_run": True, "steps": [_step_json(s) for s in steps]})
        else:
            print(rp.render_plan(steps, dry_run=True) if steps else "nothing selected")
        return 1 if refused else 0
    done = await rp.execute(args.bootstrap, steps, force=args.force, policy=policy)
    if args.json:
        _print_json({"replayed": [{"dead_letter": s.letter.ref, **r.to_json()} for s, r in done],
                     "refused": [{"dead_letter": s.letter.ref, "why": s.refused} for s in refused]})
    else:
        if not steps:
            print("nothing selected")
        for step, replay in done:
            print(f"replayed {step.letter.ref} ({step.letter.event.type or '?'} {step.letter.event.id or ''})"
                  f" -> {replay.topic}[{replay.partition}]@{replay.offset}")
        for step in refused:
            print(f"refused  {step.letter.ref}: {step.refused}")
    return 1 if refused else 0


def _step_json(step) -> dict:
    return {"dead_letter": step.letter.ref, "reason": step.letter.reason, "event_type": step.letter.event.type,
            "event_id": step.letter.event.id, "to": {"topic": step.topic, "partition": step.partition},
            "replayed_before": [r.to_json() for r in step.earlier], "refused": step.refused}


@_reports_broker_errors
async def status_command(args: argparse.Namespace) -> int:
    from deploy.ops.status import collect, render

    status = await collect(args.bootstrap, group_prefix=args.group_prefix, evaluations_url=args.evaluations_url,
                           mongo_uri=args.mongo_uri, mongo_database=args.mongo_database, today=args.today,
                           read_token=(Path(args.read_token_file).read_text().strip() if args.read_token_file
                                       else os.environ.get("EXEMPLARS_READ_TOKEN")))
    if args.json:
        _print_json(status.to_json())
    else:
        print(render(status))
    return 0


@_reports_broker_errors
async def rebuild_command(args: argparse.Namespace) -> int:
    from pymongo import AsyncMongoClient

    from deploy.ops import rebuild as rb

    settings = rb.settings_for(args.service, kafka_bootstrap_servers=args.bootstrap, mongo_uri=args.mongo_uri,
                               mongo_database=args.database, kafka_group_prefix=args.group_prefix,
                               trust_registry=args.trust_registry)
    args.bootstrap = settings.kafka_bootstrap_servers  # for the broker error message
    into = args.into or f"{settings.mongo_database}_rebuilt_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    client = AsyncMongoClient(settings.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000)
    try:
        result = await rb.rebuild(args.service, settings, client, into)
        backup = None
        if args.switch and (result.equal or args.force):
            backup = await rb.switch(args.service, settings, client, result, force=args.force)
    except rb.RebuildRefused as exc:
        return _fail(f"rebuild {args.service}: {exc}")
    finally:
        await client.close()
    if args.json:
        _print_json(rb.to_json(result, backup))
    else:
        print(rb.render(result, backup, switch_asked=args.switch))
    return 0 if result.equal else 1
