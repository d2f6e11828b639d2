"""The root command: global options and the subcommand groups."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from messai_console import __version__
from messai_console.cli import acl, job, queue, redis_server, workers
from messai_console.cli.monitor import events, overview, performance
from messai_console.cli.run import bench, demo, serve, web, worker
from messai_console.cli.runtime import Runtime
from messai_console.cli.schedule import scheduler, schedules, tasks

app = typer.Typer(
    name="messai-console",
    help="Run and operate the MESSAI job queues: console, workers and scripted commands.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Command groups, one typer app each ...
app.add_typer(job.app, name="job")
app.add_typer(queue.app, name="queue")
app.add_typer(redis_server.app, name="redis")
app.add_typer(schedules.app, name="schedule")
app.add_typer(tasks.app, name="jobs")
app.add_typer(workers.app, name="workers")
# ... and the commands of the root.
app.command("scheduler")(scheduler.scheduler)
app.command("overview")(overview.overview)
app.command("events")(events.events)
app.command("performance")(performance.performance)
app.command("worker")(worker.worker)
app.command("demo")(demo.demo)
app.command("bench")(bench.bench)
app.command("serve")(serve.serve)
app.command("web")(web.web)
app.command("acl")(acl.acl)


@app.callback()
def root(
    ctx: typer.Context,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Redis to use (overrides REDIS_URL and REDIS_HOST...).",
            show_default=False,
        ),
    ] = None,
    readonly: Annotated[
        bool,
        typer.Option(
            "--readonly", help="Look, never change: the console and commands refuse writes."
        ),
    ] = False,
    read_from_replica: Annotated[
        bool,
        typer.Option(
            "--read-from-replica",
            help="Read from a replica (the console, overview, events, stats, job get/list);"
            " actions still go to the master.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """With no command: open the console."""
    ctx.obj = Runtime(
        redis_url=redis_url, debug=debug, readonly=readonly, read_from_replica=read_from_replica
    )
    if ctx.invoked_subcommand is None:
        open_console(ctx.obj)


def on_terminal() -> bool:
    """The console draws full screen and reads keys: it needs a terminal on every side."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_console(state: Runtime) -> None:
    """Start the console (imported only here: the commands never load the TUI)."""
    try:
        tui = importlib.import_module("messai_console.tui")
    except ModuleNotFoundError as exc:
        if exc.name != "messai_console.tui":
            raise
        tui = None
    run_console = getattr(tui, "run_console", None)
    if run_console is None:
        typer.echo(
            "The console is not built yet; try `messai-console demo` or `messai-console --help`."
        )
        raise typer.Exit(0)
    if not on_terminal():
        typer.echo(
            "The console needs a terminal; for scripts see the commands of `messai-console --help`."
        )
        raise typer.Exit(0)
    run_console(state.url(), state.prefix, readonly=state.readonly)
    raise typer.Exit(0)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    # One name however it is started (`python -m` too): shell completion finds the
    # command by it (_MESSAI_CONSOLE_COMPLETE).
    app(prog_name="messai-console")
