"""Helpers for console tests: waiting on screens and rows, finishing jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.widgets import Button

from engine import Queue, Worker
from messai_console.tui import make_app
from messai_console.tui.app import ConsoleApp
from messai_console.tui.dialogs import ConfirmScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from tests.helpers import await_until

SIZE = (140, 40)
"""The terminal size every console test uses."""


async def finish_jobs(
    run_workers: Callable[..., Awaitable[Worker]],
    queue: Queue,
    completed: int = 0,
    failed: int = 0,
) -> None:
    """Run a worker on ``queue`` until it holds that many completed and failed jobs."""
    worker = await run_workers(queue.name, concurrency=4)

    async def reached() -> bool:
        counts = await queue.counts()
        return counts["completed"] >= completed and counts["failed"] >= failed

    await await_until(reached, timeout=15)
    worker.request_stop()


async def wait_for_screen(app: ConsoleApp, kind: type, timeout: float = 10) -> Any:
    await await_until(
        lambda: isinstance(app.screen, kind) and app.screen.is_mounted, timeout=timeout
    )
    return app.screen


async def wait_for_rows(table: Any, count: int, timeout: float = 10) -> None:
    await await_until(
        lambda: table.row_count == count,
        timeout=timeout,
        message=f"table has {table.row_count} rows, expected {count}",
    )


def console(url: str, readonly: bool = False) -> ConsoleApp:
    app = make_app(url, readonly=readonly)
    assert isinstance(app, ConsoleApp)
    app.animation_level = "none"  # the pilot waits for animations after each key
    return app


async def confirm(app: ConsoleApp, pilot: Any, button: str = "yes") -> None:
    """In the open confirm dialog: move the focus from Cancel to ``button`` and press it."""
    dialog = await wait_for_screen(app, ConfirmScreen)
    assert isinstance(app.focused, Button) and app.focused.id == "cancel"
    while app.focused is not None and app.focused.id != f"choice-{button}":
        await pilot.press("right")
    await pilot.press("enter")
    await await_until(lambda: app.screen is not dialog)


async def open_queue(app: ConsoleApp, pilot: Any, state: str, rows: int) -> QueueScreen:
    overview = await wait_for_screen(app, OverviewScreen)
    await wait_for_rows(overview.table, 1)
    await pilot.press("enter")
    screen = await wait_for_screen(app, QueueScreen)
    while screen.state != state:
        await pilot.press("tab")
    await wait_for_rows(screen.table, rows)
    return screen


def screen_lines(app: ConsoleApp) -> list[str]:
    """The text of every line the terminal shows now (as a terminal would render it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
