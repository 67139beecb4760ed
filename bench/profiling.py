"""Sampling profiles of the running processes with py-spy, when it is installed.

py-spy attaches from outside, so the services run unchanged; it is not a project dependency
(`pip install py-spy` into the venv for a profiling run). Profiles are written as collapsed
stacks (one `frame;frame;frame count` line per stack), readable by flamegraph tools, and
summarised here as the functions holding most samples.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1]) + "/"


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, folder: Path, rate: int = 100) -> None:
        self.folder, self.rate = folder, rate
        self.running: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, pid: int) -> None:
        exe = py_spy()
        if exe is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.folder / f"{name}.collapsed"
        log = (self.folder / f"{name}.py-spy.log").open("wb")
        proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw",
                                 "--output", str(out), "--nonblocking"], stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = (proc, out)

    def stop(self) -> dict[str, Path]:
        """SIGINT makes py-spy write its profile and exit."""
        done = {}
        for name, (proc, out) in self.running.items():
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out.exists():
                done[name] = out
        self.running.clear()
        return done


# Where a sample's thread waits for I/O rather than computes: left out of the shares.
# SecantusDB's connection threads blocked in recv show up under these Python frames.
IDLE_LEAVES = (
    "select (selectors.py)", "EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)",
    "_recv_exactly (secantus/wire.py)",
    "SecantusDBServer._stream_awaitable_hello.<locals>._readable (secantus/server.py)",
)
PACKAGES = ("pymongo/", "bson/", "faststream/", "fast_depends/", "aiokafka/", "pydantic", "jinja2/", "email/",
            "aiosmtplib/", "logging/", "asyncio/", "uvicorn/", "secantus/", "wiredtiger/")


def summarise(path: Path, top: int = 12, own_prefixes: tuple[str, ...] = ("services/", "shared/")) -> dict:
    """Shares of the busy samples: the busiest project functions (inclusive), the packages
    a sample passes through (inclusive), and the busiest frames (self)."""
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    own_self: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        if frames[-1] in IDLE_LEAVES:
            idle += n
            continue
        total += n
        for frame in set(frames):
            if frame.split(" (", 1)[-1].startswith(own_prefixes):
                inclusive[frame] += n
        for package in {p for p in PACKAGES for f in frames if f"({p}" in f}:
            packages[package.rstrip("/")] += n
        own_self[frames[-1]] += n
    if not total:
        return {"samples": 0, "idle_samples": idle}
    return {
        "samples": total,
        "idle_samples": idle,
        "inclusive_project": [(f, round(100 * n / total, 1)) for f, n in inclusive.most_common(top)],
        "inclusive_packages": [(f, round(100 * n / total, 1)) for f, n in packages.most_common()],
        "self": [(f, round(100 * n / total, 1)) for f, n in own_self.most_common(top)],
    }


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`: lines vary, files do not."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", ROOT, "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{func} ({where})"
