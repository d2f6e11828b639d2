"""Waiting jobs per priority, read without walking the waiting state.

Waiting jobs of the default priority sit in a list (its length is their
count); the others sit in a zset scored ``priority * PRIORITY_BAND +
FIFO_BASE +/- seq`` (a job handed back to the front scores exactly
``priority * PRIORITY_BAND``), so each priority owns one band of scores.
One round trip per priority present: it counts the band just found
(ZCOUNT, O(log n)) and finds the lowest score above it (ZRANGEBYSCORE
LIMIT 0 1, O(log n)), so a zset of a million jobs costs what three
priorities cost.
"""

from __future__ import annotations

from redis.asyncio import Redis

from engine.keys import QueueKeys
from engine.options import DEFAULT_PRIORITY, PRIORITY_BAND


async def count_waiting_by_priority(redis: Redis, keys: QueueKeys) -> dict[int, int]:
    """Waiting jobs per priority, lowest priority number (first to run) first;
    priorities without waiting jobs are left out."""
    counts: dict[int, int] = {}
    async with redis.pipeline(transaction=False) as pipe:
        pipe.llen(keys.waiting_list)
        pipe.zrangebyscore(keys.waiting, "-inf", "+inf", start=0, num=1, withscores=True)
        in_list, lowest = await pipe.execute()
    if int(in_list):
        counts[DEFAULT_PRIORITY] = int(in_list)
    while lowest:
        priority = int(lowest[0][1]) // PRIORITY_BAND
        upper = (priority + 1) * PRIORITY_BAND
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcount(keys.waiting, priority * PRIORITY_BAND, f"({upper}")
            pipe.zrangebyscore(keys.waiting, upper, "+inf", start=0, num=1, withscores=True)
            in_band, lowest = await pipe.execute()
        if int(in_band):
            counts[priority] = counts.get(priority, 0) + int(in_band)
    return dict(sorted(counts.items()))
