"""``messai-console job get`` and ``job list``: read jobs, paged on the server."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.job import Job
from messai_console.cli.completion import queue_names
from messai_console.cli.output import (
    format_duration_ms,
    format_ms,
    print_json,
    print_table,
    to_json,
)
from messai_console.cli.parsing import JobState
from messai_console.cli.runtime import runtime

MAX_LIMIT = 1000


def describe(job: Job) -> list[list[object]]:
    """Field/value rows for a person; data, options and result as JSON."""
    rows: list[list[object]] = [
        ["id", job.id],
        ["queue", job.queue],
        ["name", job.name],
        ["state", job.state + (" (cancel requested)" if job.cancel_requested else "")],
        ["data", to_json(job.data)],
        ["options", to_json(job.options.model_dump(exclude_defaults=True))],
        ["attempts made", job.attempts_made],
        ["stalls", job.stalls],
        ["manual retries", job.manual_retries],
        ["progress", "" if job.progress is None else to_json(job.progress)],
        ["result", "" if job.result is None else to_json(job.result)],
        ["error", job.error or ""],
        ["created", format_ms(job.created_ms)],
        ["started", format_ms(job.started_ms)],
        ["finished", format_ms(job.finished_ms)],
        ["run time", format_duration_ms(job.run_time_ms)],
        ["worker", job.worker or ""],
    ]
    if job.cancelled:
        rows.append(["cancelled", "yes"])
    if job.stack:
        rows.append(["stack", job.stack])
    return rows


def get(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)],
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Show one job: state, data, attempts, result or error."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        job = await (await state.existing_queue(client, queue)).require_job(job_id)
        if as_json:
            print_json(job.to_dict())
        else:
            print_table(["field", "value"], describe(job), title=f"job {job_id}", max_chars=2000)

    state.read(action)


def list_jobs(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)],
    status: Annotated[JobState, typer.Option("--status", "-s", help="Jobs in this state.")],
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="Jobs to show at most.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Jobs to skip first.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: total, offset, limit and the jobs.")
    ] = False,
) -> None:
    """A page of jobs in one state: waiting in run order, delayed by due time, finished newest first."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        total = (await q.counts())[status.value]
        jobs = await q.get_jobs(status.value, offset, offset + limit - 1)
        if as_json:
            print_json(
                {
                    "queue": queue,
                    "status": status.value,
                    "total": total,
                    "offset": offset,
                    "limit": limit,
                    "jobs": [job.to_dict() for job in jobs],
                }
            )
            return
        shown = f"{offset + 1}-{offset + len(jobs)}" if jobs else "none"
        print_table(
            ["id", "name", "attempts", "created", "finished", "run time", "error"],
            [
                [
                    job.id,
                    job.name,
                    job.attempts_made,
                    format_ms(job.created_ms),
                    format_ms(job.finished_ms),
                    format_duration_ms(job.run_time_ms),
                    job.error or "",
                ]
                for job in jobs
            ],
            title=f"{queue}: {status.value} jobs {shown} of {total}",
            max_chars=80,
        )

    state.read(action)
