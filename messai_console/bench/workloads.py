"""The jobs the benchmark drains: none, one Redis call, a 1 ms sleep.

Workers load them with ``--processors messai_console.bench.workloads:registry``.
``redis_call`` talks to Redis through a redis-py asyncio client of its own
(not the worker's connection), as a real job's I/O would: a database, an
HTTP service or another Redis.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio

from engine.cluster import is_cluster
from engine.connection import connect
from engine.context import JobContext
from engine.processors import ProcessorRegistry, noop

WORKLOADS: tuple[str, ...] = ("noop", "redis_call", "sleep_1ms")
"""Job names, in the order the benchmark reports them."""

URL_VARIABLE = "MESSAI_BENCH_JOB_REDIS_URL"
"""The Redis the ``redis_call`` jobs talk to (the benchmark sets it for its workers)."""

COUNTER_KEY = "messai-bench:job-calls"
"""The key every ``redis_call`` job increments (the benchmark deletes it)."""

_client: redis.asyncio.Redis | None = None
_ready = asyncio.Lock()


async def _job_client() -> redis.asyncio.Redis:
    # One client per worker process, made on first use on the worker's loop;
    # its pool grows to the worker's concurrency.
    global _client
    if _client is None:
        async with _ready:
            if _client is None:
                # the engine's connect: a cluster client on a redis+cluster:// URL
                client = connect(os.environ[URL_VARIABLE])
                if is_cluster(client):
                    # read the slot map once: redis-py's cluster client reads it
                    # again for each of concurrent first calls, closing the
                    # connections the others are writing on
                    await client.initialize()
                _client = client
    return _client


async def redis_call(ctx: JobContext) -> None:
    """One awaited ``INCR`` through the job's own client."""
    await (await _job_client()).incr(COUNTER_KEY)


async def sleep_1ms(ctx: JobContext) -> None:
    """Waits 1 ms, as a job waiting on a fast service does."""
    await asyncio.sleep(0.001)


async def stamp(ctx: JobContext) -> float:
    """Returns when it began, in milliseconds since the epoch by this machine's
    clock: the latency measurement's job (Redis's clock, which stamps the add,
    is the same clock on one machine)."""
    return time.time() * 1000


registry = ProcessorRegistry(
    {"noop": noop, "redis_call": redis_call, "sleep_1ms": sleep_1ms, "stamp": stamp}
)
