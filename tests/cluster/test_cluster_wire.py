"""Script calls on a cluster go over the engine's own connection, one per
master, and follow a queue whose slot moved to another master."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine import Queue, connect
from engine.channel import Channel, shared_channel
from engine.cluster_wire import ClusterWireChannel, SharedClusterWireChannel
from engine.keys import QueueKeys
from engine.plain_channel import ClusterChannel
from tests.cluster.conftest import ClusterSetup
from tests.cluster.test_cluster_failover import _migrate_slot, own_cluster

__all__ = ["own_cluster"]

NAMES = [f"wired-{index}" for index in range(6)]


async def test_each_master_gets_a_wire_and_the_calls_land(redis_url: str) -> None:
    client: Any = connect(redis_url, decode_responses=True)
    try:
        queues = [Queue(name, client) for name in NAMES]
        for queue in queues:
            await queue.add("noop", {"queue": queue.name})
        await client.initialize()
        masters = {client.get_node_from_key(QueueKeys(name).meta).name for name in NAMES}
        assert len(masters) == 3
        channel: Any = shared_channel(client)
        assert isinstance(channel, SharedClusterWireChannel)
        assert set(channel._wires) == masters
        assert isinstance(Channel(client), ClusterWireChannel)
        for queue in queues:
            assert (await queue.counts())["waiting"] == 1
    finally:
        await client.aclose()


async def test_messai_wire_0_keeps_redis_py(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAI_WIRE", "0")
    client: Any = connect(redis_url)
    try:
        channel = Channel(client)
        assert type(channel) is ClusterChannel
    finally:
        await client.aclose()


async def test_an_add_after_the_queue_moved_reaches_the_new_master(
    own_cluster: ClusterSetup,
) -> None:
    client: Any = connect(own_cluster.url, decode_responses=True)
    try:
        queue = Queue("moving", client)
        await queue.add("noop", 1)
        keys = QueueKeys("moving")
        source = client.get_node_from_key(keys.meta)
        target_port = next(port for port in own_cluster.master_ports() if port != source.port)
        await asyncio.to_thread(
            _migrate_slot, own_cluster, client.keyslot(keys.meta), int(source.port), target_port
        )
        await queue.add("noop", 2)  # MOVED on the old master's wire: sent again, then followed
        await queue.add("noop", 3)  # over the new master's wire
        assert client.get_node_from_key(keys.meta).port == target_port
        assert f"127.0.0.1:{target_port}" in shared_channel(client)._wires  # type: ignore[attr-defined]
        assert (await queue.counts())["waiting"] == 3
    finally:
        await client.aclose()
