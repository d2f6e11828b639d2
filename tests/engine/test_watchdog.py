"""A worker that holds jobs but makes no progress is detectable: its log says
where it waits, the registry of workers shows it as stuck, and a call that
a frozen Redis never answers is dropped instead of waited on forever."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest
import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.monitor import list_workers, server_time_ms
from tests.engine.conftest import StartWorker
from tests.helpers import RedisFactory, await_until


async def test_a_worker_whose_jobs_hang_logs_where_it_waits_and_shows_stuck(
    queue: Queue, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()

    async def hangs_in_here(ctx: JobContext) -> None:
        await release.wait()

    worker = await start_worker({"hang": hangs_in_here}, lease_ms=300)
    try:
        job = await queue.add("hang")
        await await_until(lambda: worker.running_count == 1, timeout=10)
        await await_until(
            lambda: any("no job finished" in r.getMessage() for r in caplog.records),
            timeout=10,
            message="the watchdog said nothing",
        )
        report = next(r.getMessage() for r in caplog.records if "no job finished" in r.getMessage())
        assert f"job {queue.name}/{job.id} (hang)" in report
        assert "hangs_in_here" in report  # where the job waits
        assert "_main_loop" in report  # where the main loop waits

        async def shown_stuck() -> bool:
            workers = await list_workers(queue.redis)
            now = await server_time_ms(queue.redis)
            return any(w.id == worker.id and w.stuck(now) for w in workers)

        await await_until(shown_stuck, timeout=10, message="the registry never showed it stuck")
    finally:
        release.set()

    async def not_stuck() -> bool:
        workers = await list_workers(queue.redis)
        now = await server_time_ms(queue.redis)
        mine = [w for w in workers if w.id == worker.id]
        return bool(mine) and mine[0].last_finished_ms > 0 and not mine[0].stuck(now)

    await await_until(not_stuck, timeout=10, message="still shown stuck after a job finished")


async def test_a_frozen_server_does_not_hold_the_exchange_forever(
    redis_factory: RedisFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="engine.worker")
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    frozen = False
    try:
        queue = Queue("frozen", client)
        total = 300
        await queue.add_bulk([("noop", None)] * total)
        worker = Worker("frozen", client, concurrency=2, lease_ms=500)
        task = asyncio.create_task(worker.run())
        await await_until(lambda: worker.done_count >= 10, timeout=10)
        os.kill(server.pid, signal.SIGSTOP)
        frozen = True
        await await_until(
            lambda: any("has not answered" in r.getMessage() for r in caplog.records),
            timeout=15,
            message="the exchange waited on the frozen server without bound",
        )
        assert not task.done()
        os.kill(server.pid, signal.SIGCONT)
        frozen = False

        async def finished() -> bool:
            # Thawed, Redis runs the calls it had read before the connection
            # was dropped: their outcomes count (the worker hears "lost" when
            # it sends them again) and their leased jobs run again after a sweep.
            return task.done() or (await queue.counts())["completed"] >= total

        await await_until(finished, timeout=30)
        assert not task.done(), repr(task.exception())
        worker.request_stop()
        await asyncio.wait_for(task, 20)
        assert (await queue.counts())["completed"] == total
    finally:
        if frozen:
            os.kill(server.pid, signal.SIGCONT)
        await client.aclose()
