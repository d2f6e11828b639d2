"""The waiting state as two structures: default-priority jobs in a list, the
others (and entries queued before the list existed) in the zset. Run order,
paging and every operation on waiting jobs across both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine import FlowJob, JobNotFoundError, Queue, add_flow
from engine.contracts.base import call
from engine.contracts.reads import GetJobsReply, GetJobsRequest
from engine.contracts.worker import FetchRequest
from engine.job import Job
from engine.monitor import queue_stats
from messai_console.tui.backend import Backend
from tests.engine.conftest import StartWorker, sweep_now, wait_for_state
from tests.helpers import await_until

PRIORITY_BAND = 2**33
FIFO_BASE = 2**32


async def _plant_legacy(queue: Queue, tag: str, seq: int) -> str:
    """A default-priority job in the zset, as a queue written before the list held them."""
    job = await queue.add("record", {"tag": tag}, job_id=f"legacy-{tag}")
    assert await queue.redis.lrem(queue.keys.waiting_list, 1, job.id) == 1
    await queue.redis.zadd(queue.keys.waiting, {job.id: 5 * PRIORITY_BAND + FIFO_BASE + seq})
    return job.id


async def _add_mix(queue: Queue) -> dict[str, str]:
    """One job of every kind; returns tag -> id."""
    ids: dict[str, str] = {}

    async def add(tag: str, **options: Any) -> None:
        ids[tag] = (await queue.add("record", {"tag": tag}, **options)).id

    await add("d1")
    await add("low10", priority=10)
    ids["legacy1"] = await _plant_legacy(queue, "legacy1", 1)
    await add("high1", priority=1)
    await add("lifo-d", lifo=True)
    ids["legacy2"] = await _plant_legacy(queue, "legacy2", 2)
    await add("d2")
    await add("p4", priority=4)
    await add("p6", priority=6)
    await add("lifo-high", priority=1, lifo=True)
    await add("d3")
    return ids


MIX_ORDER = [
    "lifo-high",
    "high1",
    "p4",
    "legacy1",
    "legacy2",
    "lifo-d",
    "d1",
    "d2",
    "d3",
    "p6",
    "low10",
]
"""Run order of _add_mix: priorities 1..4 (zset), default-priority zset entries,
the list (LIFO at its head), then priorities 6+."""


async def _tags(
    queue: Queue, start: int = 0, end: int = -1, newest_first: bool = False
) -> list[str]:
    request = GetJobsRequest.page("waiting", start, end, newest_first)
    reply = GetJobsReply.parse(await call(queue.redis, queue.keys, request))
    jobs = [Job.from_hash(queue.name, job.id, job.state, job.fields) for job in reply.jobs]
    assert all(job.state == "waiting" for job in jobs)
    return [job.data["tag"] for job in jobs]


async def _fetch(queue: Queue, want: int, lease_ms: int = 60_000) -> set[str]:
    """Lease up to ``want`` jobs as a worker would; returns the tags leased."""
    before = {job.id for job in await queue.get_jobs("active", 0, -1)}
    await call(
        queue.redis, queue.keys, FetchRequest("test-worker", lease_ms, want, "test-token", want)
    )
    leased = [job for job in await queue.get_jobs("active", 0, -1) if job.id not in before]
    return {job.data["tag"] for job in leased}


async def test_default_priority_jobs_wait_in_the_list(queue: Queue) -> None:
    await queue.add_bulk([("noop", {"i": i}) for i in range(3)])
    await queue.add("noop", lifo=True)
    await queue.add("noop", priority=2)
    await queue.add("noop", priority="low", lifo=True)
    await queue.add("noop", delay_ms=60_000)
    assert await queue.redis.llen(queue.keys.waiting_list) == 4
    assert await queue.redis.zcard(queue.keys.waiting) == 2
    counts = await queue.counts()
    assert counts["waiting"] == 6 and counts["delayed"] == 1
    assert (await queue.stats())["waiting"] == 6
    assert (await queue_stats(queue.redis, [queue.name]))[queue.name]["waiting"] == 6
    job = await queue.get_job("1")
    assert job is not None and job.state == "waiting"


async def test_run_order_across_the_zset_and_the_list(queue: Queue) -> None:
    await _add_mix(queue)
    assert await _tags(queue) == MIX_ORDER
    assert await _tags(queue, newest_first=True) == MIX_ORDER[::-1]
    leased = [await _fetch(queue, 1) for _ in MIX_ORDER]
    assert leased == [{tag} for tag in MIX_ORDER]
    assert await _fetch(queue, 1) == set()


@pytest.mark.parametrize("want", [2, 3, 4, 7, 20])
async def test_batched_fetch_keeps_the_run_order(queue: Queue, want: int) -> None:
    await _add_mix(queue)
    batches = [await _fetch(queue, want) for _ in range(0, len(MIX_ORDER), want)]
    expected = [set(MIX_ORDER[i : i + want]) for i in range(0, len(MIX_ORDER), want)]
    assert batches == expected
    # lower priorities popped beyond what the list could fill went back with their scores
    assert (await queue.counts())["waiting"] == 0
    assert await queue.redis.zcard(queue.keys.waiting) == 0


async def test_lower_priorities_wait_for_the_list(queue: Queue) -> None:
    await queue.add("record", {"tag": "low"}, priority=9)
    await queue.add("record", {"tag": "d1"})
    await queue.add("record", {"tag": "low2"}, priority=9)
    await queue.add("record", {"tag": "d2"})
    assert await _fetch(queue, 3) == {"d1", "d2", "low"}
    assert await _tags(queue) == ["low2"]


async def test_add_bulk_mixes_list_and_zset_in_run_order(queue: Queue) -> None:
    await queue.add_bulk(
        [
            ("record", {"tag": "d1"}),
            ("record", {"tag": "lifo1"}, {"lifo": True}),
            ("record", {"tag": "high"}, {"priority": "high"}),
            ("record", {"tag": "d2"}),
            ("record", {"tag": "lifo2"}, {"lifo": True}),
            ("record", {"tag": "low"}, {"priority": "low"}),
        ]
    )
    assert await _tags(queue) == ["high", "lifo2", "lifo1", "d1", "d2", "low"]


async def _stall(queue: Queue, tag: str) -> None:
    """Lease the next job (it must be ``tag``) with a lease that expires at once, and
    let the sweep hand it back to the front as it does for a dead worker."""
    assert await _fetch(queue, 1, lease_ms=1) == {tag}
    # it started (as a worker's notice says): its stall counts, even for a
    # job back from a stall, which is leased reserved until it starts
    for job in await queue.get_jobs("active", 0, -1):
        await queue.redis.hset(queue.keys.job(job.id), "rsv", "0")

    async def requeued() -> bool:
        return (await sweep_now(queue))[1] == 1

    await await_until(requeued)


async def test_stalled_jobs_go_back_to_the_front_of_their_priority(queue: Queue) -> None:
    for tag in ("d1", "d2"):
        await queue.add("record", {"tag": tag})
    await queue.add("record", {"tag": "lifo"}, lifo=True)
    await queue.add("record", {"tag": "p3a"}, priority=3)
    await queue.add("record", {"tag": "p3b"}, priority=3)
    await queue.add("record", {"tag": "p7"}, priority=7)
    await _stall(queue, "p3a")
    assert await _tags(queue) == ["p3a", "p3b", "lifo", "d1", "d2", "p7"]
    # a job back from a stall runs isolated: it comes alone in its call
    assert await _fetch(queue, 2) == {"p3a"}
    assert await _fetch(queue, 1) == {"p3b"}
    await _stall(queue, "lifo")
    await _stall(queue, "lifo")
    assert await _tags(queue) == ["lifo", "d1", "d2", "p7"]
    job = await queue.get_job(await _id_of(queue, "lifo"))
    assert job is not None and job.stalls == 2
    await queue.add("record", {"tag": "d3"})
    await _stall(queue, "lifo")
    await _stall(queue, "lifo")  # a third stall is within the limit of 5
    assert await _tags(queue) == ["lifo", "d1", "d2", "d3", "p7"]


async def _id_of(queue: Queue, tag: str) -> str:
    for job in await queue.get_jobs("waiting", 0, -1):
        if job.data["tag"] == tag:
            return job.id
    raise AssertionError(f"no waiting job {tag}")


async def test_jobs_handed_back_at_shutdown_run_first(
    queue: Queue, start_worker: StartWorker
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def hold(ctx: Any) -> None:
        started.set()
        await release.wait()

    first = await queue.add("hold", {"tag": "first"})
    worker = await start_worker({"hold": hold}, concurrency=1, shutdown_grace_ms=50)
    await started.wait()
    await queue.add("hold", {"tag": "second"})
    await queue.add("hold", {"tag": "lifo"}, lifo=True)
    worker.request_stop()
    await wait_for_state(queue, first.id, "waiting")
    release.set()
    assert await _tags(queue) == ["first", "lifo", "second"]
    assert await queue.redis.llen(queue.keys.waiting_list) == 3


async def test_pages_in_both_orders_cover_the_run_order_once(queue: Queue) -> None:
    await _add_mix(queue)
    await queue.add_bulk([("record", {"tag": f"bulk{i}"}) for i in range(15)])
    await queue.add_bulk([("record", {"tag": f"p2-{i}"}, {"priority": 2}) for i in range(4)])
    order = await _tags(queue)
    assert len(order) == len(set(order)) == len(MIX_ORDER) + 19
    assert order[:2] == ["lifo-high", "high1"] and order[-2:] == ["p6", "low10"]
    for size in (1, 4, 7, 30):
        forward = [
            t for s in range(0, len(order), size) for t in await _tags(queue, s, s + size - 1)
        ]
        backward = [
            t for s in range(0, len(order), size) for t in await _tags(queue, s, s + size - 1, True)
        ]
        assert forward == order
        assert backward == order[::-1]
    assert await _tags(queue, -3, -1) == order[-3:]
    assert await _tags(queue, -3, -1, True) == order[::-1][-3:]
    assert await _tags(queue, len(order), len(order) + 5) == []
    assert await _tags(queue, 5, 2) == []
    backend = Backend("redis://unused", queue.keys.prefix)
    backend.redis = queue.redis
    backend._queues[queue.name] = queue
    total = len(order)
    page = await backend.page(queue.name, "waiting", 0, 10, total, reverse=True)
    assert [job.data["tag"] for job in page.jobs] == order[::-1][:10]
    page = await backend.page(queue.name, "waiting", 10, 10, total)
    assert [job.data["tag"] for job in page.jobs] == order[10:20]


async def test_remove_and_cancel_find_jobs_in_the_list(queue: Queue) -> None:
    ids = await _add_mix(queue)
    assert await queue.remove(ids["d2"]) == "waiting"
    assert await queue.cancel(ids["lifo-d"]) == "removed"
    assert await queue.remove(ids["legacy1"]) == "waiting"
    assert await queue.cancel(ids["p6"]) == "removed"
    gone = {"d2", "lifo-d", "legacy1", "p6"}
    assert await _tags(queue) == [tag for tag in MIX_ORDER if tag not in gone]
    for tag in gone:
        assert await queue.get_job(ids[tag]) is None
    assert await queue.redis.llen(queue.keys.waiting_list) == 2
    with pytest.raises(JobNotFoundError):
        await queue.remove(ids["d2"])


async def test_drain_empties_both_structures(queue: Queue) -> None:
    await _add_mix(queue)
    await queue.add_bulk([("record", {"tag": f"bulk{i}"}) for i in range(2100)])
    await queue.add("record", {"tag": "later"}, delay_ms=60_000)
    assert await queue.drain() == len(MIX_ORDER) + 2101
    assert await queue.counts() == dict.fromkeys(await queue.counts(), 0)
    assert not await queue.redis.exists(queue.keys.waiting, queue.keys.waiting_list)
    assert await queue.redis.keys(queue.keys.base + "job:*") == []


async def test_obliterate_removes_the_list(queue: Queue) -> None:
    await _add_mix(queue)
    await queue.add_bulk([("record", {"tag": f"bulk{i}"}) for i in range(1500)])
    await queue.obliterate()
    assert await queue.redis.keys(queue.keys.base + "*") == []


async def test_clean_waiting_pages_across_both_structures(queue: Queue) -> None:
    ids = await _add_mix(queue)
    bulk = await queue.add_bulk([("record", {"tag": f"bulk{i}"}) for i in range(2300)])
    ids.update({f"bulk{i}": job_id for i, job_id in enumerate(bulk)})
    old = {tag for i, tag in enumerate(await _tags(queue)) if i % 3 != 1}
    async with queue.redis.pipeline(transaction=False) as pipe:
        for tag in old:
            pipe.hset(queue.keys.job(ids[tag]), "ts", "1000.000")
        await pipe.execute()
    before = await _tags(queue)
    assert await queue.clean("waiting", grace_ms=3_600_000) == len(old)
    assert await _tags(queue) == [tag for tag in before if tag not in old]
    for tag in list(old)[:50]:
        assert not await queue.redis.exists(queue.keys.job(ids[tag]))
    assert await queue.clean("waiting", grace_ms=0) == len(before) - len(old)
    assert await queue.counts() == dict.fromkeys(await queue.counts(), 0)


async def test_dependents_released_into_the_list_or_the_zset(
    queue: Queue, start_worker: StartWorker
) -> None:
    await queue.add("record", {"tag": "d1"})
    parents = [
        FlowJob("test-queue", "record", {"tag": tag}, options, [FlowJob("kids", "noop")])
        for tag, options in (("parent", None), ("parent-high", {"priority": 3}))
    ]
    for parent in parents:
        await add_flow(queue.redis, parent)
    assert (await queue.counts())["pending"] == 2
    await start_worker(queues=["kids"], concurrency=2)
    await await_until(lambda: _counts_are(queue, pending=0, waiting=3))
    assert await _tags(queue) == ["parent-high", "d1", "parent"]
    assert await queue.redis.llen(queue.keys.waiting_list) == 2


async def _counts_are(queue: Queue, **expected: int) -> bool:
    counts = await queue.counts()
    return all(counts[state] == value for state, value in expected.items())


async def test_promote_and_retry_enqueue_at_the_tail(
    queue: Queue, start_worker: StartWorker
) -> None:
    delayed = await queue.add("record", {"tag": "delayed"}, delay_ms=60_000)
    failing = await queue.add("fail", {"tag": "failed"}, attempts=1)
    await start_worker(concurrency=1)
    await wait_for_state(queue, failing.id, "failed")
    await queue.pause()
    await queue.add("record", {"tag": "d1"})
    await queue.promote(delayed.id)
    await queue.retry_job(failing.id)
    assert await _tags(queue) == ["d1", "delayed", "failed"]
    assert await queue.redis.llen(queue.keys.waiting_list) == 3
