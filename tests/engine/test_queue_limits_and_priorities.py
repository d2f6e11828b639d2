"""Reading a queue's limits, and its waiting jobs per priority."""

from __future__ import annotations

import redis.asyncio

from engine import Queue
from engine.limits import QueueLimits, RateLimit
from engine.options import PRIORITY_BAND


async def test_limits_read_back_what_was_set(redis_client: redis.asyncio.Redis) -> None:
    queue = Queue("limited", redis_client)
    assert await queue.limits() == QueueLimits()
    await queue.set_rate_limit(10, 2000)
    await queue.set_global_concurrency(3)
    assert await queue.limits() == QueueLimits(RateLimit(10, 2000), 3)
    await queue.set_rate_limit(None)
    assert await queue.limits() == QueueLimits(None, 3)
    await queue.set_global_concurrency(None)
    assert (await queue.limits()).to_dict() == {"rate_limit": None, "global_concurrency": None}


async def test_counts_by_priority_counts_every_band_and_the_list(
    redis_client: redis.asyncio.Redis,
) -> None:
    queue = Queue("prio", redis_client)
    assert await queue.counts_by_priority() == {}
    await queue.add_bulk([("echo", None)] * 3)
    for priority, count in ((10, 4), (1, 2), (0, 1), (1_048_575, 2)):
        for _ in range(count):
            await queue.add("echo", priority=priority)
    await queue.add("echo", priority=10, lifo=True)
    await queue.add("echo", priority=3, delay_ms=60_000)  # delayed: not waiting
    # a job handed back to the front scores exactly at its band's start, and a
    # default-priority entry queued before the list existed lives in the zset
    await redis_client.zadd(queue.keys.waiting, {"handed-back": 10 * PRIORITY_BAND})
    await redis_client.zadd(queue.keys.waiting, {"old": 5 * PRIORITY_BAND + 2**32 + 1})
    assert await queue.counts_by_priority() == {0: 1, 1: 2, 5: 4, 10: 6, 1_048_575: 2}
    assert sum((await queue.counts_by_priority()).values()) == (await queue.counts())["waiting"]


async def test_monitor_reads_the_limits_of_many_queues(redis_client: redis.asyncio.Redis) -> None:
    from engine.monitor import queue_limits

    await Queue("a", redis_client).set_rate_limit(5, 1000)
    await Queue("b", redis_client).set_global_concurrency(2)
    assert await queue_limits(redis_client, ["a", "b", "c"]) == {
        "a": QueueLimits(RateLimit(5, 1000), None),
        "b": QueueLimits(None, 2),
        "c": QueueLimits(),
    }
