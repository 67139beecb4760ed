"""`exemplars`: run the embedded stack, feed it demo data, create topics, operator tools."""

import argparse
import asyncio
import importlib.util
import logging
import signal
import sys
from pathlib import Path

from deploy.demo import add_demo_command
from deploy.keys import add_keys_command
from deploy.person import add_person_command
from deploy.compose_secrets import add_secrets_command
from deploy.tokens import add_tokens_command
from deploy.try_workspace import add_try_workspace_command
from deploy.ops.commands import add_commands as add_ops_commands
from deploy.stack import SERVICES, EmbeddedStack, StackConfig
from reporting.command import add_report_command
from shared.retention import RetentionError

log = logging.getLogger("exemplars")


def available_services() -> list[str]:
    return [name for name, (module, _, _) in SERVICES.items() if importlib.util.find_spec(f"{module}.__main__")]


async def run(args: argparse.Namespace) -> int:
    config = StackConfig(root=Path(args.data_dir).resolve(), kafka_port=args.kafka_port, mongo_port=args.mongo_port,
                         smtp_port=args.smtp_port)
    stack = EmbeddedStack(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print("Starting Tansu and SecantusDB ...", flush=True)
        await stack.start_servers()
        await stack.start_smtp_sink()
        for name in available_services():
            print(f"Starting {name} ...", flush=True)
            await stack.start_service(name)
        print("\nExemplars is running:\n" + stack.summary() + "\n\nCtrl-C stops everything.", flush=True)
        while not stop.is_set():
            if crashed := [p for ps in stack.services.values() for p in ps if not p.running]:
                print(f"\n{crashed[0].name} exited:\n{crashed[0].tail()}", file=sys.stderr)
                return 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
        return 0
    finally:
        print("\nStopping ...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


async def topics(args: argparse.Namespace) -> int:
    from deploy.topics import create_topics

    created = await create_topics(args.bootstrap, args.partitions)
    print("created: " + (", ".join(created) or "nothing, all exist"))
    return 0


async def docs(args: argparse.Namespace) -> int:
    from deploy import docs as asyncapi_docs

    if args.check:
        stale = asyncapi_docs.stale()
        print("stale: " + ", ".join(stale) + " (run `make docs`)" if stale else "docs/asyncapi is up to date")
        return 1 if stale else 0
    for path in asyncapi_docs.write():
        print(f"wrote {path}")
    return 0


async def webhook_secret(args: argparse.Namespace) -> int:
    """Each receiver's own signing secret, derived from NOTIFICATIONS_WEBHOOK_SECRET."""
    from services.notifications.settings import NotificationsSettings
    from services.notifications.webhooks import secret_for_receiver

    recipient = f"unit:{args.unit}" if args.unit else args.staff
    try:
        print(secret_for_receiver(NotificationsSettings(), recipient))
    except ValueError as exc:
        print(f"exemplars webhook-secret: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exemplars", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start the embedded stack and the services (no Docker)")
    p.add_argument("--data-dir", default=".local", help="data and logs (default: .local)")
    p.add_argument("--kafka-port", type=int, default=9092)
    p.add_argument("--mongo-port", type=int, default=27017)
    p.add_argument("--smtp-port", type=int, default=1025)
    p.set_defaults(func=run)

    # The demo feed, the programme review and the operator tools declare their own arguments.
    add_demo_command(sub)
    add_report_command(sub)
    add_keys_command(sub)
    add_tokens_command(sub)
    add_secrets_command(sub)
    add_try_workspace_command(sub)
    add_person_command(sub)

    p = sub.add_parser("topics", help="create the design's topics on a broker")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--partitions", type=int, default=None)
    p.set_defaults(func=topics)

    p = sub.add_parser("docs", help="write each service's AsyncAPI document to docs/asyncapi/ (--check: compare only)")
    p.add_argument("--check", action="store_true", help="exit 1 if a committed document differs from the code")
    p.set_defaults(func=docs)

    p = sub.add_parser("webhook-secret", help="the secret a webhook receiver verifies its calls with")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--unit", help="a unit id (the unit's webhook_url)")
    who.add_argument("--staff", help="a staff id (the person's webhook_url)")
    p.set_defaults(func=webhook_secret)

    add_ops_commands(sub)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        return asyncio.run(args.func(args))
    except RetentionError as exc:  # a topic's retention setting is wrong: say which, not a traceback
        print(f"exemplars {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
