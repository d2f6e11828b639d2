"""The cluster fixture and the `redis+cluster://` client: the engine's
client routes each queue to the master owning its slot."""

from __future__ import annotations

import redis.asyncio

from engine import Queue
from engine.keys import QueueKeys, queue_registry_key
from tests.cluster.conftest import ClusterSetup


def test_three_masters_with_a_replica_each_share_every_slot(redis_cluster: ClusterSetup) -> None:
    with redis_cluster.client(redis_cluster.masters[0]) as client:
        info = client.execute_command("CLUSTER", "INFO")
        nodes = str(client.execute_command("CLUSTER", "NODES")).splitlines()
    assert "cluster_state:ok" in info
    assert "cluster_slots_assigned:16384" in info
    flags = [line.split()[2] for line in nodes]
    assert sum("master" in flag for flag in flags) == 3
    assert sum("slave" in flag for flag in flags) == 3


async def test_queues_spread_over_masters_and_the_registry_lists_them(
    redis_client: redis.asyncio.RedisCluster,
) -> None:
    names = [f"spread-{index}" for index in range(12)]
    for name in names:
        await Queue(name, redis_client).add("job", {"n": 1})
    owners = {redis_client.get_node_from_key(QueueKeys(name).waiting_list).name for name in names}
    assert len(owners) == 3
    assert set(await redis_client.smembers(queue_registry_key())) == set(names)
    for name in names:
        assert (await Queue(name, redis_client).counts())["waiting"] == 1
