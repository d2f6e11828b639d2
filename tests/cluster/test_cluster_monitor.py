"""The operator's reads over queues on every master: counts, limits,
throughput, rates, failures and the job lists, each in one pipeline that
the cluster client splits by master."""

from __future__ import annotations

import redis.asyncio

from engine import JobContext, Queue
from engine.failures import group_failures
from engine.monitor import (
    all_queue_stats,
    queue_limits,
    recent_throughput,
    server_time_ms,
)
from engine.priorities import count_waiting_by_priority
from engine.rates import read_queues
from tests.engine.conftest import StartWorker, wait_for_state

NAMES = [f"watched-{index}" for index in range(6)]


async def test_overview_reads_cover_every_queue_on_every_master(
    redis_client: redis.asyncio.RedisCluster, start_worker: StartWorker
) -> None:
    async def work(ctx: JobContext) -> None:
        if ctx.data == "fail":
            raise RuntimeError("bad input")

    queues = [Queue(name, redis_client) for name in NAMES]
    last = []
    for queue in queues:
        await queue.add("work", "ok")
        last.append(await queue.add("work", "fail", attempts=1))
        await queue.add("work", "later", delay_ms=60_000, priority=2)
    await start_worker({"work": work}, queues=NAMES, concurrency=4)
    for queue, job in zip(queues, last, strict=True):
        await wait_for_state(queue, job.id, "failed")

    stats = await all_queue_stats(redis_client)
    assert set(stats) == set(NAMES)
    for name in NAMES:
        assert (stats[name]["completed"], stats[name]["failed"], stats[name]["delayed"]) == (
            1,
            1,
            1,
        )
    assert set(await queue_limits(redis_client, NAMES)) == set(NAMES)
    now = await server_time_ms(redis_client)
    throughput = await recent_throughput(redis_client, NAMES, now, minutes=5)
    assert all(sum(throughput[name]) == 2 for name in NAMES)
    readings, _offset = await read_queues(redis_client, dict.fromkeys(NAMES, 0))
    assert set(readings) in (set(NAMES), set())  # empty only when the minute turned
    report = await group_failures(redis_client, NAMES[0])
    assert (report.total, len(report.groups)) == (1, 1)
    assert sum((await count_waiting_by_priority(redis_client, queues[0].keys)).values()) == 0
