"""Fixtures for the job catalog: a seeded platform store in a temporary data
directory, the catalog's services pointing at it and at the test Redis, and
a real worker serving every catalog queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio

from engine import Job, Queue, Worker
from messai_console.jobs import QUEUES, configure, creators, registry
from messai_console.jobs.mail import MailSettings
from messai_console.jobs.runtime import Services
from messai_console.store import DataPaths, Store, open_store
from messai_console.store.samples import SeededData, seed
from tests.helpers import await_until

ADMIN = "admin@example.com"


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    return DataPaths.under(tmp_path / "data")


@pytest.fixture
def store(paths: DataPaths) -> Store:
    return open_store(paths)


@pytest.fixture
def seeded(store: Store) -> SeededData:
    return seed(store, small=True)


def outbox_mail(**overrides: Any) -> MailSettings:
    """Mail settings that ignore the environment: no SMTP (the outbox), one admin."""
    values: dict[str, Any] = {
        "smtp_host": None,
        "smtp_user": None,
        "smtp_password": None,
        "admin_emails": ADMIN,
        "email_rate_per_second": 1000.0,
    }
    values.update(overrides)
    return MailSettings(_env_file=None, **values)


@pytest_asyncio.fixture
async def services(redis_client: redis.asyncio.Redis, store: Store) -> AsyncIterator[Services]:
    configured = Services(store=store, mail=outbox_mail(), prefix="messai", redis=redis_client)
    configure(configured)
    try:
        yield configured
    finally:
        configure(None)


@pytest_asyncio.fixture
async def worker(redis_client: redis.asyncio.Redis, services: Services) -> AsyncIterator[Worker]:
    """A worker on every catalog queue, stopped at teardown."""
    running = Worker(
        list(QUEUES), redis_client, registry, concurrency=4, shutdown_grace_ms=5000, lease_ms=30_000
    )
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.request_stop()
        await asyncio.wait_for(task, 20)


async def finished(
    redis_client: redis.asyncio.Redis, queue: str, job_id: str, timeout: float = 30
) -> Job:
    """Wait until the job has completed or failed for good; returns it."""
    q = Queue(queue, redis_client)
    found: list[Job] = []

    async def done() -> bool:
        job = await q.get_job(job_id)
        if job is not None and job.state in ("completed", "failed"):
            found.append(job)
            return True
        return False

    await await_until(done, timeout=timeout, message=f"{queue}/{job_id} did not finish")
    return found[-1]


async def run(
    redis_client: redis.asyncio.Redis,
    queue: str,
    name: str,
    data: Any,
    timeout: float = 30,
    **options: Any,
) -> Job:
    """Enqueue a catalog job through its creator path and wait for its end."""
    job = await creators.enqueue(queue, name, data, redis=redis_client, **options)
    return await finished(redis_client, queue, job.id, timeout)


def completed(job: Job) -> Any:
    assert job.state == "completed", f"{job.queue}/{job.name} {job.state}: {job.error}"
    return job.result


@pytest.fixture
def no_sync_queues() -> Iterator[None]:
    yield
    creators.sync.close()
