"""Per-minute metrics per queue, written by the finish scripts.

Each day has one hash (``metrics:<day>``) with fields ``c<minute>``
(completed), ``f<minute>`` (failed for good) and ``t<minute>`` (summed run
time of every finished run, in ms); it expires after eight days, so at
least seven days of history are always there.
"""

from __future__ import annotations

import time
from typing import Literal

from redis.asyncio import Redis

from engine.keys import QueueKeys

MetricsWindow = Literal["hour", "day", "week"]
WINDOW_MINUTES: dict[str, int] = {"hour": 60, "day": 1440, "week": 10080}
MS_PER_DAY = 86_400_000
METRICS_TTL_S = 8 * 86_400
"""A day's hash expires this long after its last write (copied in
``lua/includes/common.lua``): a week of history is always there."""


async def read_metrics(
    redis: Redis, keys: QueueKeys, window: MetricsWindow = "hour", now_ms: int | None = None
) -> list[dict[str, int]]:
    """One point per minute, oldest first: ``minute`` (epoch ms), completed, failed, run_time_ms."""
    if window not in WINDOW_MINUTES:
        raise ValueError(f"unknown window {window!r}; choose hour, day or week")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    end_minute = now_ms // 60_000
    start_minute = end_minute - WINDOW_MINUTES[window] + 1
    first_day, last_day = start_minute * 60_000 // MS_PER_DAY, end_minute * 60_000 // MS_PER_DAY
    async with redis.pipeline(transaction=False) as pipe:
        for day in range(first_day, last_day + 1):
            pipe.hgetall(keys.metrics(day))
        per_day = await pipe.execute()
    counters: dict[int, dict[str, int]] = {}
    for day, fields in zip(range(first_day, last_day + 1), per_day, strict=True):
        day_minute = day * 1440
        for name, value in fields.items():
            minute = day_minute + int(name[1:])
            if start_minute <= minute <= end_minute:
                counters.setdefault(minute, {})[name[0]] = int(value)
    points = []
    for minute in range(start_minute, end_minute + 1):
        values = counters.get(minute, {})
        points.append(
            {
                "minute": minute * 60_000,
                "completed": values.get("c", 0),
                "failed": values.get("f", 0),
                "run_time_ms": values.get("t", 0),
            }
        )
    return points
