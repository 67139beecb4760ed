"""What an idle consumer costs: one batch subscriber over a service's three topics against
three subscribers, one per topic (how the services consume), on the embedded Tansu broker.

Each layout runs in a child process of its own, subscribed with the services' settings
(`fetch_max_wait_ms`, batches, manual commits) and idle for `--seconds`; the figures are the
CPU of that process and of the broker meanwhile, as a share of one core.

    .venv/bin/python -m bench.consumers [--seconds 20] [--fetch-max-wait-ms 20]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from bench.observe import cpu_seconds
from deploy.processes import ManagedProcess, python_module
from deploy.stack import EmbeddedStack, StackConfig
from shared import groups

SERVICE = "notifications"
TOPICS = [s.topic for s in groups.of_service(SERVICE)]


async def consume(bootstrap: str, layout: str, wait_ms: int, seconds: float) -> None:
    """The child: subscribe as `layout` says, then sit idle."""
    broker = KafkaBroker(bootstrap, client_id=f"idle-{layout}")
    options = dict(batch=True, auto_offset_reset="earliest", ack_policy=AckPolicy.MANUAL, fetch_max_wait_ms=wait_ms,
                   max_records=250)

    async def handle(_) -> None:
        return None

    if layout == "one":
        broker.subscriber(*TOPICS, group_id=f"idle.one.{time.time_ns()}", **options)(handle)
    else:
        for n, topic in enumerate(TOPICS):
            broker.subscriber(topic, group_id=f"idle.per-topic.{n}.{time.time_ns()}", **options)(handle)
    await broker.start()
    print("ready", flush=True)
    await asyncio.sleep(seconds + 10)
    await broker.stop()


async def measure(stack: EmbeddedStack, layout: str, wait_ms: int, seconds: float, logs: Path) -> dict[str, float]:
    child = ManagedProcess(f"idle-{layout}", python_module("bench.consumers", "--child", layout, "--bootstrap",
                                                          stack.config.bootstrap, "--fetch-max-wait-ms", str(wait_ms),
                                                          "--seconds", str(seconds)), logs / f"idle-{layout}.log").start()
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (logs / f"idle-{layout}.log").read_text():
            if time.monotonic() > deadline or not child.running:
                raise RuntimeError(f"the {layout} consumer did not start:\n{child.tail()}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(5)  # joins and the first fetches settle
        before = cpu_seconds(child.pid), cpu_seconds(stack.kafka.pid)
        await asyncio.sleep(seconds)
        after = cpu_seconds(child.pid), cpu_seconds(stack.kafka.pid)
    finally:
        child.stop()
    return {"consumer": (after[0] - before[0]) / seconds * 100, "broker": (after[1] - before[1]) / seconds * 100}


async def main(seconds: float, wait_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-consumers-") as root:
        stack = EmbeddedStack(StackConfig.ephemeral(Path(root)))
        await stack.start_kafka()
        try:
            print(f"idle for {seconds:.0f} s, fetch_max_wait_ms={wait_ms}, topics: {', '.join(TOPICS)}")
            print(f"{'layout':<34}{'consumer CPU':>14}{'broker CPU':>12}")
            for layout, title in (("per-topic", "three subscribers, one per topic"), ("one", "one subscriber, three topics")):
                found = await measure(stack, layout, wait_ms, seconds, stack.logs)
                print(f"{title:<34}{found['consumer']:>12.1f} %{found['broker']:>10.1f} %")
        finally:
            stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    parser.add_argument("--child", choices=("one", "per-topic"))
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    if args.child:
        asyncio.run(consume(args.bootstrap, args.child, args.fetch_max_wait_ms, args.seconds))
        sys.exit(0)
    asyncio.run(main(args.seconds, args.fetch_max_wait_ms))
