"""Fixtures for console tests: the app on the test Redis, and in-process workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
import redis.asyncio

from engine import Worker


@pytest_asyncio.fixture
async def run_workers(
    redis_client: redis.asyncio.Redis,
) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """Start in-process workers; each is stopped and awaited at teardown."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(
        queues: Any, processors: dict[str, Any] | None = None, **options: Any
    ) -> Worker:
        options.setdefault("shutdown_grace_ms", 2000)
        worker = Worker(queues, redis_client, processors, **options)
        running.append((worker, asyncio.create_task(worker.run())))
        return worker

    yield start
    for worker, _task in running:
        worker.request_stop()
    if running:
        done, pending = await asyncio.wait([task for _w, task in running], timeout=15)
        assert not pending, "a worker did not stop within 15 s"
        for task in done:
            task.result()
