"""Reading from a replica: the `read_from_replica` URL option and clients for reads.

    redis://host:port/0?read_from_replica=1
    redis+sentinel://h:p,h:p/<service>/0?read_from_replica=1

A client for writes ignores the option (`engine.connection.connect` strips
it): actions always go to the master. A client for reads
(:func:`connect_reader`) sends every command to a replica:

- under Sentinel, one of the replicas the sentinels list as healthy
  (redis-py's replica pool, round robin);
- with a plain URL, one of the replicas the server at the URL reports as
  online in `INFO replication` (the server itself when it is a replica).

With no replica online the reads go to the master, so the reader keeps
working; :func:`reader_role` says which it reached. Each new connection
looks again, so a replica that goes away or a failover is followed.

Only read commands and `no-writes` scripts (`FCALL_RO`) go to a reader; a
replica refuses anything else with `READONLY`. A replica's data may lag
the master by its replication delay (the node view shows it).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

__all__ = [
    "READ_FROM_REPLICA",
    "ReplicaPool",
    "online_replicas",
    "reader_role",
    "wants_replica",
    "with_replica_option",
    "without_replica_option",
]

READ_FROM_REPLICA = "read_from_replica"
"""The URL query option that sends reads to a replica."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _split(url: str) -> tuple[Any, list[tuple[str, str]], str | None]:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    value = None
    kept = []
    for name, item in pairs:
        if name.lower() == READ_FROM_REPLICA:
            value = item
        else:
            kept.append((name, item))
    return parts, kept, value


def wants_replica(url: str) -> bool:
    """Whether `url` carries `read_from_replica=1` (ValueError for a value
    that is neither yes nor no)."""
    _parts, _kept, value = _split(url)
    if value is None:
        return False
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{READ_FROM_REPLICA}={value!r}: use 1 or 0")


def without_replica_option(url: str) -> str:
    """`url` without its `read_from_replica` option (redis-py knows no such option)."""
    parts, kept, value = _split(url)
    if value is None:
        return url
    return str(urlunsplit(parts._replace(query=urlencode(kept))))


def with_replica_option(url: str) -> str:
    """`url` with `read_from_replica=1` (what `--read-from-replica` does)."""
    parts, kept, _value = _split(url)
    return str(urlunsplit(parts._replace(query=urlencode([*kept, (READ_FROM_REPLICA, "1")]))))


def online_replicas(replication: dict[str, Any]) -> list[tuple[str, int]]:
    """The (host, port) of every replica that `INFO replication` (as redis-py
    parses it) lists as online."""
    found = []
    for name, entry in replication.items():
        if not name.startswith("slave") or not isinstance(entry, dict):
            continue
        if entry.get("state") == "online" and entry.get("ip") and entry.get("port"):
            found.append((str(entry["ip"]), int(entry["port"])))
    return found


class ReplicaPool(redis.asyncio.ConnectionPool):
    """A pool whose connections open on a replica of the server at the URL.

    Each new connection asks that server for its online replicas (`INFO
    replication`) and takes the next one round robin; the server itself
    when it has none or is a replica itself. Uses redis-py's replica-aware
    connection (the one its Sentinel replica pools use), so a connection
    that fails moves on to the next replica.
    """

    is_master = False
    check_connection = False

    def __init__(self, **kwargs: Any) -> None:
        tls = issubclass(
            kwargs.get("connection_class", redis.asyncio.Connection),
            redis.asyncio.connection.SSLConnection,
        )
        origin = dict(kwargs)
        kwargs["connection_class"] = (
            redis.asyncio.sentinel.SentinelManagedSSLConnection
            if tls
            else redis.asyncio.sentinel.SentinelManagedConnection
        )
        super().__init__(**kwargs)
        # The server at the URL, asked for its replicas (single tries: the reads'
        # own retry covers the whole connect).
        origin["retry"] = Retry(NoBackoff(), 0)
        self._origin = redis.asyncio.Redis(connection_pool=redis.asyncio.ConnectionPool(**origin))
        self.connection_kwargs["connection_pool"] = weakref.proxy(self)
        self._counter = 0

    async def rotate_slaves(self) -> AsyncIterator[tuple[str, int]]:
        """The addresses to try, best first: the online replicas, then the server itself."""
        origin = self._origin.connection_pool.connection_kwargs
        address = (str(origin.get("host", "localhost")), int(origin.get("port", 6379)))
        try:
            replication = await self._origin.info("replication")
        except RedisError as error:
            raise RedisConnectionError(
                f"cannot ask {address[0]}:{address[1]} for its replicas: {error}"
            ) from error
        if replication.get("role") == "slave":
            yield address  # the URL names a replica: read there
        else:
            replicas = online_replicas(replication)
            for _ in range(len(replicas)):
                self._counter = (self._counter + 1) % len(replicas)
                yield replicas[self._counter]
            yield address
        raise redis.asyncio.sentinel.SlaveNotFoundError(
            f"no replica of {address[0]}:{address[1]} answers, nor the server itself"
        )

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        await self._origin.connection_pool.disconnect()


async def reader_role(client: redis.asyncio.Redis) -> str:
    """What a reader reached: "replica" or "master" (no replica online)."""
    role = (await client.info("replication")).get("role")
    return "replica" if role == "slave" else "master"
