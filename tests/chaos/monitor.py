"""Watches the queue while a scenario runs: counts per state every tick and,
every few ticks, an atomic snapshot of which job is in which state.

It reads the Redis under test with short timeouts and no retries: while
Redis is down or frozen a tick records nothing and the next one tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine import STATES, QueueKeys

WAITING_LIST = "waiting:list"
"""Name given to the waiting list beside the state sets in a membership snapshot."""
TICK_S = 0.1
SNAPSHOT_EVERY = 5


@dataclass(frozen=True)
class Sample:
    time: float
    counts: dict[str, int] | None
    """Jobs per state; None when Redis did not answer."""
    workers_serving: int

    @property
    def finished(self) -> int | None:
        if self.counts is None:
            return None
        return self.counts["completed"] + self.counts["failed"]

    @property
    def unfinished(self) -> int:
        counts = self.counts or {}
        return sum(counts.get(state, 0) for state in ("waiting", "active", "delayed", "pending"))


def client_for(url: str) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )


async def read_counts(client: redis.asyncio.Redis, keys: QueueKeys) -> dict[str, int]:
    async with client.pipeline(transaction=True) as pipe:
        for state in STATES:
            pipe.zcard(keys.state(state))
        pipe.llen(keys.waiting_list)
        values = await pipe.execute()
    counts = {state: int(value) for state, value in zip(STATES, values, strict=False)}
    counts["waiting"] += int(values[-1])
    return counts


async def read_membership(client: redis.asyncio.Redis, keys: QueueKeys) -> dict[str, list[str]]:
    """Every job id by the states it is in, read in one transaction (an instant of Redis)."""
    async with client.pipeline(transaction=True) as pipe:
        for state in STATES:
            pipe.zrange(keys.state(state), 0, -1)
        pipe.lrange(keys.waiting_list, 0, -1)
        values = await pipe.execute()
    members: dict[str, list[str]] = defaultdict(list)
    for state, ids in zip([*STATES, WAITING_LIST], values, strict=True):
        for job_id in ids:
            members[str(job_id)].append(state)
    return dict(members)


@dataclass
class Monitor:
    url: Callable[[], str]
    """The current URL of the Redis under test (it may be restarted)."""
    keys: QueueKeys
    workers_serving: Callable[[], int]
    samples: list[Sample] = field(default_factory=list)
    two_states: dict[str, list[str]] = field(default_factory=dict)
    """Job ids seen in more than one state, with the states."""

    async def run(self, stop: asyncio.Event) -> None:
        client = client_for(self.url())
        tick = 0
        try:
            while not stop.is_set():
                tick += 1
                counts: dict[str, int] | None = None
                try:
                    counts = await asyncio.wait_for(read_counts(client, self.keys), 1.0)
                    if tick % SNAPSHOT_EVERY == 0:
                        members = await asyncio.wait_for(read_membership(client, self.keys), 2.0)
                        self.note_membership(members)
                except (redis.RedisError, OSError, TimeoutError):
                    await client.aclose()
                    client = client_for(self.url())
                self.samples.append(Sample(time.monotonic(), counts, self.workers_serving()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_S)
        finally:
            await client.aclose()

    def note_membership(self, members: dict[str, list[str]]) -> None:
        for job_id, states in members.items():
            if len(states) > 1:
                self.two_states.setdefault(job_id, states)

    def latest(self) -> Sample | None:
        for sample in reversed(self.samples):
            if sample.counts is not None:
                return sample
        return None
