"""Global concurrency: the next job starts as soon as a slot of the cap frees.

A worker whose fetch meets the cap (status "busy") must hear when a job
ends, on this worker or another: before, it looked again only every
IDLE_RECHECK_S (2 s), so ten 30 ms jobs under a cap of 1 took about 18 s on
a worker at concurrency 10.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.contracts.base import call
from engine.contracts.worker import FetchRequest
from engine.jobhash import JobField
from engine.worker import duties
from tests.engine.conftest import StartWorker, sweep_now
from tests.helpers import await_until

JOBS = 10
JOB_MS = 30
BOUND_S = 1.5
"""Ten 30 ms jobs one after the other take 0.3 s; a wake-up lost once costs 2 s."""


def overlaps(spans: list[tuple[int, int]]) -> int:
    """The most spans (start, end) that hold at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = running = 0
    for _, step in edges:  # an end sorts before a start at the same ms
        running += step
        most = max(most, running)
    return most


async def run_capped(
    queue: Queue, start_worker: StartWorker, cap: int, workers: int, concurrency: int
) -> tuple[float, list[tuple[int, int]]]:
    """Run JOBS sleep jobs under ``cap``; returns the seconds taken and the run spans."""
    await queue.set_global_concurrency(cap)
    jobs = await queue.add_bulk([("sleep", {"ms": JOB_MS})] * JOBS)
    began = time.monotonic()
    for _ in range(workers):
        await start_worker(concurrency=concurrency)
    await await_until(lambda: _completed(queue), timeout=30, interval=0.005)
    took = time.monotonic() - began
    spans = []
    for job_id in jobs:
        done = await queue.get_job(job_id)
        assert done is not None and done.started_ms is not None and done.finished_ms is not None
        spans.append((done.started_ms, done.finished_ms))
    return took, spans


async def _completed(queue: Queue) -> bool:
    return (await queue.counts())["completed"] == JOBS


@pytest.mark.parametrize(("cap", "workers"), [(1, 1), (1, 2), (2, 1), (2, 3)])
async def test_the_next_job_starts_as_soon_as_a_slot_of_the_cap_frees(
    queue: Queue, start_worker: StartWorker, cap: int, workers: int
) -> None:
    took, spans = await run_capped(queue, start_worker, cap, workers, concurrency=10)
    assert took < BOUND_S, f"{JOBS} jobs of {JOB_MS} ms under a cap of {cap} took {took:.2f} s"
    assert overlaps(spans) <= cap, f"more than {cap} jobs ran at once: {sorted(spans)}"


async def test_raising_the_cap_wakes_a_worker_that_waits_for_a_slot(
    queue: Queue, start_worker: StartWorker
) -> None:
    await queue.set_global_concurrency(1)
    long = await queue.add("sleep", {"ms": 3000})
    short = await queue.add("noop")
    await start_worker(concurrency=4)
    await await_until(lambda: _state(queue, long.id, "active"), timeout=10)
    began = time.monotonic()
    await queue.set_global_concurrency(2)
    await await_until(lambda: _state(queue, short.id, "completed"), timeout=10)
    assert time.monotonic() - began < 1.0, "the raised cap was seen only at the idle recheck"


async def test_a_job_ending_on_one_worker_wakes_another_waiting_at_the_cap(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    gate = asyncio.Event()

    async def hold(ctx: JobContext) -> None:
        await gate.wait()

    def met_the_cap(worker: Worker) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            # the worker's own record of a "busy" reply, and no wake-up left over
            return worker._queues["test-queue"].at_cap and not await redis_client.exists(
                queue.keys.marker
            )

        return check

    await queue.set_global_concurrency(1)
    held, *ids = await queue.add_bulk([("hold", None)] + [("noop", None)] * 3)
    holder = await start_worker({"hold": hold}, concurrency=4)
    await await_until(met_the_cap(holder), timeout=10)
    holder.pause()  # its finish fetches nothing: only a wake-up can start the next job
    waiter = await start_worker(concurrency=4, stall_interval_ms=600_000)
    await await_until(met_the_cap(waiter), timeout=10)
    began = time.monotonic()
    gate.set()
    await await_until(lambda: _state(queue, ids[-1], "completed"), timeout=10)
    assert time.monotonic() - began < 1.0, "the waiting worker woke only at its idle recheck"
    assert await _state(queue, held, "completed")
    for job_id in ids:
        assert (await queue.get_job(job_id)).worker == waiter.id  # type: ignore[union-attr]


async def _state(queue: Queue, job_id: str, state: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == state


async def test_a_job_failed_at_the_stall_limit_wakes_a_worker_waiting_at_the_cap(
    queue: Queue,
    start_worker: StartWorker,
    redis_client: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no idle recheck within the test: only a wake-up can start the next job
    monkeypatch.setattr(duties, "IDLE_RECHECK_S", 60.0)
    await queue.set_global_concurrency(1)
    dead = await queue.add("noop")
    # leased by a worker that then died, with its stalls at sweep_now's limit
    await call(redis_client, queue.keys, FetchRequest("gone", 60_000, 1, "tok-1", 1))
    await redis_client.hset(queue.keys.job(dead.id), JobField.STALLS, 5)
    waiting = await queue.add("noop")
    # its own sweeps run at its start (the lease is good then) and not
    # again within the test
    waiter = await start_worker(concurrency=4, stall_interval_ms=600_000)

    async def at_cap() -> bool:
        return waiter._queues["test-queue"].at_cap and not await redis_client.exists(
            queue.keys.marker
        )

    await await_until(at_cap, timeout=10)
    await redis_client.zadd(queue.keys.active, {dead.id: 1})  # its lease ran out
    began = time.monotonic()
    assert (await sweep_now(queue))[2] == 1  # failed at the stall limit
    await await_until(lambda: _state(queue, waiting.id, "completed"), timeout=10)
    assert time.monotonic() - began < 1.0, "the waiting worker woke only at its idle recheck"
    assert await _state(queue, dead.id, "failed")
