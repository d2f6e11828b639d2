"""A job that comes back from a stall runs isolated, so that only a job that
kills its worker accumulates stalls, not the jobs that ran beside it."""

from __future__ import annotations

import asyncio

import redis.asyncio

from engine import JobContext, Queue
from engine.contracts.base import call
from engine.contracts.worker import FetchReply, FetchRequest
from engine.jobhash import JobField
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until


async def _fetch(queue: Queue, want: int) -> FetchReply:
    request = FetchRequest("w", 60_000, want, "token", want)
    return FetchReply.parse(await call(queue.redis, queue.keys, request))


async def _stalled(queue: Queue, job_id: str) -> None:
    await queue.redis.hset(queue.keys.job(job_id), JobField.STALLS, "1")


async def test_a_stalled_job_first_in_line_is_leased_alone_and_reserved(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    ids = await queue.add_bulk([("noop", None)] * 4)
    await _stalled(queue, ids[0])
    reply = await _fetch(queue, 4)
    assert [job.job_id for job in reply.jobs] == [ids[0]]
    assert reply.jobs[0].stalls == 1
    # reserved whatever start_now said: its start counts once the worker says so
    assert await redis_client.hget(queue.keys.job(ids[0]), JobField.RESERVED) == "1"
    # the jobs popped with it are back, in their order
    assert [job.job_id for job in (await _fetch(queue, 4)).jobs] == ids[1:]


async def test_a_stalled_job_behind_others_waits_for_a_call_of_its_own(queue: Queue) -> None:
    ids = await queue.add_bulk([("noop", None)] * 4)
    await _stalled(queue, ids[1])
    # popped with the two around it, it goes back to the front
    assert [job.job_id for job in (await _fetch(queue, 3)).jobs] == [ids[0], ids[2]]
    assert [job.job_id for job in (await _fetch(queue, 3)).jobs] == [ids[1]]
    assert [job.job_id for job in (await _fetch(queue, 3)).jobs] == [ids[3]]


async def test_a_worker_runs_a_stalled_job_alone_and_only_once_redis_knows(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    release = asyncio.Event()
    log: list[str] = []
    seen: dict[str, object] = {}

    async def gate(ctx: JobContext) -> None:
        log.append(f"start {ctx.job_id}")
        await release.wait()
        log.append(f"end {ctx.job_id}")

    async def stalled(ctx: JobContext) -> None:
        log.append(f"start {ctx.job_id}")
        seen["running"] = worker.running_count
        seen["held"] = worker.slots.held_count
        seen["rsv"] = await redis_client.hget(queue.keys.job(ctx.job_id), JobField.RESERVED)
        log.append(f"end {ctx.job_id}")

    first = await queue.add_bulk([("gate", None)] * 3)
    worker = await start_worker({"gate": gate, "stalled": stalled}, concurrency=4, prefetch=0)
    await await_until(lambda: worker.running_count == 3, timeout=10)
    # paused while it is marked stalled: the worker with its free slot must
    # not lease it in between as a plain job
    await queue.pause()
    (alone,) = await queue.add_bulk([("stalled", None)])
    await _stalled(queue, alone)
    after = await queue.add_bulk([("gate", None)] * 2)
    await queue.resume()
    # the worker has a free slot: it leases the stalled job, which waits for
    # the jobs already running, and leases nothing more meanwhile
    await await_until(lambda: worker.slots.isolating is not None, timeout=10)
    assert (await wait_for_state(queue, after[0], "waiting")).state == "waiting"
    release.set()
    await wait_for_state(queue, alone, "completed")
    for job_id in after:
        await wait_for_state(queue, job_id, "completed")
    assert seen == {"running": 1, "held": 1, "rsv": "0"}
    start, end = log.index(f"start {alone}"), log.index(f"end {alone}")
    assert end == start + 1, log  # nothing started or ended while it ran
    assert {f"end {job_id}" for job_id in first} <= set(log[:start])
