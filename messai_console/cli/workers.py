"""``messai-console workers ...``: the worker processes, and pausing one.

A paused worker takes no jobs and keeps running: its running jobs finish,
its prefetched ones go back to the queue. The command reaches it through
Redis wherever it runs (the same as ``kill -USR1 <pid>`` on its host).
"""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.monitor import list_workers, server_time_ms
from engine.worker.control import WorkerCommand, send_worker_command
from messai_console.cli.output import format_duration_ms, print_json, print_line, print_table
from messai_console.cli.runtime import runtime
from messai_console.text import visible

app = typer.Typer(help="List worker processes; pause and resume one.", no_args_is_help=True)

WorkerId = Annotated[str, typer.Argument(help="Worker id (see `messai-console workers list`).")]


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: one object per worker.")
    ] = False,
) -> None:
    """Workers that beat within the last day: load, state, last heartbeat."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        workers = await list_workers(client, state.prefix)
        now = await server_time_ms(client)
        if as_json:
            print_json([{**w.to_dict(), "silent": w.is_silent(now)} for w in workers])
            return
        print_table(
            ["worker", "state", "queues", "running", "done", "failed", "last beat"],
            [
                [
                    w.id,
                    "silent" if w.is_silent(now) else "paused" if w.paused else "taking jobs",
                    ",".join(w.queues),
                    f"{w.running}/{w.concurrency}",
                    w.done,
                    w.failed,
                    f"{format_duration_ms(w.silent_for_ms(now))} ago",
                ]
                for w in workers
            ],
            title=f"{len(workers)} workers",
        )

    state.run(action)


def _send(ctx: typer.Context, worker_id: str, command: WorkerCommand, done: str) -> None:
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        heard = await send_worker_command(client, worker_id, command, state.prefix)
        line = f"worker {visible(repr(worker_id))} {done}"
        if not heard:
            line += " (it is not listening now: it applies this at its next heartbeat)"
        print_line(line)

    state.run(action)


@app.command("pause")
def pause(ctx: typer.Context, worker_id: WorkerId) -> None:
    """Stop a worker from taking jobs; its running jobs finish, prefetched ones go back."""
    _send(ctx, worker_id, WorkerCommand.PAUSE, "paused")


@app.command("resume")
def resume(ctx: typer.Context, worker_id: WorkerId) -> None:
    """Let a paused worker take jobs again."""
    _send(ctx, worker_id, WorkerCommand.RESUME, "resumed")
