"""Coordination across worker processes: chains survive a killed worker, rate
limits and global concurrency hold across every process."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from engine import JobChain, Queue
from tests.helpers import await_until
from tests.reliability.processors import read_steps
from tests.reliability.workers import WorkerPool

QUEUES = ["papers", "analysis", "emails"]


@pytest.mark.timeout(120)
async def test_chains_complete_in_order_with_a_worker_killed(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: object
) -> None:
    chains = 200
    for chain in range(chains):
        builder = JobChain(redis_client)
        for index in range(4):
            builder.add(
                QUEUES[(chain + index) % 3], "step", {"chain": chain, "index": index, "ms": 5}
            )
        await builder.execute()
    pool = [workers.start(redis_url, QUEUES, concurrency=8) for _ in range(4)]

    queues = [Queue(q, redis_client) for q in QUEUES]

    async def completed() -> int:
        return sum([(await q.counts())["completed"] for q in queues])

    async def some_progress() -> bool:
        return await completed() >= 200

    await await_until(some_progress, timeout=60)
    pool[0].kill()

    async def all_done() -> bool:
        return await completed() == chains * 4

    await await_until(all_done, timeout=90, interval=0.1)
    assert sum([(await q.counts())["failed"] for q in queues]) == 0
    steps = read_steps(exec_dir)  # type: ignore[arg-type]
    assert sorted(steps) == list(range(chains))
    for chain, runs in steps.items():
        assert sorted(runs) == [0, 1, 2, 3], f"chain {chain} ran steps {sorted(runs)}"
        for index in range(1, 4):
            previous_done = max(end for _start, end in runs[index - 1])
            first_start = min(start for start, _end in runs[index])
            assert first_start >= previous_done, (
                f"chain {chain}: step {index} started before step {index - 1} ended"
            )


@pytest.mark.timeout(120)
async def test_rate_limit_holds_across_four_worker_processes(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool
) -> None:
    queue = Queue("provider", redis_client)
    await queue.set_rate_limit(10, 1000)
    ids = await queue.add_bulk([("count", None)] * 200)
    started = time.monotonic()
    for _ in range(4):
        workers.start(redis_url, "provider", concurrency=10, quiet=True)

    async def done() -> bool:
        return (await queue.counts())["completed"] == 200

    await await_until(done, timeout=100, interval=0.2)
    assert time.monotonic() - started >= 19  # 200 starts at 10 per second
    async with redis_client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(queue.keys.job(job_id), "st")
        starts = sorted(float(value) for value in await pipe.execute())
    # no window of one second, wherever it begins, holds more than 10 starts
    worst = max(
        sum(1 for other in starts[i:] if other < first + 1000) for i, first in enumerate(starts)
    )
    assert worst <= 10, f"{worst} starts within one second"


@pytest.mark.timeout(90)
async def test_global_concurrency_caps_active_jobs_across_workers(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool
) -> None:
    queue = Queue("capped", redis_client)
    await queue.set_global_concurrency(3)
    # the workers first: a freed slot is taken at once, so the first worker
    # would run the 120 jobs (2 s) before the others have started
    for _ in range(4):
        workers.start(redis_url, "capped", concurrency=10, quiet=True)
    await queue.add_bulk([("count", {"ms": 50})] * 120)
    samples: list[int] = []
    while True:
        counts = await queue.counts()
        samples.append(counts["active"])
        if counts["completed"] == 120:
            break
        await asyncio.sleep(0.005)
    assert max(samples) <= 3
    assert max(samples) == 3, "the cap was never reached: the test proves nothing"
    assert len(samples) > 50
