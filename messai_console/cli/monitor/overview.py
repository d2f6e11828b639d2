"""``messai-console overview``: totals across queues, workers, and the Redis server."""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio
import typer

from engine.keys import STATES
from engine.monitor import all_queue_stats, list_workers, server_info, server_time_ms
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


def overview(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: queues, jobs, workers and redis.")
    ] = False,
) -> None:
    """Jobs per state across every queue, workers online, and the Redis server's health."""
    state = runtime(ctx)
    url = state.url()

    async def action(client: redis.asyncio.Redis) -> dict[str, Any]:
        return await gather_overview(client, state.prefix, url)

    summary = state.run(action)
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
    for warning in server["warnings"]:
        warn(warning)
