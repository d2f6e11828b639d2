"""A job whose stored data is corrupt fails alone, with "corrupt job: <what>";
every other job of the same script call goes on, and no script half-applies."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from engine import InvalidStateError, JobContext, Queue
from engine.jobhash import JobField
from tests.engine.conftest import StartWorker, sweep_now, wait_for_state

DAMAGE = {
    "wrong type": "its key holds a string, not a hash",
    "bad attempts": f"field {JobField.ATTEMPTS} is not an integer: x",
    "no name": f"no name (field {JobField.NAME})",
    "bad logs": "its log key holds a hash, not a list",
}


async def _corrupt(client: redis.asyncio.Redis, queue: Queue, job_id: str, damage: str) -> None:
    key = queue.keys.job(job_id)
    if damage == "wrong type":
        await client.delete(key)
        await client.set(key, "not a hash")
    elif damage == "bad attempts":
        await client.hset(key, JobField.ATTEMPTS, "x")
    elif damage == "no name":
        await client.hdel(key, JobField.NAME)
    else:
        await client.hset(queue.keys.logs(job_id), "f", "v")


async def _wait_for(queue: Queue, job_ids: list[str], state: str) -> None:
    for job_id in job_ids:
        await wait_for_state(queue, job_id, state, timeout=20)


async def _states(client: redis.asyncio.Redis, queue: Queue, job_id: str) -> list[str]:
    """The state sets holding ``job_id`` (a sound job is in exactly one)."""
    found = [
        state
        for state in ("waiting", "active", "delayed", "completed", "failed", "pending")
        if await client.zscore(queue.keys.state(state), job_id) is not None
    ]
    if await client.lpos(queue.keys.waiting_list, job_id) is not None:
        found.append("waiting")
    return found


async def test_fetch_fails_corrupt_jobs_and_leases_the_others(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    jobs = [await queue.add("echo", {"i": i}) for i in range(12)]
    corrupt = {jobs[2 * k + 1].id: damage for k, damage in enumerate(DAMAGE)}
    delayed = await queue.add("echo", {"late": True}, delay_ms=1)
    corrupt[delayed.id] = "wrong type"
    for job_id, damage in corrupt.items():
        await _corrupt(redis_client, queue, job_id, damage)
    events_before = await redis_client.xlen(queue.keys.events)
    await start_worker(concurrency=20)  # one fetch takes them all
    healthy = [job.id for job in jobs if job.id not in corrupt]
    await _wait_for(queue, healthy, "completed")
    for job_id, damage in corrupt.items():
        job = await wait_for_state(queue, job_id, "failed")
        assert job.error == f"corrupt job: {DAMAGE[damage]}"
        assert await _states(redis_client, queue, job_id) == ["failed"]
    events = await redis_client.xrange(queue.keys.events, "-", "+")
    failed = {e[1]["id"] for e in events[events_before:] if e[1]["ev"] == "job:failed"}
    assert failed == set(corrupt)
    # the worker is still serving
    after = await queue.add("echo", {"after": True})
    await wait_for_state(queue, after.id, "completed")


async def test_finish_fails_a_job_corrupted_while_it_ran(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    gate = asyncio.Event()

    async def corrupting(ctx: JobContext) -> str:
        await _corrupt(redis_client, queue, ctx.job_id, ctx.data["damage"])
        return "done"

    async def waiting(ctx: JobContext) -> str:
        await gate.wait()
        return "done"

    bad = await queue.add("corrupting", {"damage": "wrong type"})
    logs = await queue.add("corrupting", {"damage": "bad logs"})
    good = await queue.add("waiting")
    await start_worker({"corrupting": corrupting, "waiting": waiting}, concurrency=3)
    await _wait_for(queue, [bad.id, logs.id], "failed")
    gate.set()
    await wait_for_state(queue, good.id, "completed")
    assert (await queue.require_job(bad.id)).error == f"corrupt job: {DAMAGE['wrong type']}"
    for job_id in (bad.id, logs.id, good.id):
        assert len(await _states(redis_client, queue, job_id)) == 1


async def test_sweep_fails_a_corrupt_stalled_job(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    for job_id, damage in (("a", "wrong type"), ("b", "bad attempts"), ("c", None)):
        await queue.add("echo", job_id=job_id)
        await redis_client.lrem(queue.keys.waiting_list, 1, job_id)
        await redis_client.zadd(queue.keys.active, {job_id: 1})  # lease long expired
        if damage:
            await _corrupt(redis_client, queue, job_id, damage)
    swept, requeued, failed, _ = await sweep_now(queue)
    assert (swept, requeued, failed) == (1, 1, 2)
    assert await _states(redis_client, queue, "a") == ["failed"]
    assert await _states(redis_client, queue, "b") == ["failed"]
    assert await _states(redis_client, queue, "c") == ["waiting"]


async def test_admin_scripts_meet_corrupt_jobs_without_half_applying(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    late = await queue.add("echo", delay_ms=60_000)
    await _corrupt(redis_client, queue, late.id, "wrong type")
    with pytest.raises(InvalidStateError, match="corrupt job: its key holds a string"):
        await queue.promote(late.id)
    assert await _states(redis_client, queue, late.id) == ["failed"]
    # retrying it leaves it failed, and a retry of every failed job ends
    await _corrupt(redis_client, queue, late.id, "bad logs")
    with pytest.raises(InvalidStateError, match="corrupt job: its log key"):
        await queue.retry_job(late.id)
    assert await queue.retry_failed() == 0
    assert await _states(redis_client, queue, late.id) == ["failed"]
    listed = await queue.get_jobs("failed")
    assert [job.error for job in listed] == [f"corrupt job: {DAMAGE['bad logs']}"]
    # reads report corrupt jobs instead of failing
    waiting = await queue.add("echo", {"v": 1})
    await _corrupt(redis_client, queue, waiting.id, "bad attempts")
    job = await queue.require_job(waiting.id)
    assert job.state == "waiting" and job.error == f"corrupt job: {DAMAGE['bad attempts']}"
    other = await queue.add("echo")
    await _corrupt(redis_client, queue, other.id, "wrong type")
    assert [j.id for j in await queue.get_jobs("waiting")] == [waiting.id, other.id]
    # and operators can remove or cancel them
    assert await queue.remove(other.id) == "waiting"
    assert await queue.cancel(waiting.id) == "removed"
    assert await redis_client.exists(queue.keys.job(other.id), queue.keys.job(waiting.id)) == 0
