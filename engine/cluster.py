"""Redis Cluster: the `redis+cluster://` URL and the client the engine uses on one.

    redis+cluster://[user:password@]host:port,host:port[/][?options]
    rediss+cluster://...   the same over TLS

The hosts are startup nodes: any reachable one is enough, the client reads
the slot map from it (CLUSTER SHARDS / SLOTS) and then talks to the master
of each slot. A cluster has database 0 only, so a path, if any, is `/` or
`/0`. Query options are redis-py connection options, as in a `redis://`
URL (`socket_timeout=`, `ssl_cert_reqs=`...).

A client made here is redis-py's asyncio `RedisCluster`: it routes each
command by the slot of its keys, follows `MOVED` (refreshing its slot map)
and `ASK`, and after a failover finds the promoted replica. Every script
call names its keys (`FCALL name numkeys key...`), and every key of a queue
carries the queue's hash tag (`messai:{name}:...`, `engine.keys`), so each
call lands on the one master that owns the queue's slot; a call whose keys
span two slots is refused by the client before it is sent.

What spans slots by design lives in `engine.keys` (the queue registry, the
worker registry) and is kept per slot on a cluster: see
`engine.keys.QueueKeys.script_keys_for` and `worker_key`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import hiredis
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.cluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import RedisClusterException

from engine.addresses import format_address, parse_addresses
from engine.keys import QueueKeys, queue_registry_key
from engine.settings import mask_url

__all__ = [
    "CLUSTER_SCHEMES",
    "ClusterConfig",
    "cluster_client",
    "cluster_client_sync",
    "cluster_description",
    "is_cluster",
    "is_cluster_url",
    "parse_cluster_url",
]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_CLUSTER_PORT = 6379

_SCRIPT_CALLS = frozenset({"FCALL", "FCALL_RO", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO"})


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def is_cluster(client: Any) -> bool:
    """Whether `client` is a Redis Cluster client (asyncio or not)."""
    return isinstance(client, redis.asyncio.RedisCluster | redis.cluster.RedisCluster)


@dataclass(frozen=True)
class ClusterConfig:
    """A parsed `redis+cluster://` URL."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    """Other redis-py connection options from the query, typed as redis-py types them."""

    def url(self) -> str:
        """The URL back, password masked (for messages and displays)."""
        scheme = "rediss+cluster" if self.tls else "redis+cluster"
        auth = ""
        if self.password:
            auth = f"{quote(self.username or '', safe='')}:{self.password}@"
        elif self.username:
            auth = f"{quote(self.username, safe='')}@"
        hosts = ",".join(format_address(host, port) for host, port in self.nodes)
        return mask_url(f"{scheme}://{auth}{hosts}")


def parse_cluster_url(url: str) -> ClusterConfig:
    """Parse `redis+cluster://[user:password@]h:p,h:p[/0][?options]`;
    ValueError (password masked) when it is not one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a cluster URL: {mask_url(url)}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = parse_addresses(hosts, DEFAULT_CLUSTER_PORT, "cluster node address")
    if not nodes:
        raise ValueError(f"cluster URL without nodes: {mask_url(url)}")
    path = [unquote(part) for part in parts.path.split("/") if part]
    if path not in ([], ["0"]):
        raise ValueError(
            f"a Redis Cluster has database 0 only: no path but /0 after the nodes: {mask_url(url)}"
        )
    options: dict[str, Any] = dict(
        redis.asyncio.connection.parse_url(f"redis://localhost/?{parts.query}")
    )
    for name in ("host", "port", "username", "password", "db"):
        options.pop(name, None)
    username, colon, password = userinfo.partition(":")
    return ClusterConfig(
        nodes=nodes,
        username=unquote(username) or None,
        password=(unquote(password) or None) if colon else None,
        tls=scheme == "rediss+cluster",
        options=options,
    )


def script_slot(command: str, args: tuple[Any, ...]) -> int | None:
    """The slot of a script call (`FCALL fn numkeys key...`), read from its
    arguments; None for another command. (redis-py would ask the server with
    COMMAND GETKEYS for FCALL: one more round trip per call.)"""
    if command.upper() not in _SCRIPT_CALLS or len(args) < 2:
        return None
    count = int(args[1])
    keys = args[2 : 2 + count]
    if not keys:
        return random.randrange(0, REDIS_CLUSTER_HASH_SLOTS)
    slots = {key_slot(_encoded(key)) for key in keys}
    if len(slots) != 1:
        raise RedisClusterException(
            f"{command} - all keys must map to the same key slot (they span {len(slots)} slots)"
        )
    return slots.pop()


