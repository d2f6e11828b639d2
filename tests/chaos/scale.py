"""How big the chaos scenarios are: ``fast`` in the normal test run (all of
them together in well under three minutes on two cores), ``long`` with
``just chaos`` (``CHAOS_SCALE=long``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

SCALE_ENV = "CHAOS_SCALE"


@dataclass(frozen=True)
class Scale:
    name: str
    jobs: int
    """Jobs per scenario (the poison pill always has 2,000)."""
    job_ms: int
    """How long an ordinary job runs."""
    faults: int
    """How many times a repeated fault strikes (kills, flushes, freezes...)."""
    outage_s: float
    """How long Redis stays down, frozen or full."""
    settle_s: float
    """The longest a scenario waits for its jobs to finish after the last fault."""
    test_timeout_s: float


FAST = Scale("fast", jobs=600, job_ms=15, faults=3, outage_s=1.5, settle_s=40, test_timeout_s=110)
LONG = Scale(
    "long", jobs=6000, job_ms=15, faults=12, outage_s=3.0, settle_s=120, test_timeout_s=900
)


def current() -> Scale:
    value = os.environ.get(SCALE_ENV, "fast")
    scales = {scale.name: scale for scale in (FAST, LONG)}
    if value not in scales:
        raise ValueError(f"{SCALE_ENV}={value!r}: expected one of {', '.join(scales)}")
    return scales[value]


SCALE = current()
