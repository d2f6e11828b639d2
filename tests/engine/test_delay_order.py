"""Delayed jobs due in the same millisecond run in the order they were added."""

from __future__ import annotations

import asyncio

import pytest

from engine import JobContext, Queue
from tests.engine.conftest import StartWorker


async def _run_order(queue: Queue, start_worker: StartWorker, count: int) -> list[int]:
    order: list[int] = []
    done = asyncio.Event()

    async def record(ctx: JobContext) -> None:
        order.append(ctx.data["n"])
        if len(order) == count:
            done.set()

    await start_worker({"record": record}, concurrency=1, prefetch=0)
    await asyncio.wait_for(done.wait(), 60)
    return order


@pytest.mark.parametrize("count", [12, 1500])
async def test_jobs_due_in_the_same_millisecond_run_in_the_order_added(
    queue: Queue, start_worker: StartWorker, count: int
) -> None:
    await queue.add_bulk([("record", {"n": n}, {"delay_ms": 300}) for n in range(count)])
    dues = await queue.redis.zrange(queue.keys.delayed, 0, -1, withscores=True)
    assert len({score for _id, score in dues}) < count  # ties, which Redis orders by id text
    assert await _run_order(queue, start_worker, count) == list(range(count))


async def test_custom_ids_due_together_keep_their_order(
    queue: Queue, start_worker: StartWorker
) -> None:
    names = ["zeta", "alpha", "mid", "beta"]
    await queue.add_bulk(
        [("record", {"n": n}, {"delay_ms": 200, "job_id": name}) for n, name in enumerate(names)]
    )
    assert await _run_order(queue, start_worker, len(names)) == [0, 1, 2, 3]
