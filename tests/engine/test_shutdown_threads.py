"""A stop never lets a job run twice at once: a thread job still running when
the grace period ends keeps its lease until its thread ends; the stop takes
at most ``shutdown_timeout_ms``."""

from __future__ import annotations

import asyncio
import threading
import time

import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.jobhash import JobField
from tests.engine.conftest import sweep_now, wait_for_state
from tests.helpers import await_until

Q = "shutdown-threads"


async def test_a_thread_job_past_the_grace_period_keeps_its_lease_until_it_ends(
    redis_client: redis.asyncio.Redis,
) -> None:
    queue = Queue(Q, redis_client)
    release = threading.Event()
    saw_cancel = threading.Event()

    def blocking(ctx: JobContext) -> str:
        release.wait(30)
        if ctx.cancelled.is_set():
            saw_cancel.set()
        return "finished"

    worker = Worker(
        Q,
        redis_client,
        {"block": blocking},
        lease_ms=300,
        shutdown_grace_ms=100,
        shutdown_timeout_ms=30_000,
    )
    task = asyncio.create_task(worker.run())
    try:
        job = await queue.add("block")
        await await_until(lambda: worker.running_count == 1, timeout=10)
        worker.request_stop()
        await await_until(lambda: worker._shutdown.grace_over, timeout=10)
        # For several leases past the grace period the job stays this
        # worker's: active, with its token, and a sweep recovers nothing.
        watch_until = time.monotonic() + 1.5
        token = await redis_client.hget(queue.keys.job(job.id), JobField.TOKEN)
        while time.monotonic() < watch_until:
            current = await queue.require_job(job.id)
            assert current.state == "active", f"the job went {current.state} while its thread ran"
            assert await redis_client.hget(queue.keys.job(job.id), JobField.TOKEN) == token
            assert (await sweep_now(queue))[1] == 0
            await asyncio.sleep(0.1)  # the pace of the checks
        assert not task.done()
    finally:
        release.set()
        await asyncio.wait_for(task, 20)
    done = await wait_for_state(queue, job.id, "completed")
    assert done.attempts_made == 1
    assert saw_cancel.is_set(), "the thread was not told that the worker stops"
    assert worker.threads_left == 0


async def test_the_stop_ends_at_the_shutdown_timeout_with_the_thread_job_leased(
    redis_client: redis.asyncio.Redis,
) -> None:
    queue = Queue(Q, redis_client)
    release = threading.Event()

    def blocking(ctx: JobContext) -> None:
        release.wait(30)

    worker = Worker(
        Q,
        redis_client,
        {"block": blocking},
        lease_ms=2000,
        shutdown_grace_ms=100,
        shutdown_timeout_ms=600,
    )
    task = asyncio.create_task(worker.run())
    try:
        job = await queue.add("block")
        await await_until(lambda: worker.running_count == 1, timeout=10)
        worker.request_stop()
        stopped = time.monotonic()
        await asyncio.wait_for(task, 10)
        assert time.monotonic() - stopped < 3
        assert worker.threads_left == 1
        # still leased: nobody else runs it until the lease runs out
        assert (await queue.require_job(job.id)).state == "active"
        assert (await sweep_now(queue))[1] == 0
    finally:
        release.set()
