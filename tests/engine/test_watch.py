"""watch_job and watch_queue: state, progress and counts as they change."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine import Event, JobContext, JobNotFoundError, Queue
from engine.watch import JobUpdate, QueueCounts, state_after, watch_job, watch_queue
from tests.engine.conftest import StartWorker


async def test_watch_job_follows_progress_until_the_job_completes(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def steps(ctx: JobContext) -> str:
        for pct in (25, 50, 75):
            await ctx.progress(pct)
        await release.wait()
        return "done"

    job = await queue.add("steps", {"n": 1})
    updates: list[JobUpdate] = []

    async def follow() -> None:
        async for update in watch_job(queue, job.id, block_ms=200):
            updates.append(update)
            if update.progress == {"pct": 75.0}:
                release.set()

    watching = asyncio.create_task(follow())
    await start_worker({"steps": steps})
    await asyncio.wait_for(watching, 20)

    assert updates[0].event is None and updates[0].job is not None
    assert updates[0].state in ("waiting", "active")
    reported = [u.progress for u in updates if u.event and u.event.name == "job:progress"]
    assert reported == [{"pct": 25.0}, {"pct": 50.0}, {"pct": 75.0}]
    last = updates[-1]
    assert last.state == "completed" and last.finished
    assert last.job is not None and last.job.result == "done"
    assert [u.state for u in updates][-2:] == ["active", "completed"]


async def test_watch_job_of_a_finished_job_yields_once(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("noop")
    await start_worker({"noop": lambda ctx: None})
    async for update in watch_job(queue, job.id, block_ms=100):
        if update.state == "completed":
            break
    updates = [update async for update in watch_job(queue, job.id)]
    assert [u.state for u in updates] == ["completed"]


async def test_watch_job_ends_when_the_job_is_cancelled_before_it_ran(queue: Queue) -> None:
    job = await queue.add("noop", delay_ms=60_000)
    seen: list[str] = []

    async def follow() -> None:
        async for update in watch_job(queue, job.id, block_ms=100):
            seen.append(update.state)
            if update.state == "delayed":
                await queue.cancel(job.id)

    await asyncio.wait_for(follow(), 10)
    assert seen == ["delayed", "removed"]


async def test_watch_job_of_a_missing_job_raises(queue: Queue) -> None:
    await queue.add("noop")
    with pytest.raises(JobNotFoundError):
        async for _update in watch_job(queue, "no-such-job"):
            pass


async def test_watch_queue_yields_counts_first_then_events_and_counts_on_time(
    queue: Queue,
) -> None:
    await queue.add("noop")
    items: list[Event | QueueCounts] = []
    added: list[str] = []

    async def follow() -> None:
        async for item in watch_queue(queue, counts_every_s=0.2):
            items.append(item)
            if len(items) == 1:
                added.append((await queue.add("noop", {"k": "v"})).id)
            counts = [i for i in items if isinstance(i, QueueCounts)]
            if len(counts) >= 3:
                return

    await asyncio.wait_for(follow(), 10)
    first = items[0]
    assert isinstance(first, QueueCounts)
    assert first.counts["waiting"] == 1 and not first.paused
    events = [item for item in items if isinstance(item, Event)]
    assert [(e.name, e.job_id) for e in events] == [("job:added", added[0])]
    last = [item for item in items if isinstance(item, QueueCounts)][-1]
    assert last.counts["waiting"] == 2


async def test_watch_queue_resumes_after_an_event_id(queue: Queue) -> None:
    first = await queue.add("noop")
    second = await queue.add("noop")
    history = [item async for item in _take(watch_queue(queue, since="0", counts_every_s=5), 3)]
    events = [item for item in history if isinstance(item, Event)]
    assert [e.job_id for e in events] == [first.id, second.id]
    resumed = [
        item
        async for item in _take(watch_queue(queue, since=events[0].stream_id, counts_every_s=5), 2)
    ]
    assert [e.job_id for e in resumed if isinstance(e, Event)] == [second.id]


async def _take(iterator: Any, n: int) -> Any:
    taken = 0
    async for item in iterator:
        yield item
        taken += 1
        if taken == n:
            return


def test_state_after_each_event() -> None:
    def event(name: str, **fields: str) -> Event:
        return Event("q", "1-0", name, "j", fields)

    assert state_after(event("job:added", state="delayed")) == "delayed"
    assert state_after(event("job:retrying", delay="0")) == "waiting"
    assert state_after(event("job:retrying", delay="500")) == "delayed"
    assert state_after(event("job:cancelled", state="waiting")) == "removed"
    assert state_after(event("job:cancelled", att="1")) == "failed"
    assert state_after(event("queue:paused")) is None
