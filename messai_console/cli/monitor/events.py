"""``messai-console events``: the queues' event streams, kept history or live."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import redis.asyncio
import typer

from engine.events import Event, parse_event
from engine.keys import QueueKeys
from engine.queue import list_queues
from messai_console.cli import parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.output import print_json, print_line
from messai_console.cli.runtime import Runtime, runtime
from messai_console.text import visible

FOLLOW_BLOCK_MS = 1000
"""How long one read waits for new events before the queue registry is looked at again."""


def _order(event: Event) -> tuple[int, int]:
    ms, _, seq = event.stream_id.partition("-")
    return int(ms), int(seq or 0)


def format_event(event: Event) -> str:
    """One line: local time, id, queue, event, job and the event's fields; all made visible."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.timestamp_ms / 1000))
    parts = [
        f"{stamp}.{event.timestamp_ms % 1000:03d}",
        event.stream_id,
        visible(event.queue),
        visible(event.name),
        f"job={visible(event.job_id)}" if event.job_id else "-",
    ]
    parts.extend(f"{visible(key)}={visible(value, 300)}" for key, value in event.fields.items())
    return " ".join(parts)


def events(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Only this queue (repeat for several). Default: all.",
            autocompletion=queue_names,
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Events after this id (0: every event kept); with --follow too."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=100_000, help="Events to print at most (without --follow).")
    ] = 100,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="JSON lines: queue, id, ts, event, job_id and fields per event."
        ),
    ] = False,
) -> None:
    """Print the events of every queue (or some): the latest ones, or live with --follow."""
    start = parsing.stream_id(since) if since is not None else None
    state = runtime(ctx)

    def emit(batch: list[Event]) -> None:
        for event in sorted(batch, key=_order):
            if as_json:
                print_json(event.to_dict())
            else:
                print_line(format_event(event))

    async def action(client: redis.asyncio.Redis) -> None:
        names = list(dict.fromkeys(queue or []))
        for name in names:
            await state.existing_queue(client, name)
        if follow:
            await _follow(client, state, names, start, emit)
        else:
            emit(await _history(client, state.prefix, names, start, limit))

    state.read(action)


async def _history(
    client: redis.asyncio.Redis, prefix: str, names: list[str], since: str | None, limit: int
) -> list[Event]:
    """The newest ``limit`` events, or the first ``limit`` after ``since``, over the queues."""
    found: list[Event] = []
    for name in names or await list_queues(client, prefix):
        key = QueueKeys(name, prefix).events
        entries: Any
        if since is None:
            entries = reversed(await client.xrevrange(key, "+", "-", count=limit) or [])
        else:
            entries = await client.xrange(
                key, f"({since}" if since != "0" else "-", "+", count=limit
            )
        found.extend(parse_event(name, stream_id, raw) for stream_id, raw in entries)
    found.sort(key=_order)
    return found[:limit] if since is not None else found[-limit:]


async def _follow(
    client: redis.asyncio.Redis,
    state: Runtime,
    names: list[str],
    since: str | None,
    emit: Any,
) -> None:
    """Read every stream from its position; with no queue given, pick up new queues too."""
    positions: dict[str, str] = {}
    queue_of: dict[str, str] = {}

    async def track(candidates: list[str], start: str | None) -> None:
        for name in candidates:
            key = QueueKeys(name, state.prefix).events
            if key in positions:
                continue
            queue_of[key] = name
            if start is not None:
                positions[key] = start
            elif await client.exists(key):
                # Pin "now" so that nothing written between two reads is missed.
                positions[key] = str((await client.xinfo_stream(key))["last-generated-id"])
            else:
                positions[key] = "0-0"

    await track(names or await list_queues(client, state.prefix), since)
    while True:
        reply: Any = None
        if positions:
            reply = await client.xread(positions, count=500, block=FOLLOW_BLOCK_MS)  # type: ignore[arg-type]
        else:
            await asyncio.sleep(FOLLOW_BLOCK_MS / 1000)  # no queue yet: nothing to block on
        batch = []
        for key, entries in reply or []:
            for stream_id, raw in entries:
                positions[key] = stream_id
                batch.append(parse_event(queue_of[key], stream_id, raw))
        emit(batch)
        if not names:
            # Queues created after we started: everything they wrote is new.
            await track(await list_queues(client, state.prefix), "0-0")
