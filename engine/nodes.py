"""Every Redis node behind a client: the master and its replicas, for operators.

:class:`NodeWatch` reads `INFO` on the master the client reaches and on each
replica it names (`INFO replication`), plus, under Sentinel, the replicas
the sentinels know: one :class:`NodeInfo` per node, master first. A replica
that cannot be reached is still listed, with the error. The replicas'
connections reuse the client's credentials, TLS and timeouts, and stay open
between reads (closed by :meth:`NodeWatch.close`).

On a Redis Cluster it lists every node of `CLUSTER NODES` (asked of the
first node that answers): each master, by its first slot, followed by its
replicas, with the slots each master owns and the queues that live there
(a queue's keys share the hash tag `{name}`, so the queue is on the master
that owns that tag's slot). `CLUSTER NODES` rather than `CLUSTER SHARDS`:
Redis 6.2 has only the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio
import redis.asyncio.connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError

from engine.channel import server_address
from engine.cluster import is_cluster
from engine.keys import DEFAULT_PREFIX, QueueKeys
from engine.sentinel import is_sentinel_pool, master_address

__all__ = ["ClusterEntry", "NodeInfo", "NodeWatch", "parse_cluster_nodes", "queue_slot"]

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
    slots: str = ""
    """On a cluster, the slots a master owns ("0-5460,5462"); "" elsewhere."""
    master: str = ""
    """On a cluster, the address of a replica's master."""
    queues: tuple[str, ...] = ()
    """The queues whose keys this master holds (of those the read was given)."""

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["queues"] = list(self.queues)
        return found


@dataclass(frozen=True)
class ClusterEntry:
    """One line of `CLUSTER NODES`."""

    node_id: str
    address: str
    """host:port ("" for a node without an address yet)."""
    flags: frozenset[str]
    master_id: str
    """The master's id for a replica, "-" for a master."""
    slots: tuple[tuple[int, int], ...]
    """Ranges owned (first, last), both inclusive; slots being migrated are skipped."""

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> str:
        """ "fail" or "fail?" when the cluster thinks the node is down; "" otherwise."""
        return next((flag for flag in ("fail", "fail?") if flag in self.flags), "")

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)

    def slots_text(self) -> str:
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.slots)


def parse_cluster_nodes(text: str) -> list[ClusterEntry]:
    """The lines of a `CLUSTER NODES` answer: `<id> <ip:port@bus[,host]> <flags>
    <master> <ping> <pong> <epoch> <link> <slot>...`."""
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split("@", 1)[0]
        if address.startswith(":"):  # no address known yet (handshake, noaddr)
            address = ""
        slots = []
        for part in parts[8:]:
            if part.startswith("["):  # [slot->-id] / [slot-<-id]: migrating, importing
                continue
            first, _, last = part.partition("-")
            slots.append((int(first), int(last or first)))
        entries.append(
            ClusterEntry(
                node_id=parts[0],
                address=address,
                flags=frozenset(parts[2].split(",")),
                master_id=parts[3],
                slots=tuple(sorted(slots)),
            )
        )
    return entries


