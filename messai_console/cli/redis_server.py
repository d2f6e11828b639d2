"""``messai-console redis ...``: the embedded Redis server."""

from __future__ import annotations

import typer

from engine.settings import mask_url
from messai_console.cli.runtime import EXIT_FAILED, EXIT_REDIS, fail
from messai_console.embedded import (
    EmbeddedRedisError,
    embedded_status,
    ensure_embedded,
    stop_embedded,
)
from messai_console.settings import settings

app = typer.Typer(help="Start, stop and inspect the embedded Redis.", no_args_is_help=True)


@app.command("status")
def status() -> None:
    """Whether the embedded Redis runs, and where."""
    data_dir = settings().data.data_dir
    server = embedded_status(data_dir)
    if server is None:
        print(f"embedded Redis: not running (data dir {data_dir})")
        raise typer.Exit(EXIT_FAILED)
    print(
        f"embedded Redis: running at {mask_url(server.url)}, pid {server.pid}, data in {server.data_dir}"
    )


@app.command("start")
def start() -> None:
    """Start the embedded Redis (or report the running one)."""
    try:
        server, started = ensure_embedded(settings().data.data_dir)
    except EmbeddedRedisError as exc:
        fail(str(exc), EXIT_REDIS)
    how = "started" if started else "already running"
    print(f"embedded Redis {how} at {mask_url(server.url)} (data in {server.data_dir})")


@app.command("stop")
def stop() -> None:
    """Stop the embedded Redis; its data stays on disk."""
    try:
        stopped = stop_embedded(settings().data.data_dir)
    except EmbeddedRedisError as exc:
        fail(str(exc), EXIT_REDIS)
    print("embedded Redis stopped" if stopped else "embedded Redis was not running")
