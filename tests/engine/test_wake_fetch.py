"""An idle worker of one queue waits on the queue's marker with its fetch
pipelined behind the wait: Redis leases an added job in the turn of the
add, with no round trip to the worker between the wake-up and the lease.
A stop or a pause ends that wait at once (CLIENT UNBLOCK)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis.asyncio

from engine import Queue, Worker
from engine.channel import wire_enabled
from engine.connection import connect
from engine.jobhash import JobField
from engine.wire import WireChannel
from engine.worker.exchange import IDLE_RECHECK_S, Exchange
from engine.worker.lifecycle import WAKE_FETCH_ENV
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until

needs_wire = pytest.mark.skipif(
    not wire_enabled(), reason="the wait-and-fetch goes over the engine's own connection"
)


async def _blocked_waits(client: redis.asyncio.Redis) -> int:
    """Connections blocked in BZPOPMIN now."""
    clients: list[dict[str, Any]] = await client.client_list()
    return sum(1 for c in clients if c["cmd"] == "bzpopmin" and "b" in c["flags"])


async def _idle(worker: Worker, client: redis.asyncio.Redis) -> None:
    """Until ``worker`` waits on its marker (it is the only worker)."""
    await await_until(lambda: _blocked_waits(client), timeout=10, message="no wait on the marker")


def _leased_while_frozen(url: str, queue_name: str) -> str | None:
    """In a thread of its own, while the test's loop (and the in-process
    worker) is frozen: add a job and return the worker that leased it
    within 2 s, or None."""

    async def add_and_watch() -> str | None:
        client = connect(url)
        try:
            queue = Queue(queue_name, client)
            job = await queue.add("echo", "x")
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                leased_by = await client.hget(queue.keys.job(job.id), JobField.WORKER)
                if leased_by:
                    return str(leased_by)
                await asyncio.sleep(0.01)
            return None
        finally:
            await client.aclose()

    found: list[str | None] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(add_and_watch())))
    thread.start()
    thread.join()  # blocks this loop: the worker cannot run a line meanwhile
    return found[0]


@needs_wire
async def test_an_added_job_is_leased_without_the_worker_running_a_line(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    worker = await start_worker(concurrency=2)
    await _idle(worker, redis_client)
    assert _leased_while_frozen(redis_url, queue.name) == worker.id


async def test_with_the_marker_alone_the_lease_waits_for_the_worker(
    queue: Queue,
    start_worker: StartWorker,
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the other path, as workers of several queues and on a cluster take it
    monkeypatch.setenv(WAKE_FETCH_ENV, "0")
    worker = await start_worker(concurrency=2)
    await _idle(worker, redis_client)
    assert _leased_while_frozen(redis_url, queue.name) is None
    # once the worker runs again it wakes and fetches the job
    await await_until(lambda: _state_is(queue, "completed"), timeout=10)


async def _state_is(queue: Queue, state: str) -> bool:
    return (await queue.counts())[state] == 1


async def test_an_idle_worker_stops_without_waiting_out_its_wait(
    redis_client: redis.asyncio.Redis,
) -> None:
    worker = Worker("test-queue", redis_client, shutdown_grace_ms=2000)
    running = asyncio.create_task(worker.run())
    try:
        await _idle(worker, redis_client)
        started = time.monotonic()
        worker.request_stop()
        await asyncio.wait_for(asyncio.shield(running), timeout=10)
        assert time.monotonic() - started < IDLE_RECHECK_S / 2
    finally:
        worker.request_stop()
        await running


@needs_wire
async def test_a_pause_ends_the_wait_and_a_job_added_meanwhile_waits(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    worker = await start_worker()
    await _idle(worker, redis_client)
    started = time.monotonic()
    worker.pause()
    await await_until(
        lambda: _no_blocked_waits(redis_client), timeout=10, message="the wait went on"
    )
    assert time.monotonic() - started < IDLE_RECHECK_S / 2
    job = await queue.add("echo", "while paused")
    assert (await queue.get_job(job.id)).state == "waiting"  # type: ignore[union-attr]
    worker.resume()
    done = await wait_for_state(queue, job.id, "completed")
    assert done.worker == worker.id


async def _no_blocked_waits(client: redis.asyncio.Redis) -> bool:
    return await _blocked_waits(client) == 0


async def test_the_fetch_behind_the_wait_loads_a_flushed_function(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    worker = await start_worker()
    await _idle(worker, redis_client)
    await redis_client.function_flush()
    await redis_client.script_flush()
    job = await queue.add("echo", "after a flush")
    done = await wait_for_state(queue, job.id, "completed")
    assert done.worker == worker.id and done.result == "after a flush"


@needs_wire
async def test_a_bug_in_the_wait_and_fetch_leaves_the_marker_wait(
    queue: Queue,
    start_worker: StartWorker,
    redis_client: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_args: Any) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Exchange, "fetch_when_woken", broken)
    worker = await start_worker()
    job = await queue.add("echo", "still runs")
    done = await wait_for_state(queue, job.id, "completed")
    assert done.worker == worker.id
    later = await queue.add("echo", "woken by the marker")
    assert (await wait_for_state(queue, later.id, "completed")).worker == worker.id
    assert "waiting on the marker alone" in caplog.text


@needs_wire
async def test_no_wait_goes_out_beside_exchanges_already_in_flight(
    redis_client: redis.asyncio.Redis,
) -> None:
    """The main loop asks for the wait when nothing is in flight; the duty
    sends it later, when two exchanges may have gone out meanwhile: a third
    call would break the bound on calls in flight (seen once in CI as
    ``in_flight = 3 outside 0..2``)."""
    worker = Worker("test-queue", redis_client)
    waiter = WireChannel(redis_client)
    try:
        worker.slots.exchange_sent()
        assert not await worker._exchange.fetch_when_woken(
            worker._queues["test-queue"], 0.01, waiter
        )
        assert worker.slots.in_flight == 1
    finally:
        await waiter.close()
