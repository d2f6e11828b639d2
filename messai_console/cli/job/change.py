"""``messai-console job priority|delay|update``: change a job that has not started."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.errors import InvalidJobError
from messai_console.cli import parsing
from messai_console.cli.job.actions import JobId, Queue_
from messai_console.cli.job.payloads import validate_payload
from messai_console.cli.output import print_line
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime
from messai_console.text import visible


def priority(
    ctx: typer.Context,
    queue: Queue_,
    job_id: JobId,
    value: Annotated[str, typer.Argument(help="high, normal, low, or a number (0 runs first).")],
) -> None:
    """Give a waiting or delayed job another priority (a waiting one moves
    behind the jobs of its new priority)."""
    new = parsing.priority(value)
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        now = await (await state.existing_queue(client, queue)).change_priority(job_id, new)
        print_line(f"job {visible(job_id)} now has priority {new} ({now})")

    state.run(action)


def delay(
    ctx: typer.Context,
    queue: Queue_,
    job_id: JobId,
    value: Annotated[
        str, typer.Argument(help="Due this long from now: 500ms, 10s, 5m (0: waiting now).")
    ],
) -> None:
    """Make a waiting or delayed job due after a delay from now."""
    delay_ms = parsing.duration_ms(value)
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        now = await (await state.existing_queue(client, queue)).change_delay(job_id, delay_ms)
        due = f"due in {delay_ms} ms" if now == "delayed" else "waiting"
        print_line(f"job {visible(job_id)} is {due}")

    state.run(action)


def update(
    ctx: typer.Context,
    queue: Queue_,
    job_id: JobId,
    data: Annotated[str, typer.Option(help="The new data as JSON, or @file (@- for stdin).")],
) -> None:
    """Replace the data of a waiting or delayed job (checked by the job catalog)."""
    payload = parsing.json_data(data)
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        target = await state.existing_queue(client, queue)
        job = await target.require_job(job_id)
        try:
            checked = validate_payload(queue, job.name, payload)
        except InvalidJobError as exc:
            fail(str(exc), EXIT_FAILED)
        await target.update_data(job_id, checked)
        print_line(f"job {visible(job_id)} data updated")

    state.run(action)
