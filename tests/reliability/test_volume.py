"""Many jobs, several worker processes: each job runs exactly once."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio

from engine import Queue
from tests.helpers import await_until
from tests.reliability.processors import read_executions, recording_processes
from tests.reliability.workers import WorkerPool

Q = "reliability"


async def test_ten_thousand_jobs_on_four_workers_run_exactly_once(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    total = 10_000
    queue = Queue(Q, redis_client)
    # Started first: idle workers are woken by the add, not by polling.
    pool = [workers.start(redis_url, Q, concurrency=8, quiet=True, wait=False) for _ in range(4)]
    for worker in pool:
        worker.wait_serving()
    ids = await queue.add_bulk([("count", None)] * total)
    assert len(set(ids)) == total

    async def all_completed() -> bool:
        assert all(worker.alive() for worker in pool), workers.describe()
        return (await queue.counts())["completed"] == total

    await await_until(all_completed, timeout=60, interval=0.05, message="jobs did not complete")
    counts = await queue.counts()
    # The default retention keeps the newest 10,000 completed jobs: all of them.
    assert counts == {
        "waiting": 0,
        "active": 0,
        "delayed": 0,
        "completed": total,
        "failed": 0,
        "pending": 0,
    }
    executions = read_executions(exec_dir)
    assert set(executions) == set(ids)
    assert sum(executions.values()) == total, "some jobs ran more than once"
    # Every process took part.
    assert recording_processes(exec_dir) == len(pool)
