"""``messai-console bench``: measure the engine on this machine's Redis."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from messai_console.bench.measure import Bench, BenchConfig, BenchResult, median_result
from messai_console.cli import parsing
from messai_console.cli.output import print_json
from messai_console.cli.runtime import runtime

TARGETS: list[tuple[str, str, float, str]] = [
    # (figure, how it is read, target ratio, comparison)
    ("enqueue_single", "of the single round-trip floor", 0.75, ">="),
    ("enqueue_bulk", "of the pipelined floor", 0.5, ">="),
    ("drain_c1", "of the single round-trip floor", 0.8, ">="),
    ("drain_c50", "of the single round-trip floor", 2.5, ">="),
]


def bench(
    ctx: typer.Context,
    n: Annotated[
        int, typer.Option("--n", min=1000, help="Jobs per enqueue and drain measurement.")
    ] = 10_000,
    payload_bytes: Annotated[
        int, typer.Option(min=12, help="JSON payload size of each job.")
    ] = 200,
    repeat: Annotated[
        int, typer.Option(min=1, help="Runs; the median of each figure is reported.")
    ] = 1,
    processes: Annotated[
        int, typer.Option(min=1, help="Worker processes for the drain measurements.")
    ] = 1,
    prefetch: Annotated[
        str, typer.Option(help="The workers' --prefetch: auto (their default) or a number.")
    ] = "auto",
    memory_jobs: Annotated[
        int, typer.Option(min=1000, help="Waiting jobs for the memory measurement.")
    ] = 100_000,
    latency_jobs: Annotated[
        int, typer.Option(min=10, help="Jobs for the latency measurement (at 100/s).")
    ] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Floor, enqueue, drain, latency and memory figures, in throwaway queues."""
    state = runtime(ctx)
    parsing.prefetch(prefetch)  # a bad value fails before anything runs
    config = BenchConfig(
        url=state.url(),
        prefix=state.prefix,
        n=n,
        payload_bytes=payload_bytes,
        processes=processes,
        prefetch=prefetch,
        memory_jobs=memory_jobs,
        latency_jobs=latency_jobs,
    )
    interactive = sys.stderr.isatty() and not as_json
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not interactive,
        transient=True,
    )
    task = progress.add_task("starting", total=1.0)

    def report(phase: str, fraction: float) -> None:
        progress.update(task, description=phase, completed=fraction)

    async def main() -> BenchResult:
        results = []
        for run in range(repeat):
            if repeat > 1:
                report(f"run {run + 1} of {repeat}", 0.0)
            results.append(await Bench(config, report).run())
        return median_result(results)

    with progress:
        result = state.run_async(main)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_tables(result, repeat)


def _print_tables(result: BenchResult, repeat: int) -> None:
    console = Console(highlight=False)
    table = Table(title=f"messai-console bench (median of {repeat})", title_justify="left")
    table.add_column("measurement")
    table.add_column("figure", justify="right")
    table.add_column("ratio of floor", justify="right")
    table.add_column("target")
    ratios = result.ratios()
    table.add_row("floor: awaited round trips", f"{result.floor_single_ops:,.0f} /s", "1.00", "")
    table.add_row("floor: pipelined commands", f"{result.floor_pipelined_ops:,.0f} /s", "1.00", "")
    for key, label, value in [
        ("enqueue_single", "enqueue: one at a time", result.enqueue_single),
        ("enqueue_bulk", "enqueue: add_bulk", result.enqueue_bulk),
        *[(f"drain_c{c}", f"drain: concurrency {c}", rate) for c, rate in result.drain.items()],
    ]:
        target = next((t for t in TARGETS if t[0] == key), None)
        verdict = ""
        if target:
            met = ratios[key] >= target[2]
            verdict = f"{'met' if met else 'missed'}: >= {target[2]} {target[1]}"
        table.add_row(label, f"{value:,.0f} jobs/s", f"{ratios[key]:.2f}", verdict)
    latency = result.latency_ms
    if latency:
        met = latency["p50"] <= 1.0 and latency["p99"] <= 3.0
        table.add_row(
            "latency: idle start (p50 / p95 / p99)",
            f"{latency['p50']:.2f} / {latency['p95']:.2f} / {latency['p99']:.2f} ms",
            "",
            f"{'met' if met else 'missed'}: p50 <= 1 ms, p99 <= 3 ms",
        )
    met = result.memory_bytes_per_job <= 400
    table.add_row(
        "memory: per waiting job",
        f"{result.memory_bytes_per_job:,.0f} bytes",
        "",
        f"{'met' if met else 'missed'}: <= 400 bytes",
    )
    console.print(table)


def run_bench_sync(config: BenchConfig) -> BenchResult:
    """For tests and scripts: one run, no progress display."""
    return asyncio.run(Bench(config).run())
