"""A worker never dies of what Redis answers: a full server, a read-only one,
errors raised by listeners; and it refuses options it cannot run with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.worker.config import WorkerOptionError
from tests.engine.conftest import sweep_now, wait_for_state
from tests.helpers import EmbeddedServer, RedisFactory, await_until

Q = "faults"
FULL_MARGIN_BYTES = 256 * 1024


async def work(ctx: JobContext) -> str:
    await asyncio.sleep(0.005)
    return ctx.job_id


@pytest.fixture
def server(redis_factory: RedisFactory) -> Iterator[EmbeddedServer]:
    """A server of this test's own: its memory limit and role get changed."""
    yield redis_factory()


@pytest_asyncio.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    try:
        yield connection
    finally:
        await connection.aclose()


def fill_memory(server: EmbeddedServer) -> None:
    """maxmemory just under what is used (noeviction): every command that needs
    memory is refused with OOM. (Just above would do too, until a client's
    buffers are freed and the server is no longer full: not a steady state.)"""
    with server.client() as admin:
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", max(used - FULL_MARGIN_BYTES, 1))
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            admin.set("probe", "x")


def free_memory(server: EmbeddedServer) -> None:
    with server.client() as admin:
        admin.config_set("maxmemory", 0)


def make_read_only(server: EmbeddedServer) -> None:
    """A replica of a master that is not there: it keeps its data, refuses writes
    (READONLY), as a former master does after a failover."""
    with server.client() as admin:
        admin.execute_command("REPLICAOF", "127.0.0.1", "1")


def make_writable(server: EmbeddedServer) -> None:
    with server.client() as admin:
        admin.execute_command("REPLICAOF", "NO", "ONE")


FAULTS: dict[
    str, tuple[Callable[[EmbeddedServer], None], Callable[[EmbeddedServer], None], str]
] = {
    "oom": (fill_memory, free_memory, "maxmemory"),
    "readonly": (make_read_only, make_writable, "read only replica"),
}


def _lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


def _failed_duties(caplog: pytest.LogCaptureFixture, needle: str) -> set[str]:
    """What logged a failure with ``needle`` in its cause ("heartbeat", "sweep"...)."""
    return {
        line.split(": ", 1)[1].split(" failed:")[0]
        for line in _lines(caplog, needle)
        if " failed:" in line
    }


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_running_worker_rides_out_a_refusing_server_and_finishes_its_queue(
    server: EmbeddedServer,
    client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.worker")
    inject, heal, needle = FAULTS[fault]
    queue = Queue(Q, client)
    total = 400
    await queue.add_bulk([("work", None)] * total)
    worker = Worker(Q, client, {"work": work}, concurrency=4, lease_ms=1000, stall_interval_ms=100)
    task = asyncio.create_task(worker.run())
    try:
        await await_until(lambda: worker.done_count >= 20, timeout=20, message="no progress")
        inject(server)
        # every duty meets the refusal: the exchange, the heartbeat, the sweep
        await await_until(
            lambda: len(_failed_duties(caplog, needle)) >= 3 or task.done(),
            timeout=20,
            message=f"the worker's duties did not all meet {needle}",
        )
        assert not task.done(), f"the worker ended: {task.exception()!r}"
        done_while_refused = worker.done_count
        heal(server)
        await await_until(
            lambda: worker.done_count >= total or task.done(),
            timeout=60,
            message="queue not finished",
        )
        assert not task.done(), f"the worker ended: {task.exception()!r}"
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 20)
    counts = await queue.counts()
    assert counts["completed"] == total
    assert counts["active"] == counts["waiting"] == counts["failed"] == 0
    assert done_while_refused < total
    # one line per failure, not a traceback per attempt; repeats are summed up
    refused = _lines(caplog, needle)
    assert all("Traceback" not in line and "\n" not in line for line in refused)
    assert len(refused) <= 12, "\n".join(refused)
    assert _lines(caplog, "works again")


