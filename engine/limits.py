"""A queue's rate limit and global concurrency cap, as kept in its meta hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import Pipeline

from engine.keys import QueueKeys

RATE_MAX_FIELD = "rl_max"
RATE_WINDOW_FIELD = "rl_ms"
CONCURRENCY_FIELD = "conc"
"""Field names of the meta hash (read by the fetch script)."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_starts`` job starts per ``duration_ms``, across all workers."""

    max_starts: int
    duration_ms: int


@dataclass(frozen=True)
class QueueLimits:
    """What caps a queue's job starts; None where nothing does."""

    rate_limit: RateLimit | None = None
    global_concurrency: int | None = None

    def to_dict(self) -> dict[str, Any]:
        rate = self.rate_limit
        return {
            "rate_limit": None
            if rate is None
            else {"max": rate.max_starts, "per_ms": rate.duration_ms},
            "global_concurrency": self.global_concurrency,
        }


def pipe_limits(pipe: Pipeline, keys: QueueKeys) -> None:
    """Queue the one call that reads a queue's limits on ``pipe``."""
    pipe.hmget(keys.meta, [RATE_MAX_FIELD, RATE_WINDOW_FIELD, CONCURRENCY_FIELD])


def read_limits(reply: list[str | None]) -> QueueLimits:
    """The limits from the reply of :func:`pipe_limits`."""
    rate_max, rate_ms, concurrency = reply
    rate = RateLimit(int(rate_max), int(rate_ms or 1000)) if rate_max else None
    return QueueLimits(rate, int(concurrency) if concurrency else None)
