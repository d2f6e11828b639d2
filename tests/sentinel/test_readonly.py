"""A write answered READONLY (the server became a replica) is a connection
error on the engine's own connection: the connection is closed, so the
caller's retry connects again (under Sentinel: to the new master)."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError

from engine import connect
from engine.channel import WIRE_SWITCH, Channel
from engine.wire import MasterChanged, shared_channel
from tests.helpers import RedisFactory


@pytest.fixture
def replica_url(redis_factory: RedisFactory) -> str:
    master = redis_factory()
    replica = redis_factory(extra_args=["--replicaof", "127.0.0.1", str(master.port)])
    return replica.url


@pytest.mark.parametrize("shared", [False, True], ids=["worker", "producer"])
async def test_readonly_closes_the_connection_as_a_connection_error(
    replica_url: str, shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WIRE_SWITCH, "1")
    client = connect(replica_url, retries=0)
    try:
        channel = shared_channel(client) if shared else Channel(client)
        assert await channel.command("GET", "k") is None  # reads are fine on a replica
        with pytest.raises(MasterChanged, match="READONLY") as raised:
            await channel.run(lambda: channel.command("SET", "k", "v"))
        assert isinstance(raised.value, RedisConnectionError)
        assert not channel.connected
        # Calls pipelined behind the refused write fail with it and change nothing.
        replies = await channel.execute_all([b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"] * 2)
        assert all(isinstance(reply, MasterChanged) for reply in replies)
        await channel.close()
    finally:
        await client.aclose()


async def test_a_sentinel_pool_of_replicas_is_refused_not_dialled_at_a_default_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WIRE_SWITCH, "1")
    sentinel = Sentinel([("127.0.0.1", 1)])
    replicas = sentinel.slave_for("jobs")
    try:
        with pytest.raises(TypeError, match="master_for"):
            Channel(replicas)
    finally:
        await replicas.aclose()
        await sentinel.aclose()
