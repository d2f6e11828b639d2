"""Retention of finished jobs: a job's own rule (``remove_on_complete`` /
``remove_on_fail``) wins over the worker's defaults, ages are honoured, and
every way of failing applies ``remove_on_fail``."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from engine import FlowJob, JobContext, Keep, Queue, add_flow
from engine.jobhash import JobField
from engine.options import parse_keep
from tests.engine.conftest import StartWorker, sweep_now, wait_for_state
from tests.helpers import await_until


async def _ids(queue: Queue, state: str) -> set[str]:
    return set(await queue.redis.zrange(queue.keys.state(state), 0, -1))


async def _all_done(queue: Queue, count: int, state: str = "completed") -> None:
    async def done() -> bool:
        counts = await queue.counts()
        return counts["waiting"] + counts["active"] + counts["delayed"] == 0 and (
            await queue.redis.xlen(queue.keys.events) > 0
        )

    await await_until(done, timeout=30)


async def test_jobs_that_keep_all_survive_the_workers_count(
    queue: Queue, start_worker: StartWorker
) -> None:
    kept = await queue.add_bulk([("noop", None, {"remove_on_complete": False})] * 60)
    worker = await start_worker(keep_completed=Keep(count=10), stall_interval_ms=50)
    await _all_done(queue, 60)
    await worker._sweeper.sweep(force=True)
    assert await _ids(queue, "completed") == set(kept)
    for job_id in kept[:3]:
        assert await queue.get_job(job_id) is not None


async def test_a_small_count_of_one_job_does_not_trim_the_others(
    queue: Queue, start_worker: StartWorker
) -> None:
    kept = await queue.add_bulk([("noop", None, {"remove_on_complete": False})] * 30)
    await start_worker(concurrency=5)
    await _all_done(queue, 30)
    few = await queue.add_bulk([("noop", None, {"remove_on_complete": 2})] * 5)
    await await_until(lambda: _count(queue, "completed", 32), timeout=20)
    completed = await _ids(queue, "completed")
    assert set(kept) <= completed
    # "2" keeps a job while it is among the 2 newest completed jobs of the queue
    assert len(completed & set(few)) == 2


async def _count(queue: Queue, state: str, expected: int) -> bool:
    """Every job ran, and ``state`` holds ``expected`` of them."""
    counts = await queue.counts()
    idle = counts["waiting"] + counts["active"] + counts["delayed"] == 0
    return idle and counts[state] == expected


async def test_a_jobs_own_count_wins_over_the_workers(
    queue: Queue, start_worker: StartWorker
) -> None:
    jobs = await queue.add_bulk([("noop", None, {"remove_on_complete": 5})] * 8)
    worker = await start_worker(keep_completed=Keep(count=2), stall_interval_ms=50)
    await await_until(lambda: _count(queue, "completed", 5), timeout=20)
    await worker._sweeper.sweep(force=True)
    assert await _ids(queue, "completed") == set(jobs[3:])
    # the deleted ones are gone with their hashes
    assert await queue.get_job(jobs[0]) is None


async def test_the_workers_count_reaches_past_a_pile_of_jobs_that_keep_all(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    # 250 keep-all jobs at the head of the set: more than one finish call's
    # trim (100) reads, so the trim goes on past them from its cursor
    kept = await queue.add_bulk([("noop", None, {"remove_on_complete": False})] * 250)
    plain = await queue.add_bulk([("noop", None, None)] * 30)
    await start_worker(keep_completed=Keep(count=10), stall_interval_ms=60_000, concurrency=4)
    await await_until(lambda: _count(queue, "completed", 260), timeout=30)
    completed = await _ids(queue, "completed")
    assert completed == set(kept) | set(plain[-10:])
    cursor = await redis_client.get(queue.keys.key("keep:completed:cursor"))
    assert cursor is not None


async def test_the_workers_count_applies_to_jobs_without_a_rule(
    queue: Queue, start_worker: StartWorker
) -> None:
    jobs = await queue.add_bulk([("tick", None, None)] * 12)

    async def tick(ctx: JobContext) -> None:
        # one at a time, 2 ms each: no two finish in the same millisecond,
        # which would leave "newest" to the ids' text order
        await asyncio.sleep(0.002)

    await start_worker(
        {"tick": tick},
        concurrency=1,
        prefetch=0,
        keep_completed=Keep(count=4),
        stall_interval_ms=50,
    )
    await await_until(lambda: _count(queue, "completed", 4), timeout=20)
    assert await _ids(queue, "completed") == set(jobs[8:])


async def test_a_jobs_own_age_is_honoured(queue: Queue, start_worker: StartWorker) -> None:
    short = await queue.add("noop", remove_on_complete=Keep(age_ms=200))
    forever = await queue.add("noop", remove_on_complete=False)
    await start_worker(stall_interval_ms=50)
    await wait_for_state(queue, forever.id, "completed")
    await await_until(lambda: _gone(queue, short.id), timeout=10)
    assert await queue.get_job(forever.id) is not None
    assert await _ids(queue, "completed") == {forever.id}


async def _gone(queue: Queue, job_id: str) -> bool:
    return not await queue.redis.exists(queue.keys.job(job_id))


async def test_the_workers_age_applies_to_jobs_without_a_rule(
    queue: Queue, start_worker: StartWorker
) -> None:
    plain = await queue.add("noop")
    kept = await queue.add("noop", remove_on_complete=False)
    failing = await queue.add("fail", remove_on_fail=Keep(count=10))
    await start_worker(
        keep_completed=Keep(age_ms=150), keep_failed=Keep(age_ms=150), stall_interval_ms=50
    )
    await wait_for_state(queue, failing.id, "failed")
    await await_until(lambda: _gone(queue, plain.id), timeout=10)
    assert await queue.get_job(kept.id) is not None
    assert await queue.get_job(failing.id) is not None


async def _stall(client: redis.asyncio.Redis, queue: Queue, job_id: str) -> None:
    """Make ``job_id`` an active job whose lease ran out, at its stall limit (5)."""
    await client.lrem(queue.keys.waiting_list, 1, job_id)
    await client.zadd(queue.keys.active, {job_id: 1})
    await client.hset(queue.keys.job(job_id), JobField.STALLS, 5)


async def test_the_stall_limit_applies_remove_on_fail(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    removed = await queue.add("noop", remove_on_fail=True)
    kept = await queue.add("noop")
    for job in (removed, kept):
        await _stall(redis_client, queue, job.id)
    _swept, _requeued, failed, _trimmed = await sweep_now(queue)
    assert failed == 2
    assert await _gone(queue, removed.id)
    assert await _ids(queue, "failed") == {kept.id}
    events = await redis_client.xrange(queue.keys.events, "-", "+")
    assert any(e[1]["ev"] == "job:failed" and e[1].get("id") == removed.id for e in events)


async def test_the_stall_limit_applies_an_age(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    aged = await queue.add("noop", remove_on_fail=Keep(age_ms=100))
    await _stall(redis_client, queue, aged.id)
    await sweep_now(queue)
    assert await _ids(queue, "failed") == {aged.id}

    async def trimmed() -> bool:
        await sweep_now(queue)
        return await _gone(queue, aged.id)

    await await_until(trimmed, timeout=10, interval=0.05)


async def test_a_corrupt_job_applies_remove_on_fail(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    corrupt = await queue.add("noop", remove_on_fail=True)
    await redis_client.hset(queue.keys.job(corrupt.id), JobField.ATTEMPTS, "x")
    after = await queue.add("noop")
    await start_worker()
    await wait_for_state(queue, after.id, "completed")
    assert await _gone(queue, corrupt.id)
    assert await _ids(queue, "failed") == set()


async def test_a_failed_dependency_applies_the_dependents_remove_on_fail(
    queue: Queue, start_worker: StartWorker
) -> None:
    jobs = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "noop",
            options={"remove_on_fail": True},
            children=[FlowJob("test-queue", "fail")],
        ),
    )
    parent, child = jobs
    await start_worker()
    await wait_for_state(queue, child.id, "failed")
    await await_until(lambda: _gone(queue, parent.id), timeout=10)
    assert await _ids(queue, "failed") == {child.id}


@pytest.mark.parametrize(
    ("text", "keep"),
    [
        ("all", Keep()),
        ("0", Keep(count=0)),
        ("1000", Keep(count=1000)),
        ("7d", Keep(age_ms=7 * 86_400_000)),
        ("1000,7d", Keep(count=1000, age_ms=7 * 86_400_000)),
        ("90m, 5", Keep(count=5, age_ms=90 * 60_000)),
        ("1500ms", Keep(age_ms=1500)),
        ("2w", Keep(age_ms=14 * 86_400_000)),
    ],
)
def test_retention_is_written_as_people_type_it(text: str, keep: Keep) -> None:
    assert parse_keep(text) == keep
    assert parse_keep(str(keep)) == keep


@pytest.mark.parametrize("text", ["", "x", "-1", "1,2", "7d,1h", "1,", "7 days", "1.5h"])
def test_a_retention_that_means_nothing_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="use all, a count"):
        parse_keep(text)
