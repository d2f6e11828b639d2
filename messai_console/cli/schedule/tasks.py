"""``messai-console jobs ...``: the platform's own scheduled tasks (daily_report,
weekly_digest, monthly_analytics, system_health_check)."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.cron import InvalidScheduleError
from messai_console.cli.output import print_line
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime
from messai_console.cli.schedule.schedules import AsJson, show_schedules

app = typer.Typer(help="The platform's scheduled tasks: init, list, clean.", no_args_is_help=True)

# `messai_console.jobs.scheduled` is imported inside each command: importing it
# loads the whole catalog, which the other commands need not wait for.


@app.command("init")
def jobs_init(
    ctx: typer.Context,
    tz: Annotated[
        str | None, typer.Option(help="Time zone (default: MESSAI_TIMEZONE, else UTC).")
    ] = None,
) -> None:
    """Create or update the platform's scheduled tasks."""
    from messai_console.jobs import scheduled

    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        try:
            done = await scheduled.init_scheduled_jobs(client, state.prefix, tz)
        except InvalidScheduleError as exc:
            fail(str(exc), EXIT_FAILED)
        for name, outcome in done:
            print_line(f"{name}: {outcome}")

    state.run(action)


@app.command("list")
def jobs_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The platform's scheduled tasks with their next and last fire."""
    from messai_console.jobs import scheduled

    state = runtime(ctx)
    state.run(
        lambda client: show_schedules(scheduled.list_scheduled_jobs(client, state.prefix), as_json)
    )


@app.command("clean")
def jobs_clean(ctx: typer.Context) -> None:
    """Remove the platform's scheduled tasks (other schedules stay)."""
    from messai_console.jobs import scheduled

    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        removed = await scheduled.clean_scheduled_jobs(client, state.prefix)
        print_line(
            f"removed {len(removed)} scheduled tasks"
            + (f": {', '.join(removed)}" if removed else "")
        )

    state.run(action)
