"""A sharded queue on the three-master cluster: the shards' keys sit in
different slots and spread over the masters, and the tests of
``tests/engine/test_sharded.py`` (spread, one worker draining every shard,
counts, a job found by id) run here unchanged."""

from __future__ import annotations

import redis.asyncio
from redis.crc import key_slot

from engine import JobContext
from engine.sharded import ShardedQueue, expand_queue_names
from tests.engine.conftest import StartWorker
from tests.engine.test_sharded import *  # noqa: F403
from tests.helpers import await_until


async def test_shards_sit_in_different_slots_on_every_master(
    redis_client: redis.asyncio.RedisCluster, start_worker: StartWorker
) -> None:
    hot = await ShardedQueue.create("hot", redis_client, shards=6)
    metas = [queue.keys.meta for queue in hot.shards]
    assert len({key_slot(meta.encode()) for meta in metas}) == 6
    await redis_client.initialize()  # reads the slot map
    masters = [redis_client.get_node_from_key(meta).name for meta in metas]
    # the fixture deals the slots in equal thirds: two shards on each master
    assert sorted(masters.count(master) for master in set(masters)) == [2, 2, 2]

    jobs = [await hot.add("double", index) for index in range(60)]
    for queue in hot.shards:  # each shard's jobs are on its own master
        node = redis_client.get_node_from_key(queue.keys.meta)
        with redis.Redis(host=node.host, port=node.port, decode_responses=True) as direct:
            assert direct.llen(queue.keys.waiting_list) == 10

    async def double(ctx: JobContext) -> int:
        return int(ctx.data) * 2

    await start_worker(
        {"double": double}, queues=await expand_queue_names(redis_client, ["hot"]), concurrency=8
    )

    async def drained() -> bool:
        return (await hot.counts())["completed"] == 60

    await await_until(drained, timeout=30)
    for job in jobs[::7]:
        found = await hot.get_job(job.id, shard=job.queue)
        assert found is not None and found.result == job.data * 2
