"""``messai-console worker``: run workers in the foreground."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import sys
import time
from typing import Annotated, Any

import typer

from engine.backoff import BackoffStrategies, BackoffStrategy
from engine.connection import check_connection, connect
from engine.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED
from engine.processors import ProcessorRegistry
from engine.schedules import Scheduler
from engine.sharded import expand_queue_names
from engine.worker import RunningJob, Worker
from engine.worker.config import WorkerOptionError, check_worker_options
from messai_console.cli import loops, parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.runtime import EXIT_FAILED, EXIT_USAGE, fail, runtime
from messai_console.text import visible


def _load_attribute(spec: str, example: str) -> Any:
    """The value that ``package.module:attribute`` names (None when it has none)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"{spec!r}: use module:attribute, e.g. {example}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name}: {exc}") from None
    return getattr(module, attribute, None)


def load_backoff_strategies(spec: str) -> dict[str, BackoffStrategy]:
    """``package.module:attribute`` naming a dict of back-off strategies by name."""
    value = _load_attribute(spec, "myapp.jobs:backoffs")
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{spec} is not a dict of backoff strategies by name")
    try:
        BackoffStrategies(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{spec}: {exc}") from None
    return value


def load_processors(spec: str) -> ProcessorRegistry:
    """``package.module:attribute`` naming a ProcessorRegistry or a dict of processors."""
    value = _load_attribute(spec, "myapp.jobs:registry")
    if isinstance(value, ProcessorRegistry):
        return value
    if isinstance(value, dict):
        return ProcessorRegistry(value)
    raise typer.BadParameter(f"{spec} is not a ProcessorRegistry or a dict of processors")


def _as_flags(message: str) -> str:
    """An engine message about worker options, with the options named as flags."""
    return re.sub(
        r"\b(concurrency|lease_ms|heartbeat_ms|stall_interval_ms|max_stalled"
        r"|shutdown_grace_ms|shutdown_timeout_ms|prefetch)\b",
        lambda match: "--" + match.group(1).replace("_", "-"),
        message,
    )


def _log_line(event: str, job: RunningJob, details: dict[str, Any]) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    parts = [
        stamp,
        visible(job.queue.name),
        f"job={visible(job.job_id)}",
        visible(job.name, 80),
        event,
    ]
    if event == "active":
        parts.append(f"attempt={details.get('attempt')}")
    if "runtime_ms" in details and event != "active":
        parts.append(f"{details['runtime_ms']}ms")
    if "delay_ms" in details:
        parts.append(f"retry-in={details['delay_ms']}ms")
    if "error" in details:
        parts.append(f"error={visible(details['error'], 300)!s}")
    if details.get("lost"):
        parts.append("(lease lost)")
    print(" ".join(parts), flush=True)


def worker(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Queue to serve (repeat for several). Default: every queue of the job catalog.",
            autocompletion=queue_names,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Jobs run at once by this process.")
    ] = 1,
    processors: Annotated[
        str | None,
        typer.Option(
            help="Extra processors (added to the catalog's): module:attribute naming a "
            "ProcessorRegistry or dict."
        ),
    ] = None,
    backoff_strategies: Annotated[
        str | None,
        typer.Option(
            help="Retry delays by name for jobs added with --backoff NAME: module:attribute"
            " naming a dict of functions (attempt, error) -> ms, or None for no retry."
        ),
    ] = None,
    lease_ms: Annotated[
        int,
        typer.Option(help="Lease length; a job whose worker is silent this long runs again."),
    ] = 30_000,
    heartbeat_ms: Annotated[
        int | None,
        typer.Option(help="How often leases are extended (default: a third of --lease-ms)."),
    ] = None,
    max_stalled: Annotated[
        int,
        typer.Option(
            help="Times a job may lose its worker before it fails (a job that lost one runs"
            " alone on the next worker, so only a job that kills its worker reaches this)."
        ),
    ] = 1,
    shutdown_grace_ms: Annotated[
        int,
        typer.Option(
            help="Time running jobs get to finish on SIGTERM; then async jobs are cancelled"
            " and go back to the queue, thread jobs keep their lease until they end."
        ),
    ] = 30_000,
    shutdown_timeout_ms: Annotated[
        int | None,
        typer.Option(
            help="The longest a graceful stop takes: past it the process exits even with"
            " thread jobs running (their leases run out; another worker's sweep recovers"
            " them). Default: --shutdown-grace-ms plus 30 s."
        ),
    ] = None,
    stall_interval_ms: Annotated[
        int,
        typer.Option(help="How often abandoned jobs are looked for (and finished ones trimmed)."),
    ] = 5_000,
    keep_completed: Annotated[
        str,
        typer.Option(
            help="Completed jobs kept, for jobs without a rule of their own (a job's"
            f" remove_on_complete always wins): {parsing.KEEP_SYNTAX}."
        ),
    ] = str(DEFAULT_KEEP_COMPLETED),
    keep_failed: Annotated[
        str,
        typer.Option(
            help="Failed jobs kept, for jobs without a rule of their own (remove_on_fail wins),"
            " the same way."
        ),
    ] = str(DEFAULT_KEEP_FAILED),
    quiet: Annotated[bool, typer.Option("--quiet", help="No line per job state change.")] = False,
    prefetch: Annotated[
        str,
        typer.Option(
            help="Jobs leased beyond --concurrency so the next starts without a round trip: "
            "auto (as many as --concurrency while jobs take under 10 ms on average; "
            "one not started within 100 ms goes back to the queue) or a number (0: none).",
        ),
    ] = "auto",
    with_scheduler: Annotated[
        bool, typer.Option("--with-scheduler", help="Also fire due schedules in this process.")
    ] = False,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Development: restart gracefully (as on SIGTERM) when a processor's .py file"
            " changes (the job catalog and the --processors module's directory).",
        ),
    ] = False,
    loop: Annotated[
        loops.LoopChoice,
        typer.Option(help="Event loop: auto is uvloop when installed (faster with I/O jobs)."),
    ] = loops.LoopChoice.auto,
) -> None:
    """Run a worker in the foreground until SIGTERM or Ctrl-C (twice: at once).

    It serves the MESSAI job catalog: every catalog queue unless --queue is
    given, with the catalog's processors plus any --processors. SIGUSR1
    pauses it (running jobs finish, it takes no more), SIGUSR2 resumes it;
    so do `messai-console workers pause|resume ID` from anywhere."""
    if reload:
        from messai_console.cli.run import worker_reload

        paths = worker_reload.source_dirs(processors)
        raise typer.Exit(
            worker_reload.run_with_reload(sys.argv[1:], paths, shutdown_grace_ms / 1000)
        )
    from messai_console import jobs
    from messai_console.jobs.scheduled import init_if_enabled

    state = runtime(ctx)
    prefetch_jobs = parsing.prefetch(prefetch)  # bad input fails before anything runs
    keep_completed_rule = parsing.keep(keep_completed)
    keep_failed_rule = parsing.keep(keep_failed)
    try:
        check_worker_options(
            concurrency=concurrency,
            lease_ms=lease_ms,
            heartbeat_ms=heartbeat_ms,
            stall_interval_ms=stall_interval_ms,
            max_stalled=max_stalled,
            shutdown_grace_ms=shutdown_grace_ms,
            shutdown_timeout_ms=shutdown_timeout_ms,
            prefetch=prefetch_jobs,
            thread_pool_size=None,
        )
    except WorkerOptionError as exc:
        fail(_as_flags(str(exc)), EXIT_USAGE)
    extra = load_processors(processors) if processors else ProcessorRegistry()
    strategies = load_backoff_strategies(backoff_strategies) if backoff_strategies else None
    registry = jobs.registry.merged(extra)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    url = state.url()

    async def main() -> None:
        client = connect(url)
        try:
            await check_connection(client)
            names = await expand_queue_names(
                client, list(queue or []) or list(jobs.QUEUES), state.prefix
            )
            for name, outcome in await init_if_enabled(client, state.prefix):
                logging.info("scheduled task %s %s", name, outcome)
            jobs.configure(
                jobs.Services.from_settings(redis=client, redis_url=url, prefix=state.prefix)
            )
            worker = Worker(
                names,
                client,
                registry,
                concurrency=concurrency,
                prefix=state.prefix,
                lease_ms=lease_ms,
                heartbeat_ms=heartbeat_ms,
                max_stalled=max_stalled,
                shutdown_grace_ms=shutdown_grace_ms,
                shutdown_timeout_ms=shutdown_timeout_ms,
                stall_interval_ms=stall_interval_ms,
                prefetch=prefetch_jobs,
                keep_completed=keep_completed_rule,
                keep_failed=keep_failed_rule,
                backoff_strategies=strategies,
                listener=None if quiet else _log_line,
            )
            scheduler = Scheduler(client, state.prefix) if with_scheduler else None
            scheduling = asyncio.create_task(scheduler.run()) if scheduler else None
            worker.install_signal_handlers()
            print(
                f"worker {worker.id} serving {', '.join(visible(n) for n in names)}"
                f" with concurrency {concurrency}, prefetch {visible(prefetch)},"
                f" keeping completed {keep_completed_rule}, failed {keep_failed_rule}",
                file=sys.stderr,
                flush=True,
            )
            try:
                await worker.run()
            finally:
                if scheduler and scheduling:
                    scheduler.request_stop()
                    await scheduling
            threads_left[0] = worker.threads_left
            print(f"worker {worker.id} stopped", file=sys.stderr, flush=True)
        finally:
            await client.aclose()

    threads_left = [0]
    with loops.running_on(loop) as chosen_loop:
        logging.info("event loop: %s", chosen_loop)
        state.run_async(main)
    if threads_left[0]:
        # The interpreter would wait for the job threads at exit: leave now,
        # as the shutdown timeout says (their leases run out; a sweep recovers them).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FAILED)
