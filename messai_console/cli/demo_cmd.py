"""``messai-console demo``: sample jobs on every MESSAI queue, run by a worker here."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.connection import check_connection, connect
from engine.queue import BulkJob, Queue
from engine.worker import RunningJob, Worker
from messai_console.cli.runtime import runtime
from messai_console.text import visible

DEMO_QUEUES = (
    "paper-processing",
    "experiment-data",
    "email-notifications",
    "data-export",
    "ml-training",
    "database-cleanup",
    "scheduled-tasks",
)


def sample_jobs(per_queue: int, rng: random.Random) -> dict[str, list[BulkJob]]:
    """A mix per queue: quick echoes, sleeps that report progress, a few
    failures that retry, and delayed jobs."""
    jobs: dict[str, list[BulkJob]] = {}
    for queue in DEMO_QUEUES:
        batch = []
        for i in range(per_queue):
            roll = rng.random()
            if roll < 0.45:
                batch.append(BulkJob("sleep", {"ms": rng.randint(100, 900)}))
            elif roll < 0.75:
                batch.append(
                    BulkJob("echo", {"queue": queue, "n": i}, {"priority": rng.choice([1, 5, 10])})
                )
            elif roll < 0.85:
                batch.append(BulkJob("sleep", {"ms": 200}, {"delay_ms": rng.randint(500, 2500)}))
            else:
                batch.append(
                    BulkJob(
                        "fail",
                        {"message": f"demo failure in {queue}"},
                        {"attempts": 2, "backoff": {"type": "fixed", "delay_ms": 300}},
                    )
                )
        jobs[queue] = batch
    return jobs


def demo(
    ctx: typer.Context,
    per_queue: Annotated[
        int, typer.Option(min=1, max=10_000, help="Jobs added to each queue.")
    ] = 12,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Jobs the demo worker runs at once.")
    ] = 16,
    seed: Annotated[int, typer.Option(help="Random seed for the job mix.")] = 7,
) -> None:
    """Start Redis if needed, enqueue sample jobs on every queue, and run them here, printing progress."""
    state = runtime(ctx)
    url = state.url()
    rng = random.Random(seed)

    async def main() -> None:
        client = connect(url)
        try:
            await check_connection(client)
            plan = sample_jobs(per_queue, rng)
            total = sum(len(batch) for batch in plan.values())
            for queue, batch in plan.items():
                await Queue(queue, client, prefix=state.prefix).add_bulk(batch)
            print(f"added {total} jobs to {len(plan)} queues", flush=True)
            await _run_until_done(client, state.prefix, total, concurrency)
            for queue in plan:
                counts = await Queue(queue, client, prefix=state.prefix).counts()
                print(
                    f"{queue:22} completed {counts['completed']:>5}   failed {counts['failed']:>5}"
                )
        finally:
            await client.aclose()

    state.run_async(main)


async def _run_until_done(client: Any, prefix: str, total: int, concurrency: int) -> None:
    finished = 0
    all_done = asyncio.Event()
    interactive = sys.stdout.isatty()
    progress = Progress(
        TextColumn("[bold]jobs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        disable=not interactive,
    )
    task = progress.add_task("", total=total)

    def on_change(event: str, job: RunningJob, details: dict[str, Any]) -> None:
        nonlocal finished
        line = f"{job.queue.name} job={job.job_id} {visible(job.name)} {event}"
        if "error" in details:
            line += f" ({visible(details['error'], 120)})"
        if event in ("completed", "failed"):
            finished += 1
            progress.update(task, completed=finished, description=visible(line, 70))
            if finished >= total:
                all_done.set()
        if not interactive:
            print(line, flush=True)

    worker = Worker(
        list(DEMO_QUEUES), client, concurrency=concurrency, prefix=prefix, listener=on_change
    )
    runner = asyncio.create_task(worker.run())
    with progress:
        await all_done.wait()
    worker.request_stop()
    await runner
