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

        async def all_completed() -> bool:
            return (await queue.counts())["completed"] == 100

        await await_until(all_completed, timeout=30)
        assert (await queue.counts())["active"] == 0
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=30)
        await client.aclose()


def _migrate_slot(setup: ClusterSetup, slot: int, source_port: int, target_port: int) -> int:
    """Move `slot` from one master to another as `redis-cli --cluster reshard`
    does (IMPORTING / MIGRATING, MIGRATE key by key, SETSLOT NODE): clients
    meanwhile get ASK and TRYAGAIN, then MOVED. Returns the keys moved."""
    source = next(s for s in setup.nodes if s.port == source_port)
    target = next(s for s in setup.nodes if s.port == target_port)
    with setup.client(source) as src, setup.client(target) as dst:
        source_id, target_id = (
            src.execute_command("CLUSTER", "MYID"),
            dst.execute_command("CLUSTER", "MYID"),
        )
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        moved = 0
        while True:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
            if not keys:
                break
            src.execute_command("MIGRATE", "127.0.0.1", target_port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
        for node in (dst, src):
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    return moved


async def test_a_queue_moved_to_another_master_keeps_running(own_cluster: ClusterSetup) -> None:
    client = connect(own_cluster.url)
    ran: dict[int, int] = {}

    async def record(ctx: JobContext) -> None:
        ran[int(ctx.data)] = ran.get(int(ctx.data), 0) + 1
        await asyncio.sleep(0.01)

    worker = Worker("moving", client, {"record": record}, concurrency=4)
    task = asyncio.create_task(worker.run())
    try:
        queue = Queue("moving", client)
        await queue.add_bulk([("record", index) for index in range(300)])
        await client.initialize()
        keys = QueueKeys("moving")
        slot = client.keyslot(keys.meta)
        source = client.get_node_from_key(keys.meta)
        target_port = next(port for port in own_cluster.master_ports() if port != source.port)
        assert source.port is not None
        moved = await asyncio.to_thread(
            _migrate_slot, own_cluster, slot, int(source.port), target_port
        )
        assert moved > 0
        assert len(ran) < 300, "the slot moved while the worker had jobs left"
        deadline = time.monotonic() + 30
        for index in range(300, 400):
            await _add_until_accepted(queue, index, deadline)
        await await_until(lambda: len(ran) == 400, timeout=60)
        assert not task.done(), "the worker died"
        assert all(count == 1 for count in ran.values())
        assert client.get_node_from_key(keys.meta).port == target_port

        async def all_completed() -> bool:
            return (await queue.counts())["completed"] == 400

        await await_until(all_completed, timeout=30)
        assert (await queue.counts())["active"] == 0
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=30)
        await client.aclose()