def queue_slot(name: str, prefix: str = DEFAULT_PREFIX) -> int:
    """The slot of queue ``name``: every key of it carries the same hash tag."""
    return key_slot(QueueKeys(name, prefix).meta.encode())


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

    def __init__(self, client: redis.asyncio.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._replicas: dict[str, redis.asyncio.Redis] = {}

    async def master_address(self) -> str:
        """The master's address: the sentinels' answer under Sentinel, else the URL's."""
        pool = self.client.connection_pool
        if is_sentinel_pool(pool):
            host, port = await master_address(pool)
            return f"{host}:{port}"
        return server_address(pool.connection_kwargs)

    async def read(self, queues: Sequence[str] = ()) -> list[NodeInfo]:
        """The master, then its replicas (sorted by address), each as it answers now;
        the master lists ``queues``. On a cluster, each master (by first slot)
        then its replicas, each master listing those of ``queues`` it holds.
        Raises the client's error when the master (on a cluster: every node)
        cannot be read."""
        if is_cluster(self.client):
            return await self._read_cluster(queues)
        address = await self.master_address()
        info = await self.client.info()
        master = _node(address, info)
        master = NodeInfo(**{**master.to_dict(), "queues": tuple(sorted(queues))})
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

    # -- a cluster ---------------------------------------------------------

    async def _topology(self) -> list[ClusterEntry]:
        """`CLUSTER NODES` from the first node that answers: the nodes the client
        knows, then its startup nodes."""
        cluster: Any = self.client
        await cluster.initialize()  # reads the slot map once; a no-op after
        known = [node.name for node in cluster.get_nodes()]
        known += [node.name for node in cluster.nodes_manager.startup_nodes.values()]
        last: BaseException | None = None
        for address in dict.fromkeys(known):
            try:
                async with asyncio.timeout(_NODE_TIMEOUT_S):
                    node = self._connection(address)
                    text = await node.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
                return parse_cluster_nodes(text.decode() if isinstance(text, bytes) else str(text))
            except (RedisError, OSError, TimeoutError) as error:
                last = error
        raise last if last is not None else RedisError("no cluster node known")

    async def _read_cluster(self, queues: Sequence[str]) -> list[NodeInfo]:
        entries = await self._topology()
        masters = sorted((e for e in entries if e.is_master and e.slots), key=lambda e: e.slots[0])
        masters += sorted((e for e in entries if e.is_master and not e.slots), key=_by_address)
        by_id = {entry.node_id: entry for entry in entries}
        ordered: list[ClusterEntry] = []
        for master in masters:
            ordered.append(master)
            ordered += sorted(
                (e for e in entries if not e.is_master and e.master_id == master.node_id),
                key=_by_address,
            )
        ordered += [e for e in entries if e not in ordered]  # replicas of unknown masters
        infos = await asyncio.gather(*(self._info(entry.address) for entry in ordered))
        answered = {
            entry.node_id: info
            for entry, info in zip(ordered, infos, strict=True)
            if isinstance(info, dict)
        }
        placed: dict[str, list[str]] = {}
        for name in queues:
            slot = queue_slot(name, self.prefix)
            owner = next((m for m in masters if m.owns(slot)), None)
            if owner is not None:
                placed.setdefault(owner.node_id, []).append(name)
        nodes = []
        for entry, info in zip(ordered, infos, strict=True):
            its_master = by_id.get(entry.master_id)
            extra: dict[str, Any] = {
                "slots": entry.slots_text(),
                "master": its_master.address if its_master is not None else "",
                "queues": tuple(sorted(placed.get(entry.node_id, []))),
            }
            if not isinstance(info, dict):
                role = "master" if entry.is_master else "replica"
                reason = f"{entry.failing}: {info}" if entry.failing else info
                nodes.append(NodeInfo(address=entry.address, role=role, error=reason, **extra))
                continue
            node = _node(entry.address, info)
            if node.role == "replica" and its_master is not None:
                extra.update(_cluster_lag(entry.address, info, answered.get(its_master.node_id)))
            nodes.append(NodeInfo(**{**node.to_dict(), **extra}))
        await self._forget({entry.address for entry in entries})
        return nodes

    async def _info(self, address: str) -> dict[str, Any] | str:
        """INFO of one node, or why it could not be read."""
        if not address:
            return "no address yet"
        try:
            async with asyncio.timeout(_NODE_TIMEOUT_S):
                info: dict[str, Any] = await self._connection(address).info()
                return info
        except (RedisError, OSError, TimeoutError) as error:
            return " ".join(str(error).split()) or type(error).__name__

    def _node_options(self) -> tuple[dict[str, Any], bool]:
        """The client's connection options for a connection of our own, and TLS."""
        if is_cluster(self.client):
            cluster: Any = self.client
            options: dict[str, Any] = dict(cluster.nodes_manager.connection_kwargs)
            accepted = inspect.signature(redis.asyncio.Connection.__init__).parameters
            options = {name: value for name, value in options.items() if name in accepted}
            tls = bool(cluster.nodes_manager.connection_kwargs.get("ssl"))
            return options, tls
        pool = self.client.connection_pool
        tls = "SSL" in getattr(pool.connection_class, "__name__", "")
        return dict(pool.connection_kwargs), tls

    def _connection(self, address: str) -> redis.asyncio.Redis:
        client = self._replicas.get(address)
        if client is None:
            host, _, port = address.rpartition(":")
            options, tls = self._node_options()
            kwargs = {
                name: value
                for name, value in options.items()
                if name not in ("connection_pool", "host", "port", "path", "connection_class")
            }
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


def _by_address(entry: ClusterEntry) -> str:
    return entry.address


def _cluster_lag(address: str, info: dict[str, Any], master: Any) -> dict[str, Any]:
    """A cluster replica's lag: its offset against its master's (INFO on both)."""
    if not isinstance(master, dict):
        return {}
    offset = int(master.get("master_repl_offset", 0))
    entry = _replicas_of(master).get(address, {})
    replica_offset = entry.get("offset", info.get("slave_repl_offset"))
    return {
        "lag_bytes": max(offset - int(replica_offset), 0) if replica_offset is not None else None,
        "lag_s": int(entry["lag"]) if "lag" in entry else None,
    }
