"""Prefetch: jobs leased ahead of a free slot never count a stall they did not
cause, auto prefetch follows the jobs' run times, and a job held too long
goes back to the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio

from engine import Queue, Worker
from engine.context import JobContext
from engine.contracts.base import call
from engine.contracts.worker import FetchReply, FetchRequest
from engine.worker.exchange import (
    AUTO_PREFETCH_MAX_JOBS,
    PrefetchPolicy,
    auto_prefetch,
)
from tests.engine.conftest import StartWorker, sweep_now, wait_for_state
from tests.helpers import await_until


async def _fetch(queue: Queue, token: str, want: int, start_now: int) -> list[str]:
    request = FetchRequest("w-" + token, 50, want, token, start_now)
    reply = FetchReply.parse(await call(queue.redis, queue.keys, request))
    return [job.job_id for job in reply.jobs]


async def _lease_expired(client: redis.asyncio.Redis, queue: Queue) -> bool:
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    return len(await client.zrangebyscore(queue.keys.active, "-inf", now_ms - 1)) == 2


async def test_a_prefetched_job_of_a_dead_worker_counts_no_stall(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    ran, held = (await queue.add("noop")).id, (await queue.add("noop")).id
    assert await _fetch(queue, "A", want=2, start_now=1) == [ran, held]
    assert await redis_client.hget(queue.keys.job(ran), "rsv") == "0"
    assert await redis_client.hget(queue.keys.job(held), "rsv") == "1"
    # the worker dies: both leases run out
    await await_until(lambda: _lease_expired(redis_client, queue), timeout=5)
    assert (await sweep_now(queue))[1] == 2  # both back in waiting
    assert await redis_client.hget(queue.keys.job(ran), "stl") == "1"
    assert await redis_client.hget(queue.keys.job(held), "stl") is None
    entries: Any = await redis_client.xrange(queue.keys.events)
    reasons = {
        fields.get("id"): fields.get("reason")
        for _id, fields in entries
        if fields.get("ev") == "job:waiting"
    }
    assert reasons == {held: "released"}
    assert await redis_client.hget(queue.keys.job(held), "rsv") == "r"
    # both come back isolated, each in a call of its own and reserved: the
    # one that stalled, and the released one, which may have started in the
    # moment before its worker could say so (then its next run counts)
    assert await _fetch(queue, "B", want=2, start_now=2) == [held]
    assert await redis_client.hget(queue.keys.job(held), "rsv") == "1"
    assert await _fetch(queue, "C", want=2, start_now=2) == [ran]
    assert await redis_client.hget(queue.keys.job(ran), "rsv") == "1"


async def test_a_released_job_is_leased_alone(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    held, other = (await queue.add("noop")).id, (await queue.add("noop")).id
    assert await _fetch(queue, "A", want=1, start_now=0) == [held]
    seconds, micros = await redis_client.time()
    await redis_client.zadd(queue.keys.active, {held: seconds * 1000 + micros // 1000 - 1})
    assert (await sweep_now(queue))[1] == 1
    # first in line, it comes alone and reserved whatever start_now says
    assert await _fetch(queue, "B", want=2, start_now=2) == [held]
    assert await redis_client.hget(queue.keys.job(held), "rsv") == "1"
    assert await redis_client.hget(queue.keys.job(held), "stl") is None
    assert await _fetch(queue, "C", want=2, start_now=2) == [other]


async def test_starting_a_prefetched_job_is_reported_with_the_next_call(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    gates = {"first": asyncio.Event(), "second": asyncio.Event()}
    started: list[str] = []

    async def gate(ctx: JobContext) -> None:
        started.append(ctx.job_id)
        await gates[ctx.data].wait()

    first = await queue.add("gate", "first")
    second = await queue.add("gate", "second")
    # an explicit prefetch: the second job waits leased in the worker
    await start_worker({"gate": gate}, concurrency=1, prefetch=1)
    await await_until(lambda: started == [first.id], timeout=5)
    await await_until(
        lambda: _rsv(redis_client, queue, second.id, "1"), timeout=5, message="not prefetched"
    )
    gates["first"].set()
    await wait_for_state(queue, first.id, "completed")
    await await_until(lambda: started == [first.id, second.id], timeout=5)
    # the call that reported the first job also said the second one runs
    await await_until(
        lambda: _rsv(redis_client, queue, second.id, "0"), timeout=5, message="not reported"
    )
    gates["second"].set()
    await wait_for_state(queue, second.id, "completed")


async def _rsv(client: redis.asyncio.Redis, queue: Queue, job_id: str, value: str) -> bool:
    return bool(await client.hget(queue.keys.job(job_id), "rsv") == value)


async def _drain(queue: Queue, n: int, name: str, data: Any = None) -> None:
    ids = await queue.add_bulk([(name, data)] * n)

    async def done() -> bool:
        job = await queue.get_job(ids[-1])
        return job is not None and job.state == "completed"

    await await_until(done, timeout=30, message=f"{n} {name} jobs did not complete")


async def test_auto_prefetch_follows_the_run_times(queue: Queue, start_worker: StartWorker) -> None:
    async def slow(ctx: JobContext) -> None:
        await asyncio.sleep(0.02)  # the job's own work, not synchronisation

    worker: Worker = await start_worker({"slow": slow}, concurrency=3)
    assert worker.prefetch is None
    assert worker.prefetch_now == 0  # nothing known yet
    await _drain(queue, 30, "noop")
    # very short jobs: a window's worth per slot, at least the concurrency
    assert worker.prefetch_now == AUTO_PREFETCH_MAX_JOBS
    await _drain(queue, 60, "slow")
    assert worker.prefetch_now == 0  # 20 ms jobs: a round trip is a small part


async def test_auto_prefetch_hands_back_a_job_held_behind_a_long_one(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def gate(ctx: JobContext) -> None:
        await release.wait()

    first: Worker = await start_worker({"gate": gate}, concurrency=1)
    await _drain(queue, 20, "noop")  # short jobs so far: prefetch is on
    assert first.prefetch_now == AUTO_PREFETCH_MAX_JOBS
    long = await queue.add("gate")
    behind = await queue.add("echo", "behind")
    await wait_for_state(queue, long.id, "active")
    prefetched = await wait_for_state(queue, behind.id, "active")
    assert prefetched.worker == first.id
    # the job prefetched behind the long one goes back, and another worker runs it
    second = await start_worker(concurrency=1)
    done = await wait_for_state(queue, behind.id, "completed", timeout=10)
    assert done.worker == second.id
    assert (await queue.get_job(long.id)).state == "active"  # type: ignore[union-attr]
    release.set()
    await wait_for_state(queue, long.id, "completed")


def test_auto_prefetch_leases_a_window_of_short_jobs_per_slot() -> None:
    """At concurrency 1 one job per exchange spent more in the call than in
    the job (3,600 one-Redis-call jobs/s; 5,300 with a window's worth)."""
    assert auto_prefetch(1, 0.01) == AUTO_PREFETCH_MAX_JOBS
    assert auto_prefetch(1, 0.25) == 8
    assert auto_prefetch(1, 5.0) == 1  # at least the concurrency
    assert auto_prefetch(4, 1.0) == 8
    assert auto_prefetch(50, 0.01) == 50  # never fewer than the concurrency
    policy = PrefetchPolicy(concurrency=1, prefetch=None)
    policy.note_run_time(1 / 4096)  # 0.244 ms, exactly
    assert policy.now == 8
    policy.note_run_time(0.5)  # the mean moves to long jobs: none
    assert policy.now == 0
