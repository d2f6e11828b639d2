"""``queue:drained``: written once each time a worker takes the last waiting
job of its queue, not on every fetch that finds the queue empty."""

from __future__ import annotations

import asyncio

import redis.asyncio

from engine import Queue
from engine.events import Event, read_events
from tests.engine.conftest import StartWorker
from tests.helpers import await_until


async def _drained(client: redis.asyncio.Redis, queue: Queue) -> list[dict[str, str]]:
    events = await client.xrange(queue.keys.events, "-", "+")
    return [fields for _id, fields in events if fields["ev"] == "queue:drained"]


async def _completed(queue: Queue, count: int) -> bool:
    return (await queue.counts())["completed"] == count


async def test_drained_once_per_emptying(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    worker = await start_worker(concurrency=2)
    await queue.add_bulk([("noop", None)] * 5)
    await await_until(lambda: _completed(queue, 5), timeout=20)
    drained = await _drained(redis_client, queue)
    assert len(drained) == 1
    assert drained[0]["w"] == worker.id
    for done in range(6, 9):  # one job at a time: each empties the queue again
        await queue.add("noop")
        await await_until(lambda done=done: _completed(queue, done), timeout=20)
    # the idle worker's fetches after each job found nothing: no event for them
    assert len(await _drained(redis_client, queue)) == 4


async def test_no_drained_while_jobs_wait(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    await queue.add_bulk([("noop", None)] * 3)
    await queue.pause()
    await start_worker()
    await queue.add("noop")
    assert await _drained(redis_client, queue) == []
    await queue.resume()
    await await_until(lambda: _completed(queue, 4), timeout=20)
    assert len(await _drained(redis_client, queue)) == 1


async def test_drained_reaches_event_readers(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    await queue.add("noop")
    await start_worker()
    await await_until(lambda: _completed(queue, 1), timeout=20)

    async def first_drained() -> Event:
        async for event in read_events(redis_client, [queue.keys], since="0", block_ms=100):
            if event.name == "queue:drained":
                return event
        raise AssertionError("the stream ended")

    event = await asyncio.wait_for(first_drained(), 10)
    assert event.job_id is None and event.queue == queue.name
