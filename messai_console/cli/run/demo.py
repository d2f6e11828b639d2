"""``messai-console demo``: sample MESSAI data, real work on every queue, run here.

Seeds the platform store (small PDF papers with MES figures, raw experiment
CSVs, users, some clutter for the cleanup jobs), then enqueues a realistic
mix on every catalog queue: paper and experiment chains that end in an
email, exports, model training, cleanup, reports and a health check, a few
jobs that fail and retry, and some delayed ones. Then it opens the console
with a worker running beside it, or with ``--headless`` runs the jobs here
and prints progress until every queue is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.connection import check_connection, connect
from engine.monitor import queue_stats
from engine.queue import Queue
from engine.worker import RunningJob, Worker
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime
from messai_console.text import visible

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from messai_console.store import Store
    from messai_console.store.samples import SeededData

EMAIL_RATE_LIMIT = (20, 1000)
"""The demo's queue-wide limit on email-notifications: 20 sends per second."""


@dataclass
class Plan:
    """What the demo enqueues: single jobs, and chains of steps."""

    jobs: list[tuple[str, str, Any, dict[str, Any]]] = field(default_factory=list)
    chains: list[tuple[list[tuple[str, str, Any]], dict[str, Any]]] = field(default_factory=list)

    def add(self, queue: str, name: str, data: Any = None, **options: Any) -> None:
        self.jobs.append((queue, name, data, options))

    @property
    def total(self) -> int:
        return len(self.jobs) + sum(len(steps) for steps, _options in self.chains)


def demo_plan(
    seeded: SeededData, store: Store, per_queue: int, small: bool, rng: random.Random
) -> Plan:
    """The mix of jobs: real work on every queue, plus a few diagnostics."""
    from messai_console.jobs import QUEUES, queues
    from messai_console.jobs.creators import payloads

    plan = Plan()
    owner = {row["id"]: row["email"] for row in store.rows("users")}
    admin = owner["user-admin"]
    later = 1.0 if small else 2.5  # seconds: after the chains have produced data
    # Papers: extract, analyse, then tell the owner (the first as the bare three-step chain).
    for index, paper_id in enumerate(seeded.papers):
        steps = ["extract_pdf", "analyze_content"]
        if index:
            steps += ["extract_parameters", "generate_embeddings"]
        chain = [payloads.paper(paper_id, step) for step in steps]
        chain.append(
            payloads.email(owner["user-lena"], "paper_processed", {"paper_id": paper_id}, "normal")
        )
        plan.chains.append((chain, {}))
    if seeded.papers:
        plan.add(
            queues.PAPER_PROCESSING,
            "extract_parameters",
            {"paper_id": seeded.papers[0]},
            delay_ms=int(later * 1000),
        )
    # An upload that was cut short: fails, retries twice, then fails for good.
    plan.add(
        queues.PAPER_PROCESSING,
        "extract_pdf",
        {"paper_id": seeded.corrupt_paper},
        attempts=3,
        backoff={"type": "fixed", "delay_ms": 400},
    )
    # Experiments: parse, compute, report, tell the owner.
    for experiment_id in seeded.experiments:
        experiment = store.get("experiments", experiment_id)
        user = experiment["user_id"] if experiment else "user-lena"
        chain = [
            payloads.experiment(experiment_id, step, user)
            for step in ("process_results", "calculate_metrics", "generate_report")
        ]
        chain.append(
            payloads.email(
                owner[user], "experiment_complete", {"experiment_id": experiment_id}, "normal"
            )
        )
        plan.chains.append((chain, {}))
    plan.add(
        queues.EXPERIMENT_DATA, "process_results", {"experiment_id": seeded.malformed_experiment}
    )
    # Emails: welcomes (the admin's first), and a paced batch.
    for user_id, address in owner.items():
        name = address.split("@")[0].replace(".", " ").title()
        plan.add(
            *payloads.email(
                address, "welcome", {"name": name}, "high" if user_id == "user-admin" else "normal"
            )
        )
    plan.add(
        *payloads.batch(
            "report",
            list(owner.values()),
            {
                "title": "maintenance window tonight",
                "lines": ["The platform is read-only from 22:00 to 22:30 UTC."],
            },
            10.0,
        )
    )
    # Exports, training, reports: delayed until the chains have produced data.
    delayed = int(later * 1000)
    plan.add(*payloads.export("papers", "csv", None), delay_ms=delayed)
    plan.add(*payloads.export("experiments", "excel", None), delay_ms=delayed)
    plan.add(*payloads.export("parameters", "json", None), delay_ms=delayed + 500)
    plan.add(*payloads.export("full_backup", "excel", admin), delay_ms=delayed + 500)
    training: dict[str, Any] = {
        "delay_ms": delayed,
        "attempts": 6,
        "backoff": {"type": "fixed", "delay_ms": 1000},
    }
    plan.add(*payloads.training("prediction", {"n_estimators": 30}), **training)
    plan.add(*payloads.training("classification", None), **training)
    plan.add(*payloads.training("parameter_extraction", {"epochs": 10}), **training)
    for task in ("remove_orphaned_files", "clean_temp_data", "archive_old_data"):
        plan.add(*payloads.cleanup(task, None))
    plan.add(*payloads.cleanup("optimize_indexes", None), delay_ms=delayed + 1000)
    plan.add(queues.SCHEDULED_TASKS, "system_health_check", {})
    plan.add(
        queues.SCHEDULED_TASKS, "daily_report", {"email_admins": True}, delay_ms=delayed + 1000
    )
    plan.add(queues.SCHEDULED_TASKS, "weekly_digest", {}, delay_ms=delayed + 1000)
    plan.add(queues.SCHEDULED_TASKS, "monthly_analytics", {}, delay_ms=delayed + 1000)
    # Diagnostics: a short sleep that reports progress, and a failure that retries.
    for queue in QUEUES:
        for index in range(per_queue):
            if index % 2 == 0:
                plan.add(queue, "sleep", {"ms": rng.randint(100, 400)})
            else:
                plan.add(
                    queue,
                    "fail",
                    {"message": f"demo failure in {queue}"},
                    attempts=2,
                    backoff={"type": "fixed", "delay_ms": 300},
                )
    return plan


