"""The operations console: a Textual app over the engine's operator views.

``make_app`` builds the app (the CLI, the tests and the screenshot script use
it); ``run_console`` runs it in the terminal.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App

__all__ = ["make_app", "run_console"]


def make_app(
    url: str,
    prefix: str = "messai",
    readonly: bool = False,
    clock: Callable[[], float] | None = None,
) -> App[None]:
    """The console for the Redis at ``url`` (keys under ``prefix``).

    ``readonly`` refuses every action; ``clock`` (epoch seconds) replaces
    ``time.time`` for everything the console shows about time.
    """
    from messai_console.tui.app import ConsoleApp

    return ConsoleApp(url, prefix, readonly=readonly, clock=clock)


def run_console(url: str, prefix: str, readonly: bool = False) -> None:
    """Run the console in this terminal until the operator quits."""
    make_app(url, prefix, readonly=readonly).run()
