"""``messai-console job retry|cancel|remove|promote``: act on one job (or every failed one)."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from messai_console.cli.completion import queue_names
from messai_console.cli.output import print_line
from messai_console.cli.progress import watched
from messai_console.cli.runtime import confirm, runtime
from messai_console.text import descendants_text, visible

CONFIRM_RETRY_OVER = 1000
"""Retrying more failed jobs than this at once asks first."""

Queue_ = Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)]
JobId = Annotated[str, typer.Argument(help="Job id.")]


def retry(
    ctx: typer.Context,
    queue: Queue_,
    job_id: Annotated[
        str | None, typer.Argument(help="Job id (or --all-failed).", show_default=False)
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Retry every failed job of the queue.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (needed off a terminal).")
    ] = False,
) -> None:
    """Send a failed job (or all of them) back to waiting with fresh attempts."""
    if (job_id is None) == (not all_failed):
        raise typer.BadParameter("give a job id or --all-failed (not both)")
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        if job_id is not None:
            await q.retry_job(job_id)
            print_line(f"job {visible(job_id)} sent back to waiting")
            return
        failed = (await q.counts())["failed"]
        if failed > CONFIRM_RETRY_OVER:
            confirm(f"retry {failed} failed jobs of queue {queue!r}", yes)

        async def retried() -> int:
            return failed - (await q.counts())["failed"]

        async with watched(f"retrying {queue}", failed, retried):
            moved = await q.retry_failed()
        print_line(f"retried {moved} failed jobs of queue {visible(repr(queue))}")

    state.run(action)


def cancel(ctx: typer.Context, queue: Queue_, job_id: JobId) -> None:
    """Cancel a job: removed if it had not started, stopped by its worker if running."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        outcome = await (await state.existing_queue(client, queue)).cancel(job_id)
        if outcome == "removed":
            print_line(f"job {visible(job_id)} cancelled before it started (removed)")
        else:
            print_line(f"job {visible(job_id)} is running: its worker was told to stop it")

    state.run(action)


def remove(ctx: typer.Context, queue: Queue_, job_id: JobId) -> None:
    """Delete a job that is not running, with its logs and the jobs it waits for
    that have not run (a flow's children, however deep, in any queue)."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        removal = await (await state.existing_queue(client, queue)).remove_job(job_id)
        line = f"job {visible(job_id)} removed (it was {visible(removal.state)})"
        if removal.descendants:
            line += f", with {descendants_text(removal.descendants)}"
        print_line(line)

    state.run(action)


def promote(ctx: typer.Context, queue: Queue_, job_id: JobId) -> None:
    """Run a delayed job now: move it to waiting."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        await (await state.existing_queue(client, queue)).promote(job_id)
        print_line(f"job {visible(job_id)} promoted to waiting")

    state.run(action)
