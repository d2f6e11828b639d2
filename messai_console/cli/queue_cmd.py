"""``messai-console queue ...``: queue statistics and administration."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.queue import Queue
from messai_console.cli.output import print_json, print_table
from messai_console.cli.runtime import runtime

app = typer.Typer(help="Inspect and administer queues.", no_args_is_help=True)


@app.command("stats")
def stats(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: counts per state and paused.")
    ] = False,
) -> None:
    """Jobs per state, and whether the queue is paused."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        q = Queue(queue, client, prefix=state.prefix)
        await q.require_exists()
        counts = await q.stats()
        if as_json:
            print_json(counts)
        else:
            print_table(
                ["state", "jobs"],
                [[name, value] for name, value in counts.items()],
                title=f"queue {queue}",
            )

    state.run(action)
