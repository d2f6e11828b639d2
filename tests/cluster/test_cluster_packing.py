"""The cluster client's connections pack requests with hiredis: the same
bytes as redis-py's packing, redis-py's errors for what it refuses, and
every node of a real cluster uses them."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import DataError

from engine import connect
from engine.cluster import _Connection
from tests.cluster.conftest import ClusterSetup

ARGS: list[tuple[Any, ...]] = [
    ("FCALL", "finish", 2, "messai:{q}:active", b"messai:{q}:waiting", 1.5, -3, 1e20, "é", b""),
    (b"SET", b"k", memoryview(b"value")),
    ("CONFIG GET", "maxmemory"),  # a name with a space: redis-py splits it
    ("PING",),
]


@pytest.mark.parametrize("args", ARGS)
def test_the_same_bytes_as_redis_py(args: tuple[Any, ...]) -> None:
    ours = b"".join(_Connection().pack_command(*args))
    theirs = b"".join(bytes(part) for part in redis.asyncio.Connection().pack_command(*args))
    assert ours == theirs


@pytest.mark.parametrize("value", [None, True])
def test_what_redis_py_refuses_is_refused_the_same_way(value: Any) -> None:
    with pytest.raises(DataError):
        _Connection().pack_command("SET", "k", value)


async def test_every_node_of_the_cluster_uses_it(
    redis_cluster: ClusterSetup, redis_url: str
) -> None:
    client: Any = connect(redis_url, decode_responses=True)
    try:
        await client.set("packed{a}", "é")
        assert await client.get("packed{a}") == "é"
        assert len(client.get_nodes()) == 6
        assert all(node.connection_class is _Connection for node in client.get_nodes())
    finally:
        await client.aclose()
