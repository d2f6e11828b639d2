"""SIGTERM: running jobs finish within the grace period, or go back unspent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis.asyncio

from engine import Queue
from engine.events import read_history
from tests.helpers import await_until
from tests.reliability.processors import read_executions
from tests.reliability.workers import WorkerPool, wait_for_state

Q = "reliability"


async def test_sigterm_lets_a_running_job_finish_within_grace(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    queue = Queue(Q, redis_client)
    job = await queue.add("slow", {"ms": 1500})
    worker = workers.start(redis_url, Q, concurrency=2, shutdown_grace_ms=10_000)
    await await_until(lambda: read_executions(exec_dir, "start")[job.id] == 1)

    worker.terminate()
    signalled = time.monotonic()
    await await_until(lambda: "received SIGTERM" in worker.stderr())
    # A stopping worker fetches nothing new, though it has a free slot.
    late = await queue.add("count")
    returncode = await asyncio.to_thread(worker.proc.wait, 15)
    elapsed = time.monotonic() - signalled

    assert returncode == 0, worker.stderr()
    assert elapsed < 8, f"exit took {elapsed:.1f}s: the worker waited for the grace period"
    # Recorded before the process ended: read once, no polling.
    done = await queue.require_job(job.id)
    assert done.state == "completed"
    assert done.attempts_made == 1
    assert done.stalls == 0
    assert read_executions(exec_dir, "end")[job.id] == 1
    assert worker.has_line(job.id, "completed")
    assert (await queue.require_job(late.id)).state == "waiting"
    assert read_executions(exec_dir)[late.id] == 0
    assert "stopped" in worker.stderr()


async def test_sigterm_past_grace_hands_the_job_back_without_spending_an_attempt(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    queue = Queue(Q, redis_client)
    job = await queue.add("slow", {"ms": 30_000})
    worker = workers.start(redis_url, Q, shutdown_grace_ms=500)
    await await_until(lambda: read_executions(exec_dir, "start")[job.id] == 1)

    worker.terminate()
    signalled = time.monotonic()
    returncode = await asyncio.to_thread(worker.proc.wait, 15)
    elapsed = time.monotonic() - signalled

    assert returncode == 0, worker.stderr()
    assert elapsed < 4, f"exit took {elapsed:.1f}s with a 0.5 s grace period"
    back = await queue.require_job(job.id)
    assert back.state == "waiting"
    assert back.attempts_made == 0
    assert back.stalls == 0
    assert worker.has_line(job.id, "handed-back")
    assert read_executions(exec_dir, "end")[job.id] == 0
    assert any(
        event.name == "job:waiting"
        and event.job_id == job.id
        and event.fields.get("reason") == "shutdown"
        for event in await read_history(redis_client, queue.keys)
    )

    (exec_dir / "fast").touch()
    successor = workers.start(redis_url, Q)
    done = await wait_for_state(queue, job.id, "completed")
    assert done.attempts_made == 1  # 2 had the hand-back spent an attempt
    assert done.stalls == 0
    # The worker prints its line just after Redis recorded the outcome.
    await await_until(lambda: successor.has_line(job.id, "completed"))
    assert read_executions(exec_dir, "start")[job.id] == 2
    assert read_executions(exec_dir, "end")[job.id] == 1
