"""Job.wait / Queue.wait_for: on the event stream, with failures and timeouts made plain."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from engine import Queue
from engine.context import JobContext
from engine.errors import (
    InvalidStateError,
    JobFailedError,
    JobNotFoundError,
    WaitTimeoutError,
)
from engine.job import Job
from engine.waiting import RECHECK_S
from tests.engine.conftest import StartWorker


async def test_wait_returns_the_completed_job_as_soon_as_it_completes(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def held(ctx: JobContext) -> dict[str, int]:
        await release.wait()
        return {"answer": 42}

    job = await queue.add("held")
    await start_worker({"held": held})
    waiter = asyncio.create_task(job.wait(timeout=30))
    loop = asyncio.get_running_loop()
    released_at = loop.time()
    release.set()
    done = await waiter
    # woken by the completion event, not by the periodic recheck
    assert loop.time() - released_at < RECHECK_S / 2
    assert done.state == "completed" and done.result == {"answer": 42}


async def test_wait_on_a_job_already_finished_returns_at_once(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("echo", {"x": 1})
    await start_worker()
    first = await job.wait(timeout=10)
    again = await queue.wait_for(job.id, timeout=0)
    assert first.state == again.state == "completed"


async def test_a_failed_job_raises_job_failed_with_its_error(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("fail", {"message": "disk full"}, attempts=1)
    await start_worker()
    with pytest.raises(JobFailedError, match="disk full") as caught:
        await job.wait(timeout=10)
    assert caught.value.job.state == "failed" and "disk full" in (caught.value.job.error or "")


async def test_timeout_raises_wait_timeout_with_the_job_as_last_read(queue: Queue) -> None:
    job = await queue.add("echo", delay_ms=3_600_000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(WaitTimeoutError) as caught:
        await job.wait(timeout=0.3)
    assert loop.time() - started >= 0.3
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.job.state == "delayed"


async def test_events_of_other_jobs_do_not_make_the_wait_poll(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    job = await queue.add("echo", delay_ms=3_600_000)
    reads: list[Job] = []
    waiter = asyncio.create_task(queue.wait_for(job.id, timeout=1.0, on_change=reads.append))
    for _ in range(20):
        await queue.add_bulk([("echo", None)] * 10)
    with pytest.raises(WaitTimeoutError):
        await waiter
    # one read when the quiet stream times out, none for 200 unrelated events
    assert len(reads) <= 1


async def test_a_job_removed_while_waited_on_raises_not_found(queue: Queue) -> None:
    job = await queue.add("echo", delay_ms=3_600_000)
    waiter = asyncio.create_task(job.wait(timeout=30))
    await queue.remove(job.id)
    with pytest.raises(JobNotFoundError):
        await waiter
    with pytest.raises(JobNotFoundError):
        await queue.wait_for("missing", timeout=1)


async def test_a_job_not_read_through_a_queue_cannot_wait() -> None:
    with pytest.raises(InvalidStateError, match="wait_for"):
        await Job(id="1", queue="q", name="n", data=None, state="waiting").wait()
