"""``messai-console job ...``: add and inspect jobs."""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio
import typer

from engine.errors import JobNotFoundError
from engine.queue import Queue
from messai_console.cli import parsing
from messai_console.cli.output import print_json, print_table
from messai_console.cli.runtime import runtime

app = typer.Typer(help="Add, inspect and act on jobs.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    name: Annotated[str, typer.Argument(help="Job name: the processor that runs it.")],
    data: Annotated[
        str | None, typer.Option(help="Job data as JSON, or @file (@- for stdin).")
    ] = None,
    delay: Annotated[
        str | None, typer.Option(help="Start no sooner than this from now: 500ms, 10s, 5m.")
    ] = None,
    delay_ms: Annotated[int | None, typer.Option(min=0, help="Delay in milliseconds.")] = None,
    priority: Annotated[
        str | None, typer.Option(help="high, normal, low, or a number (0 runs first).")
    ] = None,
    attempts: Annotated[
        int | None, typer.Option(min=1, help="Runs allowed before the job fails for good.")
    ] = None,
    backoff: Annotated[
        str | None, typer.Option(help="Delay between attempts: exponential:1s or fixed:500ms.")
    ] = None,
    job_id: Annotated[
        str | None, typer.Option(help="Your own id; adding an existing id returns that job.")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Run-time limit per attempt: 30s, 5m.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Add a job and print its id."""
    payload = parsing.json_data(data)
    options: dict[str, Any] = {}
    if delay is not None:
        options["delay_ms"] = parsing.duration_ms(delay)
    if delay_ms is not None:
        options["delay_ms"] = delay_ms
    if priority is not None:
        options["priority"] = parsing.priority(priority)
    if attempts is not None:
        options["attempts"] = attempts
    if backoff is not None:
        options["backoff"] = parsing.backoff(backoff)
    if job_id is not None:
        options["job_id"] = job_id
    if timeout is not None:
        options["timeout_ms"] = parsing.duration_ms(timeout)
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        job = await Queue(queue, client, prefix=state.prefix).add(name, payload, options)
        if as_json:
            print_json(job.to_dict())
        else:
            print(job.id)

    state.run(action)


@app.command("get")
def get(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Show one job: state, data, attempts, result or error."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        q = Queue(queue, client, prefix=state.prefix)
        await q.require_exists()
        job = await q.get_job(job_id)
        if job is None:
            raise JobNotFoundError(queue, job_id)
        if as_json:
            print_json(job.to_dict())
            return
        described = job.to_dict()
        print_table(
            ["field", "value"],
            [[key, value] for key, value in described.items()],
            title=f"job {job_id}",
        )

    state.run(action)
