"""Operator actions: pause, resume, drain, clean, obliterate, cancel, remove, promote, retry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from engine import InvalidStateError, JobContext, JobNotFoundError, Queue, Worker, list_queues
from engine.worker.duties import CancelListener
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until


async def test_pause_stops_new_starts_while_active_jobs_finish(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def hold(ctx: JobContext) -> None:
        started.append(ctx.job_id)
        await release.wait()

    first = await queue.add("hold")
    await start_worker({"hold": hold}, concurrency=4)
    await wait_for_state(queue, first.id, "active")
    await queue.pause()
    assert await queue.is_paused()
    queued = [await queue.add("hold") for _ in range(3)]
    release.set()
    await wait_for_state(queue, first.id, "completed")
    # the worker is idle and woken by each add; nothing may start while paused
    await queue.add("hold")
    counts = await queue.counts()
    assert counts["active"] == 0 and counts["waiting"] == 4
    assert started == [first.id]
    await queue.resume()
    for job in queued:
        await wait_for_state(queue, job.id, "completed")
    assert not await queue.is_paused()


async def test_drain_removes_waiting_and_delayed_but_not_active(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def hold(ctx: JobContext) -> None:
        await release.wait()

    running = await queue.add("hold")
    await start_worker({"hold": hold}, concurrency=1)
    await wait_for_state(queue, running.id, "active")
    await queue.add_bulk([("noop", None)] * 2500)
    await queue.add("noop", delay_ms=60_000)
    removed = await queue.drain()
    assert removed == 2501
    counts = await queue.counts()
    assert counts["waiting"] == 0 and counts["delayed"] == 0 and counts["active"] == 1
    assert await queue.get_job("2") is None
    release.set()
    await wait_for_state(queue, running.id, "completed")


async def test_obliterate_leaves_no_key_of_the_queue(
    queue: Queue, start_worker: StartWorker
) -> None:
    other = Queue("other-queue", queue.redis)
    await other.add("noop")
    await queue.add_bulk([("echo", {"i": i}) for i in range(1500)])
    await queue.add("fail", attempts=1)
    await queue.add("noop", delay_ms=60_000)
    worker = Worker("test-queue", queue.redis, concurrency=8)
    running = asyncio.create_task(worker.run())
    await _until(lambda: _settled(queue, 1501))
    worker.request_stop()
    await asyncio.wait_for(running, 15)  # a worker still stopping may touch its queue
    await queue.get_logs("1")
    await queue.pause()
    await queue.obliterate()
    keys = [key async for key in queue.redis.scan_iter(match="*")]
    assert not [key for key in keys if "{test-queue}" in key]
    assert "test-queue" not in await list_queues(queue.redis)
    assert "other-queue" in await list_queues(queue.redis)
    assert (await other.counts())["waiting"] == 1


async def test_the_registry_follows_obliterate_and_adds_again(queue: Queue) -> None:
    for add in (
        lambda: queue.add("noop"),
        lambda: queue.add("noop", job_id="custom"),
        lambda: queue.add_bulk([("noop", None)] * 3),
    ):
        assert not await queue.exists()
        await add()
        await add()  # an existing custom id adds nothing, and registers nothing twice
        assert await queue.exists()
        assert await list_queues(queue.redis) == ["test-queue"]
        await queue.obliterate()
    await queue.pause()  # a setting registers a queue without jobs
    assert await queue.exists()
    await queue.add("noop")
    await queue.obliterate()
    assert not await queue.exists()


async def test_obliterate_refuses_while_jobs_run_unless_forced(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def hold(ctx: JobContext) -> None:
        await release.wait()

    job = await queue.add("hold")
    await start_worker({"hold": hold})
    await wait_for_state(queue, job.id, "active")
    with pytest.raises(InvalidStateError, match="1 active"):
        await queue.obliterate()
    assert (await queue.counts())["active"] == 1
    await queue.obliterate(force=True)
    assert await queue.redis.exists(queue.keys.job(job.id)) == 0
    release.set()


async def test_cancel_waiting_removes_and_active_ends_cancelled(
    queue: Queue, start_worker: StartWorker
) -> None:
    saw_cancel = asyncio.Event()

    async def long_job(ctx: JobContext) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            saw_cancel.set()
            raise

    active = await queue.add("long_job", attempts=3)
    await start_worker({"long_job": long_job}, concurrency=1)
    await wait_for_state(queue, active.id, "active")
    waiting = await queue.add("long_job")
    assert await queue.cancel(waiting.id) == "removed"
    assert await queue.get_job(waiting.id) is None
    assert await queue.cancel(active.id) == "requested"
    cancelled = await wait_for_state(queue, active.id, "failed")
    assert cancelled.cancelled
    assert cancelled.attempts_made == 1  # not retried despite attempts=3
    assert saw_cancel.is_set()
    with pytest.raises(InvalidStateError, match="already finished"):
        await queue.cancel(active.id)
    with pytest.raises(JobNotFoundError):
        await queue.cancel("no-such-job")


async def test_cancel_reaches_a_thread_processor(queue: Queue, start_worker: StartWorker) -> None:
    def polite(ctx: JobContext) -> str:
        ctx.cancelled.wait(30)
        return "stopped"

    job = await queue.add("polite")
    await start_worker({"polite": polite})
    await wait_for_state(queue, job.id, "active")
    await queue.cancel(job.id)
    assert (await wait_for_state(queue, job.id, "failed")).cancelled


async def test_a_worker_listens_for_cancels_before_its_first_job_starts(
    queue: Queue, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cancel published before the listener subscribed reached the job only
    # with the next heartbeat (10 s at the default lease). A slow subscription
    # (a busy server, a reconnect) made that window wide.
    listen = CancelListener.run

    async def slow_to_subscribe(self: CancelListener) -> None:
        await asyncio.sleep(0.5)
        await listen(self)

    monkeypatch.setattr(CancelListener, "run", slow_to_subscribe)
    subscribers: list[int] = []

    async def first(ctx: JobContext) -> None:
        reply = await queue.redis.pubsub_numsub(queue.keys.cancel_channel)
        subscribers.append(int(reply[0][1]))

    jobs = [await queue.add("first") for _ in range(3)]
    await start_worker({"first": first})
    for job in jobs:
        await wait_for_state(queue, job.id, "completed")
    assert subscribers and min(subscribers) >= 1


async def test_remove_promote_and_errors(queue: Queue) -> None:
    delayed = await queue.add("noop", delay_ms=60_000)
    waiting = await queue.add("noop")
    await queue.promote(delayed.id)
    assert (await queue.get_job(delayed.id)).state == "waiting"  # type: ignore[union-attr]
    with pytest.raises(InvalidStateError, match="it is waiting, not delayed"):
        await queue.promote(waiting.id)
    assert await queue.remove(waiting.id) == "waiting"
    assert await queue.get_job(waiting.id) is None
    with pytest.raises(JobNotFoundError):
        await queue.remove(waiting.id)
    with pytest.raises(JobNotFoundError):
        await queue.promote("missing")


async def test_retry_failed_job_keeps_history(queue: Queue, start_worker: StartWorker) -> None:
    outcomes = iter(["fail", "ok"])

    async def flaky(ctx: JobContext) -> str:
        if next(outcomes) == "fail":
            raise RuntimeError("upstream 503")
        return "done"

    job = await queue.add("flaky")
    await start_worker({"flaky": flaky})
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.error == "RuntimeError: upstream 503"
    completed_id = await _completed_id(queue)
    with pytest.raises(InvalidStateError, match="not failed"):
        await queue.retry_job(completed_id)
    with pytest.raises(JobNotFoundError):
        await queue.retry_job("missing")
    await queue.retry_job(job.id)
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == "done"
    assert done.manual_retries == 1
    logs = await queue.get_logs(job.id)
    assert any("upstream 503" in line for line in logs)
    assert any(line.startswith("[retried]") for line in logs)


async def test_retry_failed_and_clean(queue: Queue, start_worker: StartWorker) -> None:
    await queue.add_bulk([("fail", {"message": f"m{i}"}) for i in range(30)])
    await queue.add_bulk([("noop", None)] * 20)
    await start_worker(concurrency=10)
    await _until(lambda: _settled(queue, 50))
    assert (await queue.counts())["failed"] == 30
    assert await queue.clean("completed", grace_ms=0, limit=5) == 5
    assert (await queue.counts())["completed"] == 15
    assert await queue.clean("completed", grace_ms=3_600_000) == 0
    moved = await queue.retry_failed()
    assert moved == 30
    await _until(lambda: _failed_count(queue, 30))
    assert await queue.clean("failed") == 30
    assert (await queue.counts())["failed"] == 0


async def _completed_id(queue: Queue) -> str:
    job = await queue.add("noop")
    await wait_for_state(queue, job.id, "completed")
    return job.id


async def _settled(queue: Queue, finished: int) -> bool:
    counts = await queue.counts()
    return counts["completed"] + counts["failed"] >= finished and counts["active"] == 0


async def _failed_count(queue: Queue, expected: int) -> bool:
    return (await queue.counts())["failed"] == expected


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    await await_until(predicate, timeout=timeout)


async def test_prefetched_job_goes_back_unspent_on_stop_and_can_be_cancelled(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def hold(ctx: JobContext) -> None:
        await release.wait()

    first = await queue.add("hold")  # runs
    second = await queue.add("hold")  # prefetched, then handed back on stop
    third = await queue.add("hold")  # prefetched, then cancelled
    worker = await start_worker({"hold": hold}, concurrency=1, prefetch=2)
    await await_until(lambda: _active_count(queue, 3))
    assert worker.running_count == 1
    assert await queue.cancel(third.id) == "requested"
    await wait_for_state(queue, third.id, "failed")
    worker.request_stop()
    release.set()
    await wait_for_state(queue, first.id, "completed")
    back = await wait_for_state(queue, second.id, "waiting")
    assert back.attempts_made == 0


async def _active_count(queue: Queue, expected: int) -> bool:
    return (await queue.counts())["active"] == expected


async def test_clean_with_no_grace_takes_a_job_added_this_millisecond(queue: Queue) -> None:
    """Times added keep microseconds; a clean with no grace compares them to the
    millisecond, so a job added just before (often in the same millisecond)
    is 0 ms old, and goes."""
    for state, delay_ms in (("delayed", 60_000), ("waiting", 0)):
        for _ in range(20):
            await queue.add("echo", delay_ms=delay_ms)
            assert await queue.clean(state) == 1
