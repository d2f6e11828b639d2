"""What ``messai-console bench`` needs on a Redis Cluster: its masters, a
plain client on one, queue names that land on chosen masters, and each
master's command counter.

The benchmark's queues are throwaway names; on a cluster, where a queue
lives is its hash tag's slot (every key of queue ``q`` carries ``{q}``),
so the spread measurement picks names whose slots the wanted masters own
instead of hoping random names spread evenly.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.crc import key_slot

from engine.cluster import is_cluster
from engine.keys import QueueKeys

__all__ = [
    "MasterCounters",
    "master_clients",
    "master_counters",
    "node_client",
    "queue_names_on",
]


def _plain(client: Any, host: str, port: int) -> redis.asyncio.Redis:
    """A client on one node with the cluster client's credentials, TLS and timeouts."""
    accepted = inspect.signature(redis.asyncio.Redis.__init__).parameters
    kwargs = {
        name: value
        for name, value in client.nodes_manager.connection_kwargs.items()
        if name in accepted and name not in ("host", "port", "connection_pool", "retry")
    }
    kwargs["decode_responses"] = True
    return redis.asyncio.Redis(host=host, port=port, **kwargs)


async def master_clients(client: Any) -> dict[str, redis.asyncio.Redis]:
    """One plain client per master of a cluster client, by ``host:port``, sorted."""
    await client.initialize()
    masters = sorted(client.get_primaries(), key=lambda node: node.name)
    return {node.name: _plain(client, node.host, int(node.port)) for node in masters}


async def node_client(client: Any, key: str | None = None) -> redis.asyncio.Redis | None:
    """A plain client on the master that owns ``key`` (or the first master);
    None when ``client`` is not a cluster client (use it as it is). Close it after."""
    if not is_cluster(client):
        return None
    await client.initialize()
    node = (
        client.get_node_from_key(key)
        if key is not None
        else sorted(client.get_primaries(), key=lambda n: n.name)[0]
    )
    return _plain(client, node.host, int(node.port))


def queue_names_on(
    client: Any, masters: list[str], count: int, stem: str, prefix: str
) -> dict[str, list[str]]:
    """``count`` queue names spread round-robin over ``masters`` (node names),
    each name's slot owned by its master: {master: [names]}. The slot map must
    be read already (see :func:`master_clients`)."""
    wanted = {master: count // len(masters) + (i < count % len(masters)) for i, master in
              enumerate(masters)}  # fmt: skip
    found: dict[str, list[str]] = {master: [] for master in masters}
    for index in itertools.count():
        if all(len(found[m]) >= wanted[m] for m in masters):
            return found
        if index > 100_000:
            raise RuntimeError(f"no queue names found on {masters}")
        name = f"{stem}-{index}"
        meta = QueueKeys(name, prefix).meta
        owner = client.nodes_manager.get_node_from_slot(key_slot(meta.encode())).name
        if owner in found and len(found[owner]) < wanted[owner]:
            found[owner].append(name)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class MasterCounters:
    """One master's counters at one instant (INFO stats and commandstats)."""

    commands: int
    """total_commands_processed."""
    script_calls: int
    """FCALL / EVALSHA / EVAL calls: the engine's scripts."""
    cpu_s: float
    """CPU seconds the server has used (used_cpu_sys + used_cpu_user)."""


async def master_counters(masters: dict[str, redis.asyncio.Redis]) -> dict[str, MasterCounters]:
    """Each master's command counters now."""
    found = {}
    for name, master in masters.items():
        stats = await master.info("stats")
        cpu = await master.info("cpu")
        commands = await master.info("commandstats")
        scripts = sum(
            int(entry.get("calls", 0))
            for command, entry in commands.items()
            if command in ("cmdstat_fcall", "cmdstat_evalsha", "cmdstat_eval")
        )
        found[name] = MasterCounters(
            int(stats["total_commands_processed"]),
            scripts,
            float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        )
    return found
