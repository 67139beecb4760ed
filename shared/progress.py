"""Which consumed partitions are not moving: read by readiness and by the metrics.

A partition whose batch keeps failing is never skipped (that would lose its records); it is
retried from its first unhandled offset, and while it fails it is reported here, so it stops
visibly: an error log per attempt, `exemplars_partition_stalled` and `/health/ready` at 503.

One service runs per process, so this registry is the process's.
"""

import time
from dataclasses import dataclass

# Consecutive failures of the same partition before it counts as stalled: one failure is
# usually a rebalance or a blip that the next attempt cures.
STALLED_AFTER = 3


@dataclass
class Stall:
    group: str
    topic: str
    partition: int
    failures: int
    since: float  # time.time() of the first failure in a row
    error: str


class Progress:
    def __init__(self) -> None:
        self._failing: dict[tuple[str, str, int], Stall] = {}

    def failed(self, group: str, topic: str, partition: int, error: str) -> int:
        """Count one more failure in a row; returns how many there have been."""
        key = (group, topic, partition)
        stall = self._failing.get(key)
        if stall is None:
            stall = self._failing[key] = Stall(group, topic, partition, 0, time.time(), error)
        stall.failures += 1
        stall.error = error[:500]
        return stall.failures

    def advanced(self, group: str, topic: str, partition: int) -> None:
        self._failing.pop((group, topic, partition), None)

    def stalled(self) -> list[Stall]:
        return [s for s in self._failing.values() if s.failures >= STALLED_AFTER]

    def failing(self) -> list[Stall]:
        return list(self._failing.values())


PROGRESS = Progress()
