"""A sharded queue: jobs spread over its shards, one worker drains them all,
counts add up, a job is found by shard and id (tests/cluster runs these on
three masters too: test_cluster_sharded.py)."""

from __future__ import annotations

import pytest
import redis.asyncio
from redis.crc import key_slot

from engine import JobContext, Queue
from engine.queue import BulkJob
from engine.sharded import (
    ShardedQueue,
    ShardingError,
    expand_queue_names,
    shard_key_index,
    shard_name,
    sharded_queues,
)
from tests.engine.conftest import StartWorker
from tests.helpers import await_until


async def test_jobs_go_round_robin_and_one_worker_drains_every_shard(
    redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    hot = await ShardedQueue.create("hot", redis_client, shards=4)
    jobs = [await hot.add("record", index) for index in range(20)]
    assert [job.queue for job in jobs[:5]] == ["hot~0", "hot~1", "hot~2", "hot~3", "hot~0"]
    per_shard = await hot.shard_counts()
    assert [counts["waiting"] for counts in per_shard] == [5, 5, 5, 5]
    assert (await hot.counts())["waiting"] == 20

    ran: list[int] = []

    async def record(ctx: JobContext) -> int:
        ran.append(ctx.data)
        return int(ctx.data) + 1

    names = await expand_queue_names(redis_client, ["hot", "plain"])
    assert names == ["hot~0", "hot~1", "hot~2", "hot~3", "plain"]
    await start_worker({"record": record}, queues=names, concurrency=4)

    async def drained() -> bool:
        return (await hot.counts())["completed"] == 20

    await await_until(drained, timeout=20)
    assert sorted(ran) == list(range(20))
    counts = await hot.counts()
    assert counts["waiting"] == counts["active"] == counts["failed"] == 0
    job = await hot.get_job(jobs[7].id, shard=jobs[7].queue)
    assert job is not None and job.state == "completed" and job.result == 8


async def test_a_shard_key_keeps_related_jobs_in_one_shard_in_order(
    redis_client: redis.asyncio.Redis,
) -> None:
    hot = await ShardedQueue.create("orders", redis_client, shards=3)
    added = [await hot.add("step", index, shard_key="customer-7") for index in range(6)]
    shard = shard_key_index("customer-7", 3)
    assert {job.queue for job in added} == {hot.shard(shard).name}
    waiting = await hot.shard(shard).get_jobs("waiting", 0, -1)
    assert [job.data for job in waiting] == list(range(6))  # FIFO within the shard


async def test_custom_ids_and_dedup_ids_are_unique_over_the_whole_queue(
    redis_client: redis.asyncio.Redis,
) -> None:
    hot = await ShardedQueue.create("ids", redis_client, shards=5)
    first = await hot.add("x", 1, job_id="invoice-42")
    again = await hot.add("x", 2, job_id="invoice-42")
    assert again.queue == first.queue and again.data == 1
    found = await hot.get_job("invoice-42")  # the shard follows from the id
    assert found is not None and found.data == 1
    held = await hot.add("x", 3, dedup="mail-9")
    twice = await hot.add("x", 4, dedup="mail-9")
    assert twice.deduplicated and twice.id == held.id
    assert (await hot.counts())["waiting"] == 2
    with pytest.raises(ShardingError, match="name the shard"):
        await hot.get_job(held.id)  # a generated id: every shard has one like it


async def test_bulk_add_spreads_and_returns_shard_and_id_in_order(
    redis_client: redis.asyncio.Redis,
) -> None:
    hot = await ShardedQueue.create("bulk", redis_client, shards=3)
    placed = await hot.add_bulk([BulkJob("n", index) for index in range(9)] + [("n", 9)])
    assert [name for name, _id in placed[:4]] == ["bulk~0", "bulk~1", "bulk~2", "bulk~0"]
    for index, (name, job_id) in enumerate(placed):
        job = await hot.get_job(job_id, shard=name)
        assert job is not None and job.data == index
    assert (await hot.counts())["waiting"] == 10
    assert [c["waiting"] for c in await hot.shard_counts()] == [4, 3, 3]


def test_shard_names_spread_over_equal_slot_ranges() -> None:
    for shards in (1, 2, 3, 6, 256):
        names = [shard_name("hot", index, shards) for index in range(shards)]
        slots = [key_slot(name.encode()) for name in names]
        assert [slot * shards // 16384 for slot in slots] == list(range(shards))
        assert names == [shard_name("hot", index, shards) for index in range(shards)]
    assert shard_name("hot", 0, 3) == "hot~0"


async def test_the_shard_count_is_recorded_once_and_checked(
    redis_client: redis.asyncio.Redis,
) -> None:
    await ShardedQueue.create("fixed", redis_client, shards=4)
    again = await ShardedQueue.create("fixed", redis_client, shards=4)
    assert [q.name for q in again.shards] == ["fixed~0-4", "fixed~1-2", "fixed~2-4", "fixed~3-2"]
    with pytest.raises(ShardingError, match="has 4 shards, not 2"):
        await ShardedQueue.create("fixed", redis_client, shards=2)
    opened = await ShardedQueue.open("fixed", redis_client)
    assert len(opened.shards) == 4
    assert await sharded_queues(redis_client) == {"fixed": 4}
    assert await Queue("fixed~3-2", redis_client).exists()  # listed for workers and the console
    with pytest.raises(ShardingError, match="no sharded queue"):
        await ShardedQueue.open("nothing", redis_client)
    with pytest.raises(ShardingError, match="names the shards"):
        await ShardedQueue.create("a~b", redis_client, shards=2)
    with pytest.raises(ShardingError, match="shards must be"):
        await ShardedQueue.create("zero", redis_client, shards=0)


async def test_a_worker_given_a_sharded_name_says_it_serves_no_shard(
    redis_client: redis.asyncio.Redis,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await ShardedQueue.create("hot", redis_client, shards=2)
    worker = await start_worker(queues=["hot", "plain"])

    def warned() -> bool:
        return any("is a sharded queue of 2 shards" in r.getMessage() for r in caplog.records)

    await await_until(warned, timeout=10)
    assert worker.queue_names == ["hot", "plain"]


async def test_pause_and_resume_reach_every_shard(redis_client: redis.asyncio.Redis) -> None:
    hot = await ShardedQueue.create("paused", redis_client, shards=3)
    await hot.pause()
    assert [await queue.is_paused() for queue in hot.shards] == [True, True, True]
    await hot.resume()
    assert [await queue.is_paused() for queue in hot.shards] == [False, False, False]
