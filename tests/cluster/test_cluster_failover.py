"""A master of the cluster SIGKILLed under a running worker and producer:
its replica takes over its slots, and both carry on without a restart.

This test builds a cluster of its own (the session's stays whole)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from engine import JobContext, Queue, Worker, connect
from engine.keys import QueueKeys
from tests.cluster.conftest import ClusterSetup, build_cluster, stop_cluster
from tests.helpers import await_until


@pytest.fixture
def own_cluster(tmp_path: Path) -> ClusterSetup:
    setup = build_cluster(tmp_path / "cluster")
    try:
        yield setup  # type: ignore[misc]
    finally:
        stop_cluster(setup)


async def _add_until_accepted(queue: Queue, data: int, deadline: float) -> str:
    """Add one job, retrying while the cluster fails over (a producer's own retry)."""
    while True:
        try:
            return (await queue.add("record", data)).id
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_a_worker_and_a_producer_follow_a_master_failover(
    own_cluster: ClusterSetup,
) -> None:
    client = connect(own_cluster.url, socket_timeout=2, socket_connect_timeout=1)
    ran: dict[int, int] = {}

    async def record(ctx: JobContext) -> None:
        ran[int(ctx.data)] = ran.get(int(ctx.data), 0) + 1

    worker = Worker("failover", client, {"record": record}, concurrency=4)
    task = asyncio.create_task(worker.run())
    try:
        queue = Queue("failover", client)
        for index in range(50):
            await queue.add("record", index)
        await await_until(lambda: len(ran) == 50, timeout=20)

        await client.initialize()
        owner = client.get_node_from_key(QueueKeys("failover").meta)
        victim = next(s for s in own_cluster.masters if s.port == owner.port)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()

        deadline = killed_at + 60
        for index in range(50, 100):
            await _add_until_accepted(queue, index, deadline)
        await await_until(lambda: len(ran) == 100, timeout=60)
        recovered_s = time.monotonic() - killed_at
        print(f"failover: jobs ran again {recovered_s:.1f} s after the master was killed")
        assert not task.done(), "the worker died"
        assert sorted(ran) == list(range(100))
        assert all(count == 1 for count in ran.values())
        counts = await queue.counts()
        assert counts["completed"] == 100 and counts["active"] == 0
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=30)
        await client.aclose()
