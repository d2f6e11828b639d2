"""``messai-console bench``: measure the engine on this machine's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from messai_console.bench.measure import (
    DEFAULT_LISTPACK_VALUE,
    EMBEDDED_LISTPACK_VALUE,
    Bench,
    BenchConfig,
    BenchResult,
    SpreadResult,
    median_result,
)
from messai_console.bench.targets import verdicts
from messai_console.bench.workloads import WORKLOADS
from messai_console.cli import loops, parsing
from messai_console.cli.output import print_json
from messai_console.cli.runtime import runtime
from messai_console.embedded.server import start_server


class Servers(StrEnum):
    """``--servers``: the configured Redis, or throwaway ones started for the run."""

    configured = "configured"
    default = "default"
    embedded = "embedded"
    both = "both"


class BenchLoop(StrEnum):
    """``--loop``: the loop of the benchmark and of its workers."""

    auto = "auto"
    asyncio = "asyncio"
    uvloop = "uvloop"
    both = "both"


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
    workloads: Annotated[
        str,
        typer.Option(
            help="Jobs drained, comma-separated: noop, redis_call (one awaited INCR through "
            "a client of the job's own), sleep_1ms."
        ),
    ] = ",".join(WORKLOADS),
    servers: Annotated[
        Servers,
        typer.Option(
            help="configured: the Redis of --redis-url (or the embedded one); default / "
            "embedded / both: throwaway redis-servers on loopback TCP with Redis's default "
            "hash-max-listpack-value (64) and the embedded server's (1024)."
        ),
    ] = Servers.configured,
    loop: Annotated[
        BenchLoop,
        typer.Option(help="Event loop of the benchmark and its workers (both: each in turn)."),
    ] = BenchLoop.auto,
    spread_queues: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Queues of the spread drain: on a Redis Cluster placed on one master, then "
            "round-robin over every master (per-master jobs/s, ops/s and their balance); on "
            "one server all on it. Default: 6 on a cluster, 0 (none) on one server.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Floor, enqueue, drain, latency and memory figures, in throwaway queues."""
    state = runtime(ctx)
    parsing.prefetch(prefetch)  # a bad value fails before anything runs
    chosen_workloads = _workloads(workloads)
    loop_names = (
        [loops.LoopChoice.asyncio, loops.LoopChoice.uvloop]
        if loop is BenchLoop.both
        else [loops.LoopChoice(loop.value)]
    )
    resolved_loops = [loops.resolve(name) for name in loop_names]
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
    runs: dict[tuple[str, str], list[BenchResult]] = {}
    with progress, _servers(servers, state.url) as targets:
        # repeats interleave the combinations, so a slow spell of the shared
        # machine weighs on all of them alike
        for run in range(repeat):
            for source, url in targets:
                for loop_name in resolved_loops:
                    label = f"run {run + 1}/{repeat}, {source} Redis, {loop_name}"

                    def report(phase: str, fraction: float, label: str = label) -> None:
                        progress.update(task, description=f"{label}: {phase}", completed=fraction)

                    config = BenchConfig(
                        url=url,
                        prefix=state.prefix,
                        n=n,
                        payload_bytes=payload_bytes,
                        processes=processes,
                        prefetch=prefetch,
                        memory_jobs=memory_jobs,
                        latency_jobs=latency_jobs,
                        workloads=chosen_workloads,
                        loop=loop_name.value,
                        spread_queues=spread_queues,
                    )
                    bench_run = Bench(config, report)
                    with loops.running_on(loop_name):
                        result = state.run_async(bench_run.run)
                    runs.setdefault((source, loop_name.value), []).append(result)
    merged = [(source, median_result(results)) for (source, _), results in runs.items()]
    if as_json:
        print_json(
            {
                "repeat": repeat,
                "payload_bytes": payload_bytes,
                "results": [{"source": source, **r.to_dict()} for source, r in merged],
            }
        )
    else:
        for source, result in merged:
            _print_tables(source, result, repeat)


def _workloads(value: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in chosen if name not in WORKLOADS]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"{', '.join(unknown) or 'none given'}: choose from {', '.join(WORKLOADS)}",
            param_hint="--workloads",
        )
    return chosen


