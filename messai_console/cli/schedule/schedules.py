"""``messai-console schedule ...``: any schedule in Redis (add, list, remove)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import redis.asyncio
import typer

from engine.cron import InvalidScheduleError, ms
from engine.schedules import ScheduleInfo, Schedules, parse_spec
from messai_console.cli import parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.output import print_json, print_line, print_table
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime

app = typer.Typer(help="Create, list and remove schedules.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON: one object per schedule.")]


def _when(text: str | None, tz: str) -> int | None:
    """An ISO date or date-time (in ``tz`` unless it has an offset) as epoch ms."""
    if text is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or date-time, e.g. 2026-12-01T06:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return ms(moment)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Schedule name (adding an existing name replaces it).")
    ],
    queue: Annotated[str, typer.Option(help="Queue the jobs go to.", autocompletion=queue_names)],
    job: Annotated[str, typer.Option(help="Job name (the processor).")],
    data: Annotated[str | None, typer.Option(help="Job data as JSON, or @file.")] = None,
    cron: Annotated[
        str | None,
        typer.Option(
            help='Cron expression, e.g. "30 2 * * *"; six fields put seconds first: "*/10 * * * * *".'
        ),
    ] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "UTC",
    every: Annotated[
        str | None, typer.Option(help="Interval instead of cron: 30s, 5m, 1h.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Not before this ISO date-time.")] = None,
    end: Annotated[str | None, typer.Option(help="Not after this ISO date-time.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Fire at most this many times.")] = None,
    immediately: Annotated[bool, typer.Option(help="Also fire once right away.")] = False,
    as_json: AsJson = False,
) -> None:
    """Create or replace a schedule (exactly one of --cron and --every)."""
    state = runtime(ctx)
    state.require_writable()
    if (cron is None) == (every is None):
        raise typer.BadParameter("give exactly one of --cron and --every")
    try:
        spec = parse_spec(
            name=name,
            queue=queue,
            job=job,
            data=parsing.json_data(data),
            cron=cron,
            tz=tz,
            every_ms=parsing.duration_ms(every) if every else None,
            start_ms=_when(start, tz),
            end_ms=_when(end, tz),
            limit=limit,
            immediately=immediately,
        )
    except InvalidScheduleError as exc:
        fail(str(exc), EXIT_FAILED)

    async def action(client: redis.asyncio.Redis) -> None:
        schedules = Schedules(client, state.prefix)
        outcome = await schedules.upsert(spec)
        info = await schedules.get(name)
        if as_json:
            print_json({"result": outcome, **(info.to_dict() if info else {})})
        else:
            when = info.to_dict()["next_fire"] if info else None
            print_line(f"schedule {name} {outcome}; next fire {when['local'] if when else 'never'}")

    state.run(action)


@app.command("list")
def list_schedules(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every schedule with its next fire (local and UTC), last fire and count."""
    state = runtime(ctx)
    state.read(lambda client: show_schedules(list_all(client, state.prefix), as_json))


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Schedule name.")]) -> None:
    """Remove a schedule (jobs it already created stay)."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        if not await Schedules(client, state.prefix).remove(name):
            fail(f"no schedule named {name!r}", EXIT_FAILED)
        print_line(f"schedule {name} removed")

    state.run(action)


async def list_all(client: redis.asyncio.Redis, prefix: str) -> list[ScheduleInfo]:
    return await Schedules(client, prefix).list()


async def show_schedules(pending: Any, as_json: bool) -> None:
    infos: list[ScheduleInfo] = await pending
    described = [info.to_dict() for info in infos]
    if as_json:
        print_json(described)
        return
    rows = []
    for item in described:
        rule = item["cron"] + f" ({item['tz']})" if item["cron"] else f"every {item['every_ms']} ms"
        next_fire, last_fire = item["next_fire"], item["last_fire"]
        rows.append(
            [
                item["name"],
                item["queue"],
                item["job"],
                rule,
                next_fire["local"] if next_fire else ("ended" if item["ended"] else "never"),
                next_fire["utc"] if next_fire else "",
                last_fire["local"] if last_fire else "",
                item["count"],
            ]
        )
    print_table(
        ["name", "queue", "job", "when", "next (local)", "next (UTC)", "last fire", "count"],
        rows,
        title=f"{len(rows)} schedules",
    )
