"""``messai-console acl <role>``: the ACL rules of a producer, worker or console user."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.acl import ROLES, rules, setuser_command
from messai_console.cli.runtime import EXIT_USAGE, fail, runtime


def acl(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")],
    user: Annotated[
        str | None,
        typer.Option("--user", help="Print a whole ACL SETUSER line for this user name."),
    ] = None,
) -> None:
    """Print the least-privilege ACL rules of a role for this version's scripts
    (the keys under the prefix only); print them again after an upgrade."""
    if role not in ROLES:
        fail(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", EXIT_USAGE)
    prefix = runtime(ctx).prefix
    typer.echo(setuser_command(role, user, prefix=prefix) if user else rules(role, prefix))
