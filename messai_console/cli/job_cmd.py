"""``messai-console job ...``: add, inspect and act on jobs."""

from __future__ import annotations

import typer

from messai_console.cli import job_actions, job_add, job_read, job_watch

app = typer.Typer(help="Add, inspect and act on jobs.", no_args_is_help=True)

app.command("add")(job_add.add)
app.command("get")(job_read.get)
app.command("list")(job_read.list_jobs)
app.command("retry")(job_actions.retry)
app.command("cancel")(job_actions.cancel)
app.command("remove")(job_actions.remove)
app.command("promote")(job_actions.promote)
app.command("logs")(job_watch.logs)
app.command("wait")(job_watch.wait)
