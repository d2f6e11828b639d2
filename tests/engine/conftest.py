"""Fixtures for engine tests: queues and in-process workers on the test Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio

from engine import Queue, Worker
from engine.contracts.base import call
from engine.contracts.worker import SweepReply, SweepRequest
from engine.worker.lifecycle import CHECK_SLOTS_ENV
from tests.loops import LOOP_FACTORIES, loop_factories

if LOOP_FACTORIES is not None:  # MESSAI_TEST_LOOP=uvloop (see tests/loops.py)
    pytest_asyncio_loop_factories = loop_factories


@pytest.fixture(autouse=True)
def check_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker checks its slot account after every exchange (and fails on a break)."""
    monkeypatch.setenv(CHECK_SLOTS_ENV, "1")


@pytest_asyncio.fixture
async def queue(redis_client: redis.asyncio.Redis) -> Queue:
    return Queue("test-queue", redis_client)


StartWorker = Callable[..., Awaitable[Worker]]


@pytest_asyncio.fixture
async def start_worker(redis_client: redis.asyncio.Redis) -> AsyncIterator[StartWorker]:
    """Start in-process workers (``await start_worker(processors, concurrency=..)``);
    each is stopped and awaited at teardown."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(
        processors: dict[str, Any] | None = None, queues: Any = "test-queue", **options: Any
    ) -> Worker:
        options.setdefault("shutdown_grace_ms", 2000)
        worker = Worker(queues, redis_client, processors, **options)
        task = asyncio.create_task(worker.run())
        running.append((worker, task))
        return worker

    yield start
    for worker, _task in running:
        worker.request_stop()
    if running:
        tasks = [task for _worker, task in running]
        _done, pending = await asyncio.wait(tasks, timeout=15)
        assert not pending, "a worker did not stop within 15 s"
        for task in tasks:
            task.result()


async def wait_for_state(queue: Queue, job_id: str, state: str, timeout: float = 10.0) -> Any:
    """Poll until the job reaches ``state``; returns the job."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await queue.get_job(job_id)
        if job is not None and job.state == state:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"job {job_id} is {job.state if job else 'gone'}, expected {state}"
            )
        await asyncio.sleep(0.01)


async def sweep_now(queue: Queue) -> list[int]:
    """Run the sweep at once (no lock; a stall limit of 5, no retention):
    {swept, requeued, failed, trimmed}."""
    request = SweepRequest(1000, 5, -1, -1, -1, -1, force=True)
    reply = SweepReply.parse(await call(queue.redis, queue.keys, request))
    return [int(reply.swept), reply.requeued, reply.failed, reply.trimmed]
