"""Every Redis node behind a client: the master and its replicas, for operators.

:class:`NodeWatch` reads `INFO` on the master the client reaches and on each
replica it names (`INFO replication`), plus, under Sentinel, the replicas
the sentinels know: one :class:`NodeInfo` per node, master first. A replica
that cannot be reached is still listed, with the error. The replicas'
connections reuse the client's credentials, TLS and timeouts, and stay open
between reads (closed by :meth:`NodeWatch.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio
import redis.asyncio.connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from engine.channel import server_address
from engine.sentinel import is_sentinel_pool, master_address

__all__ = ["NodeInfo", "NodeWatch"]

_NODE_TIMEOUT_S = 2.0
"""How long a replica may take to answer INFO before it is shown unreachable."""


@dataclass(frozen=True)
class NodeInfo:
    """One Redis node as its `INFO` describes it."""

    address: str
    """host:port (or the unix socket)."""
    role: str
    """"master" or "replica" ("?" when it did not answer)."""
    used_memory: int = 0
    used_memory_human: str = ""
    ops_per_sec: int = 0
    connected_clients: int = 0
    link: str = ""
    """A replica's link to its master ("up", "down"); "" for the master."""
    lag_bytes: int | None = None
    """How far a replica's copy is behind the master's replication offset."""
    lag_s: int | None = None
    """Seconds since the master last heard from the replica (INFO's `lag`)."""
    error: str = ""
    """Why the node could not be read ("" when it answered)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _replicas_of(replication: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The master's `slaveN` entries by address."""
    found = {}
    for name, entry in replication.items():
        if name.startswith("slave") and isinstance(entry, dict) and entry.get("port"):
            found[f"{entry.get('ip')}:{entry['port']}"] = entry
    return found


def _node(address: str, info: dict[str, Any]) -> NodeInfo:
    replica = info.get("role") == "slave"
    return NodeInfo(
        address=address,
        role="replica" if replica else "master",
        used_memory=int(info.get("used_memory", 0)),
        used_memory_human=str(info.get("used_memory_human", "")),
        ops_per_sec=int(info.get("instantaneous_ops_per_sec", 0)),
        connected_clients=int(info.get("connected_clients", 0)),
        link=str(info.get("master_link_status", "")) if replica else "",
    )


class NodeWatch:
    """Reads the nodes behind ``client`` (a client on the master, plain or Sentinel).

    Args:
        client: the client whose master (and replicas) to show.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._replicas: dict[str, redis.asyncio.Redis] = {}

    async def master_address(self) -> str:
        """The master's address: the sentinels' answer under Sentinel, else the URL's."""
        pool = self.client.connection_pool
        if is_sentinel_pool(pool):
            host, port = await master_address(pool)
            return f"{host}:{port}"
        return server_address(pool.connection_kwargs)

    async def read(self) -> list[NodeInfo]:
        """The master, then its replicas (sorted by address), each as it answers now.
        Raises the client's error when the master cannot be read."""
        address = await self.master_address()
        info = await self.client.info()
        master = _node(address, info)
        entries = _replicas_of(info)
        offset = int(info.get("master_repl_offset", 0))
        addresses = set(entries) | await self._sentinel_replicas()
        replicas = await asyncio.gather(
            *(self._replica(where, entries.get(where, {}), offset) for where in sorted(addresses))
        )
        await self._forget(addresses)
        return [master, *replicas]

    async def _sentinel_replicas(self) -> set[str]:
        """The replicas the sentinels know (none without Sentinel)."""
        pool: Any = self.client.connection_pool
        if not is_sentinel_pool(pool):
            return set()
        with contextlib.suppress(RedisError, OSError):
            found = await pool.sentinel_manager.discover_slaves(pool.service_name)
            return {f"{host}:{port}" for host, port in found}
        return set()

    async def _replica(self, address: str, entry: dict[str, Any], offset: int) -> NodeInfo:
        try:
            async with asyncio.timeout(_NODE_TIMEOUT_S):
                info = await self._connection(address).info()
        except (RedisError, OSError, TimeoutError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            return NodeInfo(address=address, role="?", error=reason)
        node = _node(address, info)
        replica_offset = entry.get("offset", info.get("slave_repl_offset"))
        lag_bytes = max(offset - int(replica_offset), 0) if replica_offset is not None else None
        lag_s = int(entry["lag"]) if "lag" in entry else None
        return NodeInfo(**{**node.to_dict(), "lag_bytes": lag_bytes, "lag_s": lag_s})

    def _connection(self, address: str) -> redis.asyncio.Redis:
        client = self._replicas.get(address)
        if client is None:
            host, _, port = address.rpartition(":")
            kwargs = {
                name: value
                for name, value in self.client.connection_pool.connection_kwargs.items()
                if name not in ("connection_pool", "host", "port", "path", "connection_class")
            }
            tls = "SSL" in getattr(self.client.connection_pool.connection_class, "__name__", "")
            kwargs["retry"] = Retry(NoBackoff(), 0)
            kwargs["socket_connect_timeout"] = _NODE_TIMEOUT_S
            pool = redis.asyncio.ConnectionPool(
                host=host,
                port=int(port),
                connection_class=(
                    redis.asyncio.connection.SSLConnection if tls else redis.asyncio.Connection
                ),
                **kwargs,
            )
            client = self._replicas[address] = redis.asyncio.Redis.from_pool(pool)
        return client

    async def _forget(self, keep: set[str]) -> None:
        """Close the connections of nodes that are no longer replicas."""
        for address in set(self._replicas) - keep:
            with contextlib.suppress(RedisError, OSError):
                await self._replicas.pop(address).aclose()

    async def close(self) -> None:
        await self._forget(set())
