"""Deduplication and debounce: the ``dedup`` job option."""

from __future__ import annotations

import asyncio

import pytest

from engine import BulkJob, FlowJob, InvalidJobError, JobContext, Queue, add_flow
from engine.events import read_history
from engine.schedules import ScheduleSpec
from tests.engine.conftest import StartWorker, sweep_now, wait_for_state
from tests.helpers import await_until


async def _events(queue: Queue, name: str) -> list[tuple[str | None, dict[str, str]]]:
    return [
        (e.job_id, e.fields) for e in await read_history(queue.redis, queue.keys) if e.name == name
    ]


async def _key(queue: Queue, dedup_id: str) -> str | None:
    return await queue.redis.get(queue.keys.key(f"dedup:{dedup_id}"))


async def test_a_duplicate_returns_the_holder_until_it_completes(
    queue: Queue, start_worker: StartWorker
) -> None:
    first = await queue.add("echo", {"n": 1}, dedup="report-7")
    again = await queue.add("echo", {"n": 2}, dedup={"id": "report-7"})
    assert again.id == first.id and again.deduplicated and again.data == {"n": 1}
    assert not first.deduplicated
    assert (await queue.counts())["waiting"] == 1
    assert await _events(queue, "job:deduplicated") == [(first.id, {"dedup": "report-7"})]
    assert await queue.redis.hget(queue.keys.job(first.id), "dd") == "report-7"

    await start_worker()
    await wait_for_state(queue, first.id, "completed")
    assert await _key(queue, "report-7") is None  # released when it ended
    later = await queue.add("echo", {"n": 3}, dedup="report-7")
    assert later.id != first.id and not later.deduplicated


async def test_a_failed_or_removed_holder_releases_its_dedup_id(
    queue: Queue, start_worker: StartWorker
) -> None:
    doomed = await queue.add("fail", {"message": "x"}, dedup="a")
    await start_worker()
    await wait_for_state(queue, doomed.id, "failed")
    assert await _key(queue, "a") is None

    waiting = await queue.add("echo", dedup="b", delay_ms=60_000)
    assert (await queue.add("echo", dedup="b")).id == waiting.id
    await queue.remove(waiting.id)
    assert await _key(queue, "b") is None
    cancelled = await queue.add("echo", dedup="c", delay_ms=60_000)
    await queue.cancel(cancelled.id)
    drained = await queue.add("echo", dedup="d", delay_ms=60_000)
    await queue.drain()
    cleaned = await queue.add("echo", dedup="e", delay_ms=60_000)
    await queue.clean("delayed")
    for dedup_id in "cde":
        assert await _key(queue, dedup_id) is None, dedup_id
    assert not (await queue.add("echo", dedup="e", delay_ms=60_000)).deduplicated
    assert {drained.id, cleaned.id}.isdisjoint({j.id for j in await queue.get_jobs("delayed")})


async def test_a_stale_key_is_taken_over(queue: Queue) -> None:
    await queue.redis.set(queue.keys.key("dedup:old"), "no-such-job")
    job = await queue.add("echo", dedup="old")
    assert not job.deduplicated and await _key(queue, "old") == job.id


async def test_a_ttl_keeps_the_dedup_id_after_the_job_ends(
    queue: Queue, start_worker: StartWorker
) -> None:
    first = await queue.add("echo", {"n": 1}, dedup={"id": "t", "ttl_ms": 60_000})
    await start_worker()
    await wait_for_state(queue, first.id, "completed")
    again = await queue.add("echo", {"n": 2}, dedup={"id": "t", "ttl_ms": 60_000})
    assert again.deduplicated and again.id == first.id and again.state == "completed"
    await queue.remove(first.id)
    gone = await queue.add("echo", {"n": 3}, dedup={"id": "t", "ttl_ms": 60_000})
    assert gone.deduplicated and gone.id == first.id and gone.state == "removed"

    short = await queue.add("echo", dedup={"id": "s", "ttl_ms": 200})
    await wait_for_state(queue, short.id, "completed")
    await await_until(lambda: _free(queue, "s"), message="the 200 ms TTL never ran out")
    assert not (await queue.add("echo", dedup={"id": "s", "ttl_ms": 200})).deduplicated


async def _free(queue: Queue, dedup_id: str) -> bool:
    return await _key(queue, dedup_id) is None


async def test_extend_restarts_the_ttl(queue: Queue) -> None:
    option = {"id": "x", "ttl_ms": 60_000, "mode": "extend"}
    first = await queue.add("echo", dedup=option)
    key = queue.keys.key("dedup:x")
    await queue.redis.pexpire(key, 1000)
    again = await queue.add("echo", dedup=option)
    assert again.deduplicated and again.id == first.id
    assert await queue.redis.pttl(key) > 50_000
    plain = {"id": "y", "ttl_ms": 60_000}
    await queue.add("echo", dedup=plain)
    await queue.redis.pexpire(queue.keys.key("dedup:y"), 1000)
    await queue.add("echo", dedup=plain)
    assert await queue.redis.pttl(queue.keys.key("dedup:y")) <= 1000


