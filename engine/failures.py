"""Failed jobs grouped by their error: what keeps failing, how often, since when.

Read-only. The newest ``limit`` failed jobs of a queue are read (their error
and finish time), and grouped by the first line of the error with ids and
numbers masked, so "order 1234 not found" and "order 98 not found" count as
one. Cost: two commands, then one HMGET per job read (pipelined in pages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from engine.jobhash import JobField
from engine.keys import DEFAULT_PREFIX, QueueKeys

FAILURE_SCAN = 2_000
"""The newest failed jobs a grouping reads at most."""
PAGE = 500

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)  # fmt: skip


def normalise(error: str | None) -> str:
    """The first line of ``error`` with uuids, long hex ids and numbers masked."""
    line = (error or "").strip().split("\n", 1)[0].strip()
    for pattern, mask in _MASKS:
        line = pattern.sub(mask, line)
    return line or "(no error message)"


@dataclass
class FailureGroup:
    """Failed jobs whose errors read the same once ids and numbers are masked."""

    message: str
    """The masked first line."""
    example: str
    """The first line of the newest of them, as it was."""
    first_ms: int
    last_ms: int
    job_ids: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.job_ids)


@dataclass(frozen=True)
class FailureReport:
    groups: list[FailureGroup]
    """Most jobs first (then the most recent)."""
    scanned: int
    """Failed jobs read (the newest)."""
    total: int
    """Failed jobs in the queue."""


async def group_failures(
    redis: Redis, name: str, prefix: str = DEFAULT_PREFIX, limit: int = FAILURE_SCAN
) -> FailureReport:
    """Group the newest ``limit`` failed jobs of queue ``name`` by their masked error."""
    keys = QueueKeys(name, prefix)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.failed)
        pipe.zrevrange(keys.failed, 0, limit - 1, withscores=True)
        total, newest = await pipe.execute()
    groups: dict[str, FailureGroup] = {}
    for start in range(0, len(newest), PAGE):
        page: list[Any] = newest[start : start + PAGE]
        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _score in page:
                pipe.hget(keys.job(str(job_id)), JobField.ERROR.value)
            errors = await pipe.execute()
        for (job_id, score), error in zip(page, errors, strict=True):
            finished = int(score)
            message = normalise(error)
            group = groups.get(message)
            if group is None:
                example = normalise_example(error)
                group = groups[message] = FailureGroup(message, example, finished, finished)
            group.first_ms = min(group.first_ms, finished)
            group.last_ms = max(group.last_ms, finished)
            group.job_ids.append(str(job_id))
    ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last_ms))
    return FailureReport(groups=ordered, scanned=len(newest), total=int(total))


def normalise_example(error: str | None) -> str:
    """The first line of ``error``, unmasked."""
    return (error or "").strip().split("\n", 1)[0].strip()
