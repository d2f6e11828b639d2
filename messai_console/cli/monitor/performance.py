"""``messai-console performance``: finished jobs, throughput and run times over a range.

Counts, throughput and the mean run time come from the engine's per-minute
metrics, which count every job that finished in the range. The engine keeps
only sums per minute, so the p95 is computed from the run times of the
finished jobs still kept (retention may have dropped some); ``p95_sample``
says how many it is based on.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import redis.asyncio
import typer

from engine.metrics import WINDOW_MINUTES, MetricsWindow
from engine.monitor import server_time_ms
from engine.queue import Queue, list_queues
from engine.queue_admin import PAGE
from messai_console.cli.completion import queue_names
from messai_console.cli.output import format_duration_ms, print_json, print_table
from messai_console.cli.parsing import Window
from messai_console.cli.runtime import runtime

P95_SAMPLE_CAP = 10_000
"""Finished jobs read per queue and state for the p95 (newest first)."""


def p95(values: list[int]) -> int | None:
    """Nearest-rank 95th percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def summarise(
    completed: int, failed: int, run_time_ms: int, minutes: int, run_times: list[int]
) -> dict[str, Any]:
    finished = completed + failed
    return {
        "completed": completed,
        "failed": failed,
        "throughput_per_min": round(finished / minutes, 3),
        "mean_run_time_ms": round(run_time_ms / finished, 1) if finished else None,
        "p95_run_time_ms": p95(run_times),
        "p95_sample": len(run_times),
    }


async def kept_run_times(queue: Queue, since_ms: int) -> list[int]:
    """Run times of the completed and failed jobs still kept that finished since ``since_ms``."""
    run_times: list[int] = []
    for state in ("completed", "failed"):
        offset = 0
        while offset < P95_SAMPLE_CAP:
            page = await queue.get_jobs(
                state, offset, offset + min(PAGE, P95_SAMPLE_CAP - offset) - 1
            )
            recent = [job for job in page if (job.finished_ms or 0) >= since_ms]
            run_times.extend(job.run_time_ms for job in recent if job.run_time_ms is not None)
            if len(recent) < len(page) or len(page) < PAGE:
                break  # newest first: the rest finished before the range
            offset += PAGE
    return run_times


async def gather_performance(
    client: redis.asyncio.Redis, prefix: str, names: list[str], window: MetricsWindow
) -> dict[str, Any]:
    """The ``performance --json`` shape (documented in the README)."""
    minutes = WINDOW_MINUTES[window]
    now_ms = await server_time_ms(client)
    since_ms = (now_ms // 60_000 - minutes + 1) * 60_000
    series: dict[int, dict[str, int]] = {}
    rows, all_run_times = [], []
    sums = {"completed": 0, "failed": 0, "run_time_ms": 0}
    for name in names:
        queue = Queue(name, client, prefix=prefix)
        points = await queue.metrics(window)
        run_times = await kept_run_times(queue, since_ms)
        totals = {key: sum(point[key] for point in points) for key in sums}
        rows.append(
            {
                "queue": name,
                **summarise(
                    totals["completed"], totals["failed"], totals["run_time_ms"], minutes, run_times
                ),
            }
        )
        all_run_times.extend(run_times)
        for key in sums:
            sums[key] += totals[key]
        for point in points:
            slot = series.setdefault(
                point["minute"], {"minute": point["minute"], **dict.fromkeys(sums, 0)}
            )
            for key in sums:
                slot[key] += point[key]
    return {
        "range": window,
        "minutes": minutes,
        "since_ms": since_ms,
        "until_ms": now_ms,
        "queues": rows,
        "total": summarise(
            sums["completed"], sums["failed"], sums["run_time_ms"], minutes, all_run_times
        ),
        "series": [series[minute] for minute in sorted(series)],
    }


def performance(
    ctx: typer.Context,
    window: Annotated[
        Window, typer.Option("--range", "-r", help="How far back: hour, day or week.")
    ] = Window.hour,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Only this queue (repeat for several). Default: all.",
            autocompletion=queue_names,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: per queue, total and per-minute series.")
    ] = False,
) -> None:
    """Completed and failed jobs, throughput per minute, mean and p95 run time."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> dict[str, Any]:
        names = list(dict.fromkeys(queue or []))
        for name in names:
            await state.existing_queue(client, name)
        return await gather_performance(
            client,
            state.prefix,
            names or await list_queues(client, state.prefix),
            window.value,
        )

    report = state.read(action)
    if as_json:
        print_json(report)
        return
    print_table(
        ["queue", "completed", "failed", "per min", "mean run", "p95 run", "p95 of"],
        [
            [
                row.get("queue", "all queues"),
                row["completed"],
                row["failed"],
                row["throughput_per_min"],
                format_duration_ms(row["mean_run_time_ms"]),
                format_duration_ms(row["p95_run_time_ms"]),
                row["p95_sample"],
            ]
            for row in [*report["queues"], report["total"]]
        ],
        title=f"performance over the last {window.value}",
        caption="counts and mean: every job finished in the range; "
        "p95: the finished jobs still kept (see 'p95 of')",
    )
