"""``messai-console overview``: totals across queues, workers, and the Redis server."""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio
import typer

from engine.connection import connect
from engine.keys import DEFAULT_PREFIX, STATES
from engine.monitor import (
    all_queue_stats,
    list_workers,
    server_info,
    server_time_ms,
)
from engine.nodes import NodeWatch
from engine.queue import list_queues
from engine.settings import mask_url
from messai_console.cli.output import format_duration_ms, print_json, print_table, warn
from messai_console.cli.runtime import runtime


async def gather_overview(client: redis.asyncio.Redis, prefix: str, url: str) -> dict[str, Any]:
    """The ``overview --json`` shape (documented in the README)."""
    per_queue = await all_queue_stats(client, prefix)
    workers = await list_workers(client, prefix)
    now_ms = await server_time_ms(client)
    online = [worker for worker in workers if not worker.is_silent(now_ms)]
    totals = {state: sum(stats[state] for stats in per_queue.values()) for state in STATES}
    return {
        "queues": len(per_queue),
        "paused_queues": sum(1 for stats in per_queue.values() if stats["paused"]),
        "jobs": totals,
        "workers": {
            "online": len(online),
            "silent": len(workers) - len(online),
            "running": sum(worker.running for worker in online),
            "concurrency": sum(worker.concurrency for worker in online),
        },
        "redis": {"url": mask_url(url), **await server_info(client)},
    }


async def gather_nodes(
    url: str, queues: list[str] | None = None, prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """Every node behind ``url``: the master first, then its replicas (on a
    cluster each master then its replicas), each master with the ``queues``
    it holds (the ``nodes`` of ``overview --json``)."""
    master = connect(url, retries=1)
    watch = NodeWatch(master, prefix)
    try:
        return [node.to_dict() for node in await watch.read(queues or [])]
    finally:
        await watch.close()
        await master.aclose()


def overview(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: queues, jobs, workers, redis and nodes.")
    ] = False,
) -> None:
    """Jobs per state across every queue, workers online, the Redis server's health,
    and every node (master and replicas: role, memory, ops/s, replication lag)."""
    state = runtime(ctx)
    url = state.url()

    async def action(client: redis.asyncio.Redis) -> dict[str, Any]:
        summary = await gather_overview(client, state.prefix, url)
        names = sorted(await list_queues(client, state.prefix))
        summary["nodes"] = await gather_nodes(url, names, state.prefix)
        return summary

    summary = state.read(action)
    if as_json:
        print_json(summary)
        return
    server, workers = summary["redis"], summary["workers"]
    rows: list[list[object]] = [
        ["queues", f"{summary['queues']} ({summary['paused_queues']} paused)"],
        *([f"jobs {name}", count] for name, count in summary["jobs"].items()),
        ["workers online", f"{workers['online']} ({workers['silent']} silent)"],
        ["jobs running", f"{workers['running']} of {workers['concurrency']} slots"],
        ["redis", f"{server['version']} {server['mode']} at {server['url']}"],
        ["uptime", format_duration_ms(server["uptime_s"] * 1000)],
        ["memory", server["used_memory_human"]],
        ["clients", server["connected_clients"]],
        ["ops/s", server["ops_per_sec"]],
        ["persistence", server["persistence"]],
        ["eviction policy", server["maxmemory_policy"]],
    ]
    print_table(["", "value"], rows, title="overview")
    cluster = any(node["slots"] for node in summary["nodes"])
    print_table(
        ["node", "role", "memory", "ops/s", "clients", "link", "lag"]
        + (["slots", "queues"] if cluster else []),
        [node_row(node) + (placement(node) if cluster else []) for node in summary["nodes"]],
        title="nodes",
    )
    for warning in server["warnings"]:
        warn(warning)


QUEUES_SHOWN = 5
"""Queue names a node's row shows before it says how many more."""


def placement(node: dict[str, Any]) -> list[object]:
    """A cluster node's slots and queues: a replica names its master instead."""
    if node["role"] != "master" and node["master"]:
        return [f"replica of {node['master']}", ""]
    names = node["queues"]
    shown = ", ".join(names[:QUEUES_SHOWN])
    if len(names) > QUEUES_SHOWN:
        shown += f" (+{len(names) - QUEUES_SHOWN} more)"
    return [node["slots"], shown]


def node_row(node: dict[str, Any]) -> list[object]:
    """One node of the table: an unreachable one says why in its last cell."""
    if node["error"]:
        return [node["address"], node["role"], "", "", "", "unreachable", node["error"]]
    lag = ""
    if node["lag_bytes"] is not None:
        lag = f"{node['lag_bytes']:,} bytes"
        if node["lag_s"] is not None:
            lag += f", {node['lag_s']} s"
    return [
        node["address"],
        node["role"],
        node["used_memory_human"],
        node["ops_per_sec"],
        node["connected_clients"],
        node["link"],
        lag,
    ]