def _encoded(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


class _HiredisPacking:
    """Requests packed by hiredis (C) instead of redis-py's Python loop.

    On a cluster every hot call goes through redis-py (see
    `engine.channel`), and a worker's finish-and-fetch carries a few dozen
    arguments per job: redis-py's `pack_command` was about a third of a
    worker's time (cProfile, no-op jobs at concurrency 50). hiredis packs
    the same bytes; what it refuses (None, bool...), a command name with a
    space in it (`CONFIG GET`) and another encoding than UTF-8 go to
    redis-py's own packing, which keeps its errors."""

    encoder: Any

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        plain_name = (isinstance(first, str) and " " not in first) or (
            isinstance(first, bytes) and b" " not in first
        )
        if (
            plain_name
            and self.encoder.encoding == "utf-8"
            and self.encoder.encoding_errors == "strict"
        ):
            try:
                return [hiredis.pack_command(args)]
            except (TypeError, ValueError):
                pass
        packed: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
        return packed


class _Connection(_HiredisPacking, redis.asyncio.Connection):
    """A cluster node's connection, packed by hiredis."""


class _SSLConnection(_HiredisPacking, redis.asyncio.connection.SSLConnection):
    """A cluster node's TLS connection, packed by hiredis."""


class ClusterClient(redis.asyncio.RedisCluster):
    """An asyncio cluster client that routes script calls by their own KEYS,
    packs requests with hiredis, and closes the engine's shared connection
    of it when it is closed."""

    replica_ack: Any = None
    """How many replicas a queue's adds wait for; None: none (see `engine.durability`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # redis-py takes no connection class for a cluster: it goes into the
        # options every node made from now on is given, and onto the startup nodes
        manager = self.nodes_manager
        tls = manager.connection_kwargs.get("connection_class") is (
            redis.asyncio.connection.SSLConnection
        )
        manager.connection_kwargs["connection_class"] = _SSLConnection if tls else _Connection
        for node in manager.startup_nodes.values():
            node.connection_class = manager.connection_kwargs["connection_class"]

    async def _determine_slot(self, command: str, *args: Any) -> int:
        slot = script_slot(command, args)
        if slot is not None:
            return slot
        return await super()._determine_slot(command, *args)

    async def aclose(self) -> None:
        from engine.channel import close_shared_channel

        try:
            await close_shared_channel(self)  # type: ignore[arg-type]
        finally:
            await super().aclose()


class SyncClusterClient(redis.cluster.RedisCluster):
    """The synchronous twin of :class:`ClusterClient`'s routing."""

    def determine_slot(self, *args: Any) -> int | None:
        slot = script_slot(str(args[0]), args[1:]) if args else None
        if slot is not None:
            return slot
        return super().determine_slot(*args)


def _node_options(config: ClusterConfig, options: dict[str, Any]) -> dict[str, Any]:
    merged = {**options, **config.options}
    if config.username:
        merged["username"] = config.username
    if config.password:
        merged["password"] = config.password
    if config.tls:
        merged["ssl"] = True
    return merged


def cluster_client(config: ClusterConfig, options: dict[str, Any]) -> ClusterClient:
    """An asyncio cluster client on the nodes of `config`."""
    merged = _node_options(config, options)
    nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in config.nodes]
    return ClusterClient(startup_nodes=nodes, **merged)


def cluster_client_sync(config: ClusterConfig, options: dict[str, Any]) -> SyncClusterClient:
    """The synchronous twin of :func:`cluster_client`."""
    merged = _node_options(config, options)
    nodes = [
        redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in config.nodes
    ]
    return SyncClusterClient(startup_nodes=nodes, **merged)


def cluster_description(client: Any) -> str | None:
    """A displayable URL (password masked) for a cluster client; None for another client."""
    if not is_cluster(client):
        return None
    kw: dict[str, Any] = client.nodes_manager.connection_kwargs
    startup = client.nodes_manager.startup_nodes.values()
    config = ClusterConfig(
        nodes=tuple((str(node.host), int(node.port)) for node in startup),
        username=kw.get("username"),
        password=kw.get("password"),
        tls=bool(kw.get("ssl")) or "SSL" in getattr(kw.get("connection_class"), "__name__", ""),
    )
    return config.url()


def client_address(client: Any) -> str:
    """The name scripts keep their per-server state under for a cluster client:
    every master of one cluster runs the same Redis (functions or not)."""
    startup = list(client.nodes_manager.startup_nodes.values())
    first = startup[0] if startup else None
    return f"cluster:{format_address(str(first.host), int(first.port))}" if first else "cluster"


async def register_queue(client: Any, keys: QueueKeys) -> None:
    """Add the queue of ``keys`` to the queue registry: on a Redis Cluster its
    scripts cannot (the registry is in another slot), so this is a call of
    its own, made before the script that needs it (an idempotent SADD: a
    crash after it leaves a listed queue with nothing in it, never jobs in
    an unlisted one)."""
    await client.sadd(queue_registry_key(keys.prefix), keys.name)


async def unregister_queue(client: Any, keys: QueueKeys) -> None:
    """Remove the queue of ``keys`` from the registry (after obliterating it)."""
    await client.srem(queue_registry_key(keys.prefix), keys.name)
