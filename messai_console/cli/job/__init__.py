"""``messai-console job ...``: add, inspect and act on jobs."""

from __future__ import annotations

import typer

from messai_console.cli.job import actions, add, change, read, watch

app = typer.Typer(help="Add, inspect and act on jobs.", no_args_is_help=True)

app.command("add")(add.add)
app.command("get")(read.get)
app.command("list")(read.list_jobs)
app.command("retry")(actions.retry)
app.command("cancel")(actions.cancel)
app.command("remove")(actions.remove)
app.command("promote")(actions.promote)
app.command("priority")(change.priority)
app.command("delay")(change.delay)
app.command("update")(change.update)
app.command("logs")(watch.logs)
app.command("wait")(watch.wait)
