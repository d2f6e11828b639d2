"""What the harness did to the system and when (``time.monotonic()``), for the checker."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

REDIS_OUTAGES = frozenset({"redis-kill", "redis-freeze", "oom"})
"""Faults during which no worker can make progress: their windows count
toward recovery time, not toward progress stalls."""


@dataclass
class Fault:
    """One injected fault; ``end`` is when it healed (equal to ``start`` for an instant one)."""

    kind: str
    """worker-kill, worker-stop, worker-term, worker-crash (it exited by itself),
    redis-kill, redis-freeze, oom, flush."""
    target: int | None
    """The pid of a worker fault; None for faults of Redis."""
    start: float
    end: float | None = None


@dataclass
class Timeline:
    faults: list[Fault] = field(default_factory=list)

    def begin(self, kind: str, target: int | None = None) -> Fault:
        fault = Fault(kind, target, time.monotonic())
        self.faults.append(fault)
        return fault

    def instant(self, kind: str, target: int | None = None) -> Fault:
        fault = self.begin(kind, target)
        fault.end = fault.start
        return fault

    @staticmethod
    def heal(fault: Fault) -> None:
        fault.end = time.monotonic()

    def outages(self, until: float) -> list[tuple[float, float]]:
        """Windows during which Redis could not serve the workers."""
        return [
            (f.start, f.end if f.end is not None else until)
            for f in self.faults
            if f.kind in REDIS_OUTAGES
        ]