async def enqueue(client: Redis, prefix: str, plan: Plan) -> None:
    from messai_console.jobs import creators, queues

    for steps, options in plan.chains:
        await creators.enqueue_chain(steps, redis=client, prefix=prefix, **options)
    for queue, name, data, options in plan.jobs:
        await creators.enqueue(queue, name, data, redis=client, prefix=prefix, **options)
    await Queue(queues.EMAIL_NOTIFICATIONS, client, prefix=prefix).set_rate_limit(*EMAIL_RATE_LIMIT)


def demo(
    ctx: typer.Context,
    headless: Annotated[
        bool, typer.Option("--headless", help="Run the jobs here and print progress; no console.")
    ] = False,
    small: Annotated[
        bool, typer.Option("--small", help="Two papers and one short experiment (quick).")
    ] = False,
    per_queue: Annotated[
        int,
        typer.Option(min=0, max=1000, help="Diagnostic jobs (sleep, fail) added to each queue."),
    ] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs the demo worker runs at once.")] = 8,
    timeout_s: Annotated[
        float, typer.Option("--timeout", min=1, help="Headless: give up after this many seconds.")
    ] = 300,
    seed: Annotated[int, typer.Option(help="Random seed for the diagnostic jobs.")] = 7,
) -> None:
    """Seed sample MESSAI data, enqueue real work on every queue, and open the console
    with a worker running (--headless: run the jobs here and print progress)."""
    from messai_console.jobs import Services, configure
    from messai_console.store import open_store
    from messai_console.store.samples import seed as seed_data

    state = runtime(ctx)
    url = state.url()
    store = open_store()
    seeded = seed_data(store, small=small)
    plan = demo_plan(seeded, store, per_queue, small, random.Random(seed))
    console = None if headless else _console_runner()

    async def main() -> None:
        client = connect(url)
        try:
            await check_connection(client)
            await enqueue(client, state.prefix, plan)
            print(
                f"sample data in {store.paths.root}: {len(seeded.papers)} papers, "
                f"{len(seeded.experiments)} experiments, {len(seeded.users)} users",
                flush=True,
            )
            print(f"added {plan.total} jobs to {len(_queues())} queues", flush=True)
            if console is not None:
                return
            configure(Services(store=store, prefix=state.prefix, redis=client, redis_url=url))
            try:
                done = await _run_until_done(
                    client, state.prefix, plan.total, concurrency, timeout_s
                )
            finally:
                configure(None)
            stats = await queue_stats(client, _queues(), state.prefix)
            for queue, counts in stats.items():
                print(
                    f"{queue:22} completed {counts['completed']:>5}   failed {counts['failed']:>5}"
                )
            _print_artifacts(store)
            if not done:
                fail(f"jobs still pending after {timeout_s:g} s (is a queue paused?)", EXIT_FAILED)
        finally:
            await client.aclose()

    state.run_async(main)
    if console is not None:
        _run_console_with_worker(console, url, state.prefix, concurrency, store.paths.root)


