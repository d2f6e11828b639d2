"""Round trips per job on the hot paths: a change must not add any by accident.

Counted on the client side: every request sent (over the engine's pipelined
channels and the general client) while a worker drains 1,000 no-op jobs, and
while a producer adds jobs one at a time. With ``MESSAI_WIRE=0`` the same
calls go through redis-py (a worker's on connections of its own, counted by
``SingleTryChannel.command``), and the same counts hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.client import Pipeline

from engine import Queue, Worker
from engine.plain_channel import SingleTryChannel
from engine.wire import WireChannel


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"n": 0}

    def counting(original: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts["n"] += 1
            return await original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(WireChannel, "execute", counting(WireChannel.execute))
    # an idle worker's wait and the fetch behind it: one round trip
    monkeypatch.setattr(WireChannel, "execute_all", counting(WireChannel.execute_all))
    monkeypatch.setattr(SingleTryChannel, "command", counting(SingleTryChannel.command))
    monkeypatch.setattr(
        redis.asyncio.Redis, "execute_command", counting(redis.asyncio.Redis.execute_command)
    )
    monkeypatch.setattr(Pipeline, "execute", counting(Pipeline.execute))
    return counts


# concurrency 1: auto prefetch leases up to 32 no-op jobs ahead, so a call
# reports and fetches several (126 round trips for 1,000 jobs on a quiet
# machine, 327 on a loaded one, where run times look longer)
@pytest.mark.parametrize(("concurrency", "limit_per_job"), [(1, 0.5), (50, 0.05)])
async def test_round_trips_per_job(
    redis_client: redis.asyncio.Redis,
    round_trips: dict[str, int],
    concurrency: int,
    limit_per_job: float,
) -> None:
    jobs = 1000
    queue = Queue("round-trips", redis_client)
    await queue.add_bulk([("noop", None)] * jobs)
    finished = asyncio.Event()
    completed = 0

    def listener(event: str, _job: Any, _details: dict[str, Any]) -> None:
        nonlocal completed
        if event == "completed":
            completed += 1
            if completed == jobs:
                finished.set()

    # long intervals: heartbeats and sweeps are not part of the per-job cost
    worker = Worker(
        "round-trips",
        redis_client,
        concurrency=concurrency,
        listener=listener,
        lease_ms=600_000,
        stall_interval_ms=600_000,
    )
    round_trips["n"] = 0
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(finished.wait(), 60)
    used = round_trips["n"]
    worker.request_stop()
    await asyncio.wait([task], timeout=15)
    # at concurrency 50 a fetch asks for 25 jobs (two exchanges overlap);
    # start-up costs a handful (registry, server check, subscribe, first sweep)
    assert used <= jobs * limit_per_job + 10, f"{used} round trips for {jobs} jobs"


async def test_add_is_one_round_trip_per_job(
    redis_client: redis.asyncio.Redis, round_trips: dict[str, int]
) -> None:
    queue = Queue("round-trips", redis_client)
    await queue.add("noop")  # the first may load the script
    round_trips["n"] = 0
    for i in range(100):
        await queue.add("noop", {"i": i})
    await asyncio.gather(*(queue.add("noop", {"i": i}) for i in range(100)))
    await queue.add("noop", None, priority="high", delay_ms=5, attempts=3)
    assert round_trips["n"] == 201
    await queue.aclose()
