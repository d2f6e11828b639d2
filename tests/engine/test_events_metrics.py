"""Events for every state change, per-minute metrics, and a live reader."""

from __future__ import annotations

import asyncio

import redis.asyncio

from engine import JobContext, Queue
from engine.events import read_events, read_history
from tests.engine.conftest import StartWorker, wait_for_state


async def test_lifecycle_events_are_written(queue: Queue, start_worker: StartWorker) -> None:
    async def reporting(ctx: JobContext) -> str:
        await ctx.progress(40, "parsing")
        await ctx.log("halfway there")
        if ctx.attempt == 1:
            raise RuntimeError("first try fails")
        return "ok"

    job = await queue.add("reporting", attempts=2, backoff={"type": "fixed", "delay_ms": 10})
    await start_worker({"reporting": reporting})
    await wait_for_state(queue, job.id, "completed")
    history = await read_history(queue.redis, queue.keys)
    names = [event.name for event in history if event.job_id == job.id]
    assert names[0] == "job:added"
    for expected in ("job:active", "job:progress", "job:retrying", "job:waiting", "job:completed"):
        assert expected in names
    assert names[-1] == "job:completed"
    progress = next(e for e in history if e.name == "job:progress")
    assert progress.fields["p"] == '{"pct":40.0,"msg":"parsing"}'
    assert "halfway there" in await queue.get_logs(job.id)


async def test_queue_events(queue: Queue) -> None:
    await queue.add("noop")
    await queue.pause()
    await queue.resume()
    await queue.drain()
    removable = await queue.add("noop")
    await queue.remove(removable.id)
    names = [event.name for event in await read_history(queue.redis, queue.keys)]
    assert names == [
        "job:added",
        "queue:paused",
        "queue:resumed",
        "queue:drained",
        "job:added",
        "job:removed",
    ]


async def test_reader_follows_new_events(queue: Queue, redis_client: redis.asyncio.Redis) -> None:
    await queue.add("noop")
    last_seen = (await read_history(queue.redis, queue.keys))[-1].stream_id
    seen: list[str] = []

    async def follow() -> None:
        async for event in read_events(redis_client, [queue.keys], since=last_seen, block_ms=200):
            seen.append(f"{event.name}:{event.job_id}")
            if len(seen) == 2:
                return

    reader = asyncio.create_task(follow())
    second = await queue.add("noop")
    await queue.cancel(second.id)
    await asyncio.wait_for(reader, 5)
    assert seen == [f"job:added:{second.id}", f"job:cancelled:{second.id}"]


async def test_reader_from_now_skips_history(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    await queue.add("noop")
    events = read_events(redis_client, [queue.keys], since="$", block_ms=100)
    pending = asyncio.ensure_future(anext(events))
    while not pending.done():
        await queue.add("echo")
        await asyncio.wait([pending], timeout=0.05)
    first = pending.result()
    assert first.name == "job:added" and first.job_id != "1"
    await events.aclose()


async def test_metrics_count_completed_failed_and_run_time(
    queue: Queue, start_worker: StartWorker
) -> None:
    async def work(ctx: JobContext) -> None:
        await asyncio.sleep(0.02)

    await queue.add_bulk([("work", None)] * 5 + [("fail", None)] * 2)
    await start_worker({"work": work}, concurrency=7)
    for job_id in [str(i) for i in range(1, 8)]:
        job = await queue.get_job(job_id)
        while job is not None and job.state not in ("completed", "failed"):
            job = await wait_for_state(
                queue, job_id, "completed" if job.name == "work" else "failed"
            )
    points = await queue.metrics("hour")
    assert len(points) == 60
    assert sum(p["completed"] for p in points) == 5
    assert sum(p["failed"] for p in points) == 2
    # 19: uvloop's timers may fire up to a millisecond early (libuv's cached loop time)
    assert sum(p["run_time_ms"] for p in points) >= 5 * 19
    assert len(await queue.metrics("week")) == 10080
