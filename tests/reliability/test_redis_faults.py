"""Redis misbehaving under running workers: its script cache flushed, the
server killed with SIGKILL and restarted from its AOF."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import redis.asyncio

from engine import Queue
from engine.connection import connect
from tests.helpers import RedisFactory, await_until, wait_until
from tests.reliability.processors import read_executions
from tests.reliability.workers import WorkerPool

Q = "reliability"


async def test_function_and_script_flush_while_processing_loses_and_repeats_nothing(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    queue = Queue(Q, redis_client)
    ids = await queue.add_bulk([("count", {"ms": 5})] * 1000)
    worker = workers.start(redis_url, Q, concurrency=10)
    flushes = 0
    done = asyncio.Event()

    async def flush_continuously() -> None:
        # Back to back, so that flushes also land between a script reload and
        # the call that follows it.
        nonlocal flushes
        async with redis.asyncio.Redis.from_url(redis_url) as flusher:
            while not done.is_set():
                await flusher.function_flush()
                await flusher.script_flush()
                flushes += 1

    async def completed(n: int) -> bool:
        assert worker.alive(), f"the worker died:\n{worker.stderr()[-3000:]}"
        return (await queue.counts())["completed"] >= n

    flusher = asyncio.create_task(flush_continuously())
    try:
        await await_until(lambda: completed(500), timeout=30, message="no progress")
        # The producer side too: add_bulk while the scripts keep vanishing.
        ids += await queue.add_bulk([("count", {"ms": 5})] * 1000)
        await await_until(lambda: completed(2000), timeout=30, message="jobs did not complete")
    finally:
        done.set()
        await flusher
    assert flushes >= 5, f"only {flushes} flushes happened while the worker ran"
    assert worker.alive()
    counts = await queue.counts()
    assert counts["completed"] == 2000
    assert counts["failed"] == counts["waiting"] == counts["active"] == counts["delayed"] == 0
    executions = read_executions(exec_dir)
    assert set(executions) == set(ids)
    assert max(executions.values()) == 1, "some jobs ran more than once"
    assert "lease lost" not in worker.stdout()


async def test_redis_killed_and_restarted_under_running_workers(
    redis_factory: RedisFactory, workers: WorkerPool, exec_dir: Path
) -> None:
    concurrency, worker_count, total = 4, 2, 3000
    server = redis_factory(persistent=True)
    with server.client() as sync_client:
        # With everysec Redis may lose up to a second of acknowledged writes on
        # kill -9 (documented); "always" isolates what the engine guarantees.
        sync_client.config_set("appendfsync", "always")
    client = connect(server.url)
    try:
        queue = Queue(Q, client)
        ids = await queue.add_bulk([("count", {"ms": 5})] * total)
        pool = [
            workers.start(server.url, Q, concurrency=concurrency, wait=False)
            for _ in range(worker_count)
        ]
        for worker in pool:
            worker.wait_serving()

        async def well_under_way() -> bool:
            return (await queue.counts())["completed"] >= total // 5

        await await_until(well_under_way, timeout=30)
        completed_before = (await queue.counts())["completed"]
        os.kill(server.pid, signal.SIGKILL)
        wait_until(lambda: not server.is_running(), message="redis-server survived SIGKILL")
        assert completed_before < total * 0.9, "the kill came too late to test anything"
        await client.aclose()

        restarted = redis_factory(persistent=True, port=server.port, data_dir=server.data_dir)
        client = connect(restarted.url)
        queue = Queue(Q, client)

        async def all_completed() -> bool:
            return (await queue.counts())["completed"] == total

        await await_until(all_completed, timeout=45, interval=0.05, message="jobs lost")
        assert all(worker.alive() for worker in pool), "a worker died with Redis"
        assert any(EXCHANGE_FAILED in worker.stderr() for worker in pool), (
            "no worker noticed the outage"
        )
        counts = await queue.counts()
        assert counts["failed"] == counts["waiting"] == counts["active"] == counts["delayed"] == 0
        completed_ids = await client.zrange(queue.keys.completed, 0, -1)
        assert set(completed_ids) == set(ids)
    finally:
        await client.aclose()

    executions = read_executions(exec_dir)
    assert set(executions) == set(ids)
    # At least once; a repeat only for jobs that were running at the kill.
    assert sum(executions.values()) <= total + concurrency * worker_count, executions.most_common(
        20
    )


EXCHANGE_FAILED = "exchange (finish and fetch) failed"
"""What a worker logs when its exchange with Redis fails (once per cause, repeats summed)."""


async def test_worker_backs_off_while_redis_is_down(
    redis_factory: RedisFactory, workers: WorkerPool, exec_dir: Path
) -> None:
    server = redis_factory()
    async with connect(server.url) as client:
        queue = Queue(Q, client)
        await queue.add_bulk([("count", {"ms": 300})] * 4)
        worker = workers.start(server.url, Q, concurrency=4)
        await await_until(lambda: sum(read_executions(exec_dir).values()) == 4)
    # The jobs finish while Redis is gone: their outcomes wait to be reported.
    os.kill(server.pid, signal.SIGKILL)
    wait_until(lambda: not server.is_running(), message="redis-server survived SIGKILL")
    wait_until(
        lambda: EXCHANGE_FAILED in worker.stderr(),
        timeout=10,
        message="the worker never noticed that Redis was gone",
    )
    down_since = time.monotonic()
    await asyncio.sleep(2.0)  # how long Redis stays down
    assert worker.alive()
    redis_factory(port=server.port, data_dir=server.data_dir)  # empty: not persistent
    wait_until(
        lambda: "exchange (finish and fetch) works again" in worker.stderr(),
        timeout=15,
        message="the worker did not come back to Redis",
    )
    down_s = time.monotonic() - down_since
    line = next(
        line for line in worker.stderr().splitlines() if "finish and fetch) works again" in line
    )
    failures = int(line.split(" after ")[1].split()[0])
    # Backing off 0.1, 0.2, 0.4, 0.8 s... (capped at 5 s): a handful of tries
    # over the outage, not a busy loop of retries; and one log line, not one per try.
    assert failures <= 4 + down_s, line
    assert worker.stderr().count(EXCHANGE_FAILED) <= 3, worker.stderr()
