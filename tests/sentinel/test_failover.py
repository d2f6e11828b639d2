"""SIGKILL the master under load: producers adding, workers running.

Measured and asserted: the time from the kill until jobs complete again on
the new master, that no job is in two states, and the jobs lost: none when
adds wait for the replica (``replicas=1``); without that, counted and
printed (asynchronous replication may drop the last writes).

With one replica, the promoted master has no replica left: adds that wait
for one fail until the old master is back. So, as a supervisor would, the
test restarts the killed server as a replica of the new master once the
sentinels have promoted it, and also reports when adds were acknowledged again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from typing import Any

import pytest
import redis.asyncio

from engine import Queue, Worker, connect
from engine.context import JobContext
from engine.keys import STATES
from tests.helpers import await_until
from tests.sentinel.conftest import SentinelSetup

pytestmark = pytest.mark.slow

PRODUCERS = 2
WORKERS = 2
BEFORE_KILL = 200
"""Jobs completed before the master is killed."""


async def _states(client: redis.asyncio.Redis, queue: Queue, job_ids: list[str]) -> list[int]:
    """For each job, the number of state sets (and the waiting list) holding it."""
    async with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            for state in STATES:
                pipe.zscore(queue.keys.state(state), job_id)
            pipe.lpos(queue.keys.waiting_list, job_id)
        replies = await pipe.execute()
    width = len(STATES) + 1
    return [
        sum(reply is not None for reply in replies[i * width : (i + 1) * width])
        for i in range(len(job_ids))
    ]


@pytest.mark.parametrize("replicas", [1, 0], ids=["wait-for-replica", "async-replication"])
async def test_sigkill_of_the_master_under_load(
    sentinel_setup: SentinelSetup, replicas: int, record_property: Any
) -> None:
    producer_client = connect(sentinel_setup.url)
    worker_clients = [connect(sentinel_setup.url) for _ in range(WORKERS)]
    queue = Queue("q", producer_client, replicas=replicas, replica_timeout_ms=1000)
    acked_at: dict[str, float] = {}
    first_tried: dict[str, float] = {}
    failed_adds = 0
    runs: defaultdict[str, list[float]] = defaultdict(list)
    producing = True

    async def work(ctx: JobContext) -> None:
        runs[ctx.job_id].append(time.monotonic())

    async def produce(name: str) -> None:
        nonlocal failed_adds
        for n in itertools.count():
            if not producing:
                return
            job_id = f"{name}-{n}"
            first_tried[job_id] = time.monotonic()
            while True:  # the same id again after a failure: an add is idempotent by id
                try:
                    await queue.add("echo", {"n": n}, job_id=job_id)
                    acked_at[job_id] = time.monotonic()
                    break
                except Exception:
                    failed_adds += 1
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.005)  # a steady rate, not a flood

    workers = [
        Worker("q", client, {"echo": work}, concurrency=4, lease_ms=5000, shutdown_grace_ms=2000)
        for client in worker_clients
    ]
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    producers = [asyncio.create_task(produce(f"p{i}")) for i in range(PRODUCERS)]
    try:
        await await_until(lambda: len(runs) >= BEFORE_KILL, timeout=20)
        async with redis.asyncio.Redis(
            port=sentinel_setup.replica.port, decode_responses=True, socket_timeout=2
        ) as promoted:
            completed_before = await promoted.zcard(queue.keys.state("completed"))
            killed = time.monotonic()
            sentinel_setup.kill_master()
            old_port = sentinel_setup.master.port
            await await_until(
                lambda: sentinel_setup.master_port() not in (None, old_port),
                timeout=25,
                interval=0.05,
                message="the sentinels promoted no replica",
            )
            promoted_after = time.monotonic() - killed
            new_port = sentinel_setup.master_port()
            assert new_port == sentinel_setup.replica.port
            sentinel_setup.restart_old_master_as_replica_of(new_port)

            async def completing() -> bool:
                completed = await promoted.zcard(queue.keys.state("completed"))
                return bool(completed > completed_before)

            await await_until(completing, timeout=25, interval=0.02, message="no job completed")
            recovery = time.monotonic() - killed

        def acked_since_kill() -> list[float]:
            return [at for job_id, at in list(acked_at.items()) if first_tried[job_id] > killed]

        await await_until(
            lambda: bool(acked_since_kill()),
            timeout=25,
            interval=0.02,
            message="no add acknowledged after the failover",
        )
        adds_back = min(acked_since_kill()) - killed
        await await_until(lambda: time.monotonic() > killed + adds_back + 1.0, timeout=5)
        producing = False
        await asyncio.wait_for(asyncio.gather(*producers), 10)

        async with redis.asyncio.Redis(port=new_port, decode_responses=True) as master:

            async def settled() -> bool:
                counts = await queue.counts()
                return counts["waiting"] + counts["active"] + counts["delayed"] == 0

            await await_until(settled, timeout=20, interval=0.1, message="jobs left unfinished")
            acked = sorted(acked_at)
            in_states = await _states(master, queue, acked)
            assert max(in_states) <= 1, "a job in two states"
            never_ran = [job_id for job_id in acked if job_id not in runs]
            records_lost = sum(1 for count in in_states if count == 0)
            ran_twice = sum(1 for times in runs.values() if len(times) > 1)
    finally:
        producing = False
        for producer in producers:
            producer.cancel()
        for worker in workers:
            worker.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
        for client in [producer_client, *worker_clients]:
            await client.aclose()

    figures = {
        "replicas": replicas,
        "jobs_acknowledged": len(acked),
        "seconds_until_promoted": round(promoted_after, 2),
        "seconds_until_jobs_complete_again": round(recovery, 2),
        "seconds_until_adds_acknowledged_again": round(adds_back, 2),
        "adds_failed_and_retried": failed_adds,
        "jobs_lost_never_ran": len(never_ran),
        "job_records_lost": records_lost,
        "jobs_run_twice": ran_twice,
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\nsentinel failover: {figures}")
    assert recovery < 20
    if replicas:
        assert never_ran == []
        assert records_lost == 0