@contextlib.contextmanager
def _servers(which: Servers, configured_url: Callable[[], str]) -> Iterator[list[tuple[str, str]]]:
    """(source, url) of each Redis to measure; throwaway servers stop afterwards."""
    if which is Servers.configured:
        yield [("configured", configured_url())]
        return
    settings = {
        "default": DEFAULT_LISTPACK_VALUE,
        "embedded": EMBEDDED_LISTPACK_VALUE,
    }
    names = ["default", "embedded"] if which is Servers.both else [which.value]
    with (
        tempfile.TemporaryDirectory(prefix="messai-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        found = []
        for name in names:
            # loopback TCP and AOF everysec, as a Redis of one's own is usually run;
            # the ziplist name works on Redis 6.2 and 7
            server = start_server(
                Path(tmp) / name,
                persistent=True,
                unix_socket=False,
                extra_args=["--hash-max-ziplist-value", str(settings[name])],
            )
            stack.callback(server.stop)
            found.append((f"throwaway {name}", server.url))
        yield found


def _print_spread(console: Console, spread: SpreadResult) -> None:
    """One spread drain: each master's load, and each worker process's share."""
    per_process = ", ".join(f"{rate:,.0f}" for rate in spread.per_process_jobs_per_s)
    table = Table(
        title=(
            f"spread over {spread.masters_used} master(s): {spread.jobs_per_s:,.0f} jobs/s, "
            f"{spread.processes} worker process(es) x concurrency {spread.concurrency} "
            f"(per process: {per_process} jobs/s); ops balance (max/min) "
            f"{spread.ops_balance:.2f}"
        ),
        title_justify="left",
    )
    labels = ("master", "queues", "jobs", "jobs/s", "ops/s", "script calls/s", "CPU", "CPU/job")
    for label in labels:
        table.add_column(label, justify="left" if label == "master" else "right")
    for name, load in spread.masters.items():
        table.add_row(
            name,
            str(load.queues),
            f"{load.jobs:,}",
            f"{load.jobs_per_s:,.0f}",
            f"{load.ops_per_s:,.0f}",
            f"{load.script_calls_per_s:,.0f}",
            f"{load.cpu_percent:.0f}%",
            f"{load.cpu_us_per_job:.0f} µs" if load.jobs else "",
        )
    console.print(table)


def _print_tables(source: str, result: BenchResult, repeat: int) -> None:
    console = Console(highlight=False)
    server = result.server
    title = f"messai-console bench: {source} Redis"
    if server:
        listpack = server.hash_max_listpack_value
        title += f" {server.version}, hash-max-listpack-value {listpack} ({server.configuration})"
    title += f", {result.loop}, median of {repeat}"
    table = Table(title=title, title_justify="left")
    table.add_column("measurement")
    table.add_column("figure", justify="right")
    table.add_column("ratio of floor", justify="right")
    table.add_column("target")
    ratios = result.ratios()
    judged = verdicts(result)

    def verdict(key: str) -> str:
        found = judged.get(key)
        return f"{'met' if found.met else 'missed'}: {found.target}" if found else ""

    table.add_row("floor: awaited round trips", f"{result.floor_single_ops:,.0f} /s", "1.00", "")
    table.add_row("floor: pipelined commands", f"{result.floor_pipelined_ops:,.0f} /s", "1.00", "")
    rows = [
        ("enqueue_single", "enqueue: one at a time", result.enqueue_single),
        ("enqueue_bulk", "enqueue: add_bulk", result.enqueue_bulk),
    ]
    for workload, rates in result.drain.items():
        for concurrency, rate in rates.items():
            rows.append(
                (
                    f"drain_{workload}_c{concurrency}",
                    f"drain {workload}: concurrency {concurrency}",
                    rate,
                )
            )
    for key, label, value in rows:
        table.add_row(label, f"{value:,.0f} jobs/s", f"{ratios[key]:.2f}", verdict(key))
    latency = result.latency_ms
    if latency:
        table.add_row(
            "latency: idle start (p50 / p95 / p99)",
            f"{latency['p50']:.2f} / {latency['p95']:.2f} / {latency['p99']:.2f} ms",
            "",
            f"{verdict('latency_p50')}; {verdict('latency_p99')}",
        )
        if "lease_p50" in latency:
            table.add_row(
                "  of which, to the lease in Redis",
                f"{latency['lease_p50']:.2f} / {latency['lease_p95']:.2f} /"
                f" {latency['lease_p99']:.2f} ms",
                "",
                "",
            )
    table.add_row(
        "memory: per waiting job",
        f"{result.memory_bytes_per_job:,.0f} bytes",
        "",
        verdict("memory"),
    )
    console.print(table)
    for spread in result.spread:
        _print_spread(console, spread)
    if server and server.configuration == "default":
        console.print(
            "note: with hash-max-listpack-value 64 a job's data and options of 64 bytes to"
            " 2 KB are stored in chunks of 63, so that its hash stays a listpack; results,"
            " errors and stack traces over 64 bytes make a finished job's hash a hash table"
            " (the embedded server sets 1024)."
        )


def run_bench_sync(config: BenchConfig) -> BenchResult:
    """For tests and scripts: one run, no progress display."""
    with loops.running_on(config.loop):
        return asyncio.run(Bench(config).run())
