"""The root command: global options and the subcommand groups."""

from __future__ import annotations

from typing import Annotated

import typer

from messai_console import __version__
from messai_console.cli import demo_cmd, job_cmd, queue_cmd, redis_cmd, worker_cmd
from messai_console.cli.runtime import Runtime

app = typer.Typer(
    name="messai-console",
    help="Run and operate the MESSAI job queues: console, workers and scripted commands.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(job_cmd.app, name="job")
app.add_typer(queue_cmd.app, name="queue")
app.add_typer(redis_cmd.app, name="redis")
app.command("worker")(worker_cmd.worker)
app.command("demo")(demo_cmd.demo)


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
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """With no command: open the console."""
    ctx.obj = Runtime(redis_url=redis_url, debug=debug)
    if ctx.invoked_subcommand is None:
        typer.echo(
            "The console is not built yet; try `messai-console demo` or `messai-console --help`."
        )
        raise typer.Exit(0)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