async def test_a_worker_started_against_a_full_server_serves_once_memory_is_freed(
    server: EmbeddedServer, client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(Q, client)
    await queue.add_bulk([("work", None)] * 50)
    fill_memory(server)
    worker = Worker(Q, client, {"work": work}, concurrency=2, lease_ms=1000)
    task = asyncio.create_task(worker.run())
    try:
        await await_until(lambda: _lines(caplog, "maxmemory") or task.done(), timeout=20)
        assert not task.done(), f"the worker ended: {task.exception()!r}"
        free_memory(server)
        await await_until(
            lambda: worker.done_count >= 50 or task.done(), timeout=30, message="queue not finished"
        )
        assert not task.done(), f"the worker ended: {task.exception()!r}"
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 20)
    assert (await queue.counts())["completed"] == 50


async def test_an_outcome_a_full_server_refuses_keeps_its_lease_until_it_lands(
    server: EmbeddedServer, client: redis.asyncio.Redis
) -> None:
    queue = Queue(Q, client)
    release = asyncio.Event()

    async def held(ctx: JobContext) -> str:
        await release.wait()
        return "done"

    job = await queue.add("held")
    lease_ms = 1000
    worker = Worker(Q, client, {"held": held}, concurrency=1, lease_ms=lease_ms)
    task = asyncio.create_task(worker.run())

    async def redis_ms() -> int:
        seconds, micros = await client.time()
        return int(seconds * 1000 + micros // 1000)

    try:
        await wait_for_state(queue, job.id, "active")
        with server.client() as admin:  # full whatever is freed meanwhile
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
        release.set()  # it ends; the server refuses its outcome
        await await_until(lambda: worker.slots.held_count == 0, timeout=10)
        until = await redis_ms() + 3 * lease_ms

        async def three_leases_passed() -> bool:
            return await redis_ms() > until

        await await_until(three_leases_passed, timeout=20)
        deadline = await client.zscore(queue.keys.active, job.id)
        assert deadline is not None and deadline > await redis_ms(), "its lease ran out"
        free_memory(server)
        # a sweep that comes before the outcome must find the lease alive
        assert (await sweep_now(queue))[1] == 0
        done = await wait_for_state(queue, job.id, "completed")
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 20)
    assert done.stalls == 0


async def test_a_listener_that_raises_is_logged_and_ignored(
    redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(Q, redis_client)
    await queue.add_bulk([("work", None)] * 30)
    calls = 0

    def listener(event: str, _job: Any, _details: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"listener broke on {event}")

    worker = Worker(Q, redis_client, {"work": work}, concurrency=3, listener=listener)
    task = asyncio.create_task(worker.run())
    try:
        await await_until(
            lambda: worker.done_count >= 30 or task.done(), timeout=20, message="queue not finished"
        )
        assert not task.done(), f"the worker ended: {task.exception()!r}"
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 20)
    assert calls >= 60  # "active" and "completed" for every job
    assert (await queue.counts())["completed"] == 30
    assert _lines(caplog, "listener broke on")


async def test_run_on_a_running_worker_raises(redis_client: redis.asyncio.Redis) -> None:
    worker = Worker(Q, redis_client, {"work": work})
    task = asyncio.create_task(worker.run())
    try:
        await await_until(lambda: worker._running, timeout=10)
        with pytest.raises(RuntimeError, match="already running"):
            await worker.run()
        assert not task.done()
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 20)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stall_interval_ms": 0}, "stall_interval_ms"),
        ({"stall_interval_ms": -5}, "stall_interval_ms"),
        ({"heartbeat_ms": -1}, "heartbeat_ms must be > 0"),
        ({"heartbeat_ms": 0}, "heartbeat_ms must be > 0"),
        ({"lease_ms": 1000, "heartbeat_ms": 1000}, "shorter than lease_ms"),
        ({"max_stalled": -1}, "max_stalled"),
        ({"shutdown_grace_ms": -1}, "shutdown_grace_ms"),
        ({"shutdown_grace_ms": 1000, "shutdown_timeout_ms": 500}, "shutdown_timeout_ms"),
        ({"concurrency": 0}, "concurrency"),
        ({"lease_ms": 10}, "lease_ms"),
        ({"prefetch": -1}, "prefetch"),
        ({"thread_pool_size": 0}, "thread_pool_size"),
    ],
)
def test_invalid_options_are_refused_at_construction(
    redis_client: redis.asyncio.Redis, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkerOptionError, match=message):
        Worker(Q, redis_client, **options)