def _queues() -> list[str]:
    from messai_console.jobs import QUEUES

    return list(QUEUES)


def _console_runner() -> Any:
    """The console's entry point when it is installed and this is a terminal; else None."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    try:
        module = importlib.import_module("messai_console.tui")
    except ImportError:
        return None
    return getattr(module, "run_console", None)


def _run_console_with_worker(
    console: Any, url: str, prefix: str, concurrency: int, data_dir: Path
) -> None:
    """The console in the foreground, a worker process serving the catalog beside it."""
    log_path = data_dir / "demo-worker.log"
    command = [
        sys.executable,
        "-c",
        "from messai_console.cli import main; main()",
        "--redis-url",
        url,
        "worker",
        "--concurrency",
        str(concurrency),
        "--shutdown-grace-ms",
        "5000",
    ]
    with log_path.open("a") as log:
        worker = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            console(url, prefix)
        finally:
            worker.terminate()  # SIGTERM: a graceful stop
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    print(f"worker log: {log_path}")


async def _run_until_done(
    client: Redis, prefix: str, initial: int, concurrency: int, timeout_s: float
) -> bool:
    """Run a worker on every catalog queue until they are all idle; False on timeout."""
    from messai_console.jobs import registry

    queues = _queues()
    finished = 0
    seen: set[tuple[str, str]] = set()
    changed = asyncio.Event()
    interactive = sys.stdout.isatty()
    progress = Progress(
        TextColumn("[bold]jobs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        disable=not interactive,
    )
    bar = progress.add_task("", total=initial)

    def on_change(event: str, job: RunningJob, details: dict[str, Any]) -> None:
        nonlocal finished
        seen.add((job.queue.name, job.job_id))
        line = f"{job.queue.name} job={visible(job.job_id)} {visible(job.name)} {event}"
        if "error" in details:
            line += f" ({visible(details['error'], 120)})"
        if event in ("completed", "failed"):
            finished += 1
            progress.update(
                bar,
                completed=finished,
                total=max(initial, len(seen)),
                description=visible(line, 70),
            )
            changed.set()
        if not interactive:
            print(line, flush=True)

    worker = Worker(
        queues, client, registry, concurrency=concurrency, prefix=prefix, listener=on_change
    )
    runner = asyncio.create_task(worker.run())
    deadline = time.monotonic() + timeout_s
    done = False
    with progress:
        while time.monotonic() < deadline:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.5)
            if runner.done():
                break
            if finished >= initial and await _idle(client, queues, prefix):
                done = True
                break
    worker.request_stop()
    await runner
    return done


async def _idle(client: Redis, queues: list[str], prefix: str) -> bool:
    stats = await queue_stats(client, queues, prefix)
    return all(
        counts["waiting"] + counts["active"] + counts["delayed"] + counts["pending"] == 0
        for counts in stats.values()
    )


def _print_artifacts(store: Store) -> None:
    paths = store.paths

    def count(directory: Path, pattern: str = "*") -> int:
        return (
            sum(1 for path in directory.glob(pattern) if path.is_file())
            if directory.exists()
            else 0
        )

    print(
        f"emails in {paths.outbox}: {count(paths.outbox, '*.eml')}; exports: {count(paths.exports)}; "
        f"reports: {count(paths.reports)}; models: {count(paths.models)}; "
        f"parameters extracted: {store.count('parameters')}"
    )
