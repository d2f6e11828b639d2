"""What spans queues, on the cluster: a worker of queues on three masters,
events followed across them, the worker registry, and a large flow in one
queue (chains and flows across queues: test_cluster_outbox.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest
import redis.asyncio

from engine import FlowJob, JobContext, Queue, add_flow
from engine.events import read_events
from engine.keys import QueueKeys
from engine.monitor import list_workers
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until

QUEUES = [f"spread-{index}" for index in range(6)]


def _ran_all(ran: list[Any], count: int) -> bool:
    return len(ran) == count


async def _masters(client: redis.asyncio.RedisCluster, names: list[str]) -> set[str]:
    await client.initialize()  # reads the slot map
    return {client.get_node_from_key(QueueKeys(name).meta).name for name in names}


async def test_one_worker_serves_queues_on_every_master_and_wakes_for_each(
    redis_client: redis.asyncio.RedisCluster,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert len(await _masters(redis_client, QUEUES)) == 3
    ran: list[tuple[str, int]] = []

    async def record(ctx: JobContext) -> int:
        ran.append((ctx.queue, ctx.data))
        return int(ctx.data) * 2

    worker = await start_worker({"record": record}, queues=QUEUES, concurrency=4)

    # The worker is idle (blocked on the markers) before the jobs come: each
    # queue's add must wake it, wherever the queue lives.
    async def registered() -> bool:
        return [info.id for info in await list_workers(redis_client)] == [worker.id]

    await await_until(registered, timeout=10)
    queues = [Queue(name, redis_client) for name in QUEUES]
    jobs = []
    for round_ in range(3):
        for index, queue in enumerate(queues):
            jobs.append((queue, await queue.add("record", round_ * 10 + index)))
        await await_until(functools.partial(_ran_all, ran, len(jobs)), timeout=20)
    for queue, job in jobs:
        done = await wait_for_state(queue, job.id, "completed")
        assert done.result == job.data * 2
    assert sorted(value for _queue, value in ran) == sorted(job.data for _q, job in jobs)
    # No wait, beat or exchange failed (a wait on markers of several slots would: CROSSSLOT).
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []


async def test_events_of_queues_on_different_masters_are_followed_together(
    redis_client: redis.asyncio.RedisCluster,
) -> None:
    queues = [Queue(name, redis_client) for name in QUEUES[:3]]
    assert len(await _masters(redis_client, QUEUES[:3])) > 1
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        async for event in read_events(redis_client, [q.keys for q in queues], "0", 200):
            seen.append((event.queue, event.name))
            if len(seen) == 3:
                return

    reader = asyncio.create_task(follow())
    for queue in queues:
        await queue.add("noop")
    await asyncio.wait_for(reader, timeout=20)
    assert sorted(seen) == sorted((q.name, "job:added") for q in queues)


async def test_a_flow_of_500_children_in_one_queue_runs_its_parent_once(
    redis_client: redis.asyncio.RedisCluster, start_worker: StartWorker
) -> None:
    runs: list[Any] = []

    async def child(ctx: JobContext) -> int:
        return int(ctx.data)

    async def parent(ctx: JobContext) -> int:
        runs.append(ctx.dependency_results)
        return sum(ctx.dependency_results.values())

    jobs = await add_flow(
        redis_client,
        FlowJob("flows", "parent", children=[FlowJob("flows", "child", i) for i in range(500)]),
    )
    await start_worker({"child": child, "parent": parent}, queues="flows", concurrency=20)
    done = await wait_for_state(Queue("flows", redis_client), jobs[0].id, "completed", 60)
    assert done.result == sum(range(500))
    assert len(runs) == 1
