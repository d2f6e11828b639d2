"""Changing a job that has not started: its priority, its delay, its data."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine import InvalidJobError, InvalidStateError, JobContext, JobNotFoundError, Queue
from engine.events import read_history
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until


async def _no_marker(queue: Queue) -> bool:
    return await queue.redis.zcard(queue.keys.marker) == 0


async def _ids(queue: Queue) -> list[str]:
    return [job.id for job in await queue.get_jobs("waiting", 0, -1)]


async def test_change_priority_moves_a_waiting_job_and_says_so(queue: Queue) -> None:
    first = await queue.add("echo", {"n": 1})
    second = await queue.add("echo", {"n": 2})
    third = await queue.add("echo", {"n": 3}, priority="low")
    assert await _ids(queue) == [first.id, second.id, third.id]

    assert await queue.change_priority(third.id, "high") == "waiting"
    assert await _ids(queue) == [third.id, first.id, second.id]
    assert await queue.change_priority(first.id, 10) == "waiting"
    assert await _ids(queue) == [third.id, second.id, first.id]
    assert await queue.change_priority(first.id, 5) == "waiting"  # back to the default
    assert await _ids(queue) == [third.id, second.id, first.id]
    assert (await queue.require_job(third.id)).options.priority == 1
    assert (await queue.require_job(first.id)).options.priority == 5
    assert await queue.counts_by_priority() == {1: 1, 5: 2}

    events = [e for e in await read_history(queue.redis, queue.keys) if e.name == "job:changed"]
    assert (events[0].job_id, events[0].fields) == (
        third.id,
        {"change": "priority", "priority": "1", "state": "waiting"},
    )


async def test_change_priority_of_a_delayed_job_applies_when_it_is_due(queue: Queue) -> None:
    plain = await queue.add("echo", {"n": 1})
    later = await queue.add("echo", {"n": 2}, delay_ms=60_000)
    assert await queue.change_priority(later.id, 0) == "delayed"
    await queue.promote(later.id)
    assert await _ids(queue) == [later.id, plain.id]


async def test_change_delay_moves_between_waiting_and_delayed(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("echo", {"n": 1})
    assert await queue.change_delay(job.id, 60_000) == "delayed"
    assert (await queue.counts())["delayed"] == 1
    due = await queue.redis.zscore(queue.keys.delayed, job.id)
    assert due is not None and due > time.time() * 1000 + 50_000

    assert await queue.change_delay(job.id, 0) == "waiting"
    assert await _ids(queue) == [job.id]

    late = await queue.add("echo", {"n": 2}, delay_ms=3_600_000)
    await start_worker()  # idle: it took the wake-up marker and waits for a job due in an hour
    await await_until(lambda: _no_marker(queue), message="the worker never took the marker")
    started = time.monotonic()
    assert await queue.change_delay(late.id, 50) == "delayed"
    await wait_for_state(queue, late.id, "completed", timeout=10)
    # woken for the new due time, not at its next idle recheck (2 s after it blocked)
    assert time.monotonic() - started < 1.5


async def test_update_data_replaces_the_payload_the_processor_sees(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("echo", {"version": 1}, delay_ms=60_000)
    assert await queue.update_data(job.id, {"version": 2, "note": "ünïcode"}) == "delayed"
    assert (await queue.require_job(job.id)).data == {"version": 2, "note": "ünïcode"}
    await queue.promote(job.id)
    await start_worker()
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == {"version": 2, "note": "ünïcode"}


async def test_started_finished_and_unknown_jobs_are_refused_and_unchanged(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def hold(ctx: JobContext) -> str:
        await release.wait()
        return "done"

    running = await queue.add("hold", {"n": 1})
    await start_worker({"hold": hold})
    await wait_for_state(queue, running.id, "active")
    for change in (
        queue.change_priority(running.id, 1),
        queue.change_delay(running.id, 1000),
        queue.update_data(running.id, {"n": 2}),
    ):
        with pytest.raises(InvalidStateError, match="it is active, not waiting or delayed"):
            await change
    release.set()
    done = await wait_for_state(queue, running.id, "completed")
    assert done.data == {"n": 1} and done.options.priority == 5

    with pytest.raises(InvalidStateError, match="it is completed, not waiting or delayed"):
        await queue.update_data(running.id, {"n": 3})
    failed = await queue.add("fail", {"message": "x"})
    await wait_for_state(queue, failed.id, "failed")
    with pytest.raises(InvalidStateError, match="it is failed"):
        await queue.change_delay(failed.id, 10)
    with pytest.raises(JobNotFoundError):
        await queue.change_priority("no-such-job", 1)


async def test_bad_values_are_refused_before_redis(queue: Queue) -> None:
    job = await queue.add("echo", {"n": 1})
    with pytest.raises(InvalidJobError, match="priority"):
        await queue.change_priority(job.id, -1)
    with pytest.raises(InvalidJobError, match="priority"):
        await queue.change_priority(job.id, "urgent")
    with pytest.raises(InvalidJobError, match="delay_ms"):
        await queue.change_delay(job.id, -5)
    with pytest.raises(InvalidJobError):
        await queue.update_data(job.id, {1, 2})  # not JSON
    assert (await queue.require_job(job.id)).data == {"n": 1}