async def test_replace_takes_the_place_of_a_waiting_job(queue: Queue) -> None:
    before = await queue.add("echo", {"n": "before"})
    old = await queue.add("echo", {"v": 1}, dedup={"id": "r", "mode": "replace"})
    after = await queue.add("echo", {"n": "after"})
    new = await queue.add("echo", {"v": 2}, dedup={"id": "r", "mode": "replace"})
    assert not new.deduplicated and new.id != old.id
    assert await queue.get_job(old.id) is None
    assert [j.id for j in await queue.get_jobs("waiting")] == [before.id, new.id, after.id]
    assert await _key(queue, "r") == new.id
    assert await _events(queue, "job:removed") == [
        (old.id, {"state": "waiting", "reason": "replaced", "by": new.id})
    ]
    # a priority of its own: its place in the zset
    hi = await queue.add("echo", {"v": 1}, priority=1, dedup={"id": "p", "mode": "replace"})
    hi2 = await queue.add("echo", {"v": 2}, priority=1, dedup={"id": "p", "mode": "replace"})
    assert (await queue.get_jobs("waiting"))[0].id == hi2.id
    assert await queue.get_job(hi.id) is None


async def test_replace_restarts_the_delay_of_a_delayed_job(
    queue: Queue, start_worker: StartWorker
) -> None:
    option = {"id": "debounce", "mode": "replace"}
    ids = [(await queue.add("echo", {"v": v}, delay_ms=300, dedup=option)).id for v in range(5)]
    assert (await queue.counts())["delayed"] == 1
    await start_worker()
    done = await wait_for_state(queue, ids[-1], "completed")
    assert done.result == {"v": 4}
    assert (await queue.counts())["completed"] == 1
    assert all([await queue.get_job(job_id) is None for job_id in ids[:-1]])


async def test_replace_keeps_a_job_that_has_started(
    queue: Queue, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    async def hold(ctx: JobContext) -> object:
        await release.wait()
        return ctx.data

    option = {"id": "busy", "mode": "replace"}
    running = await queue.add("hold", {"v": 1}, dedup=option)
    await start_worker({"hold": hold})
    await wait_for_state(queue, running.id, "active")
    again = await queue.add("hold", {"v": 2}, dedup=option)
    assert again.deduplicated and again.id == running.id
    release.set()
    await wait_for_state(queue, running.id, "completed")


async def test_bulk_adds_deduplicate_within_one_call(queue: Queue) -> None:
    ids = await queue.add_bulk(
        [
            BulkJob("echo", {"n": 1}, {"dedup": "same"}),
            BulkJob("echo", {"n": 2}),
            BulkJob("echo", {"n": 3}, {"dedup": "same"}),
            BulkJob("echo", {"n": 4}, {"dedup": {"id": "other", "mode": "replace"}}),
            BulkJob("echo", {"n": 5}, {"dedup": {"id": "other", "mode": "replace"}}),
        ]
    )
    assert ids[2] == ids[0]
    waiting = await queue.get_jobs("waiting")
    assert [j.data for j in waiting] == [{"n": 1}, {"n": 2}, {"n": 5}]


async def test_bad_dedup_options_are_refused(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="extend needs ttl_ms"):
        await queue.add("echo", dedup={"id": "x", "mode": "extend"})
    with pytest.raises(InvalidJobError, match="dedup"):
        await queue.add("echo", dedup="")
    with pytest.raises(InvalidJobError, match="dedup"):
        await queue.add("echo", dedup={"id": "x", "mode": "sometimes"})
    with pytest.raises(InvalidJobError, match="flows and chains"):
        await add_flow(queue.redis, FlowJob("test-queue", "echo", options={"dedup": "f"}))
    with pytest.raises(ValueError, match="schedules cannot use dedup"):
        ScheduleSpec(name="s", queue="q", job="echo", every_ms=1000, options={"dedup": "s"})
    assert await queue.counts() == {state: 0 for state in await queue.counts()}


async def test_a_job_failed_by_the_stall_limit_releases_its_dedup_id(queue: Queue) -> None:
    job = await queue.add("echo", dedup="stalls")
    # as if a worker had leased it and died for the fifth time
    await queue.redis.lrem(queue.keys.waiting_list, 1, job.id)
    await queue.redis.zadd(queue.keys.active, {job.id: 0})
    await queue.redis.hset(queue.keys.job(job.id), mapping={"tok": "t", "stl": 5})
    assert (await sweep_now(queue))[2] == 1  # failed
    assert (await queue.require_job(job.id)).state == "failed"
    assert await _key(queue, "stalls") is None
