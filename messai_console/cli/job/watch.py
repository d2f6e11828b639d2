"""``messai-console job logs`` and ``job wait``: follow one job until it finishes."""

from __future__ import annotations

import asyncio
from typing import Annotated

import redis.asyncio
import typer

from engine.errors import JobFailedError, JobNotFoundError, WaitTimeoutError
from engine.job import Job
from messai_console.cli import parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.output import format_duration_ms, print_json, print_line, to_json
from messai_console.cli.progress import progress_bar
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime
from messai_console.text import visible

FINISHED = ("completed", "failed")
FOLLOW_POLL_S = 0.25

Queue_ = Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)]
JobId = Annotated[str, typer.Argument(help="Job id.")]


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of ``current`` not yet seen in ``previous``.

    A job's log only grows at the end and loses lines at the front once it
    reaches its cap, so ``current`` is a suffix of ``previous`` followed by
    the new lines: find the shortest dropped prefix that makes them line up."""
    for dropped in range(len(previous) + 1):
        kept = previous[dropped:]
        if current[: len(kept)] == kept:
            return current[len(kept) :]
    return current


def logs(
    ctx: typer.Context,
    queue: Queue_,
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job ends.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines: queue, job_id and line.")
    ] = False,
) -> None:
    """Print the log lines of a job (the processor's ctx.log lines and each failed attempt)."""
    state = runtime(ctx)

    def emit(lines: list[str]) -> None:
        for line in lines:
            if as_json:
                print_json({"queue": queue, "job_id": job_id, "line": line})
            else:
                print_line(visible(line))

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        await q.require_job(job_id)
        seen = await q.get_logs(job_id)
        emit(seen)
        while follow:
            job = await q.get_job(job_id)
            current = await q.get_logs(job_id)
            emit(new_lines(seen, current))
            seen = current
            if job is None or job.state in FINISHED:
                return
            await asyncio.sleep(FOLLOW_POLL_S)

    state.read(action)


def wait(
    ctx: typer.Context,
    queue: Queue_,
    job_id: JobId,
    timeout: Annotated[
        str | None, typer.Option(help="Give up after this long (exit 1): 30s, 5m.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the finished job as JSON.")
    ] = False,
) -> None:
    """Wait until a job finishes: exit 0 when it completed, 1 when it failed or time ran out."""
    timeout_ms = parsing.duration_ms(timeout) if timeout is not None else None
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> Job:
        q = await state.existing_queue(client, queue)
        await q.require_job(job_id)
        with progress_bar(None if not as_json else False) as bar:
            task = bar.add_task(f"job {visible(job_id)}", total=100)

            def show_progress(job: Job) -> None:
                if isinstance(job.progress, int | float):
                    bar.update(task, completed=job.progress)

            timeout_s = None if timeout_ms is None else timeout_ms / 1000
            try:
                return await q.wait_for(job_id, timeout_s, on_change=show_progress)
            except WaitTimeoutError as exc:
                fail(f"timed out after {timeout}: job {job_id} is still {exc.job.state}")
            except JobFailedError as exc:
                return exc.job
            except JobNotFoundError:
                fail(f"job {job_id} was removed before it finished")

    job = state.read(action)
    if as_json:
        print_json(job.to_dict())
    if job.state == "completed":
        if not as_json:
            result = "" if job.result is None else f": {visible(to_json(job.result), 200)}"
            print_line(
                f"job {visible(job_id)} completed in {format_duration_ms(job.run_time_ms)}{result}"
            )
        return
    how = "was cancelled" if job.cancelled else f"failed: {job.error or 'no error recorded'}"
    fail(f"job {job_id} {how}", EXIT_FAILED)
