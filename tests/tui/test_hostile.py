"""Hostile strings in job names, data and errors: shown inert, never run by the terminal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio

from engine import Queue, Worker
from messai_console.tui.screens.events import EventsScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, finish_jobs, wait_for_rows, wait_for_screen

RunWorkers = Callable[..., Awaitable[Worker]]

OSC8_LINK = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"
HOSTILE = (
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;pwned title\x07"  # set the terminal title
    + OSC8_LINK
    + "\u202eevil\u202c\u2066x\u2069"  # bidi overrides and isolates
    + "[bold]b[/bold] [link=https://evil.example]l[/link] [red "  # markup, unbalanced
    + "\x9b31m\x07\x08\r\n"  # C1 CSI, bell, backspace, carriage return
)
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\x08", "\u202e", "\u2066", "\u2069")


def assert_inert(svg: str, full_text: bool = False) -> None:
    """No raw control character in the exported screen; escapes shown instead. Where a
    whole hostile string is on screen (``full_text``), its markup shows as text."""
    for char in RAW_CONTROLS:
        assert char not in svg, f"raw {char!r} reached the screen"
    assert "\\x1b" in svg
    if full_text:
        assert "[bold]b[/bold]" in svg.replace("&#160;", " ")
        assert "\\u202e" in svg


async def test_hostile_names_data_and_errors_render_inert(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    megabyte = HOSTILE * (1_048_576 // len(HOSTILE))
    data = {HOSTILE: HOSTILE, "blob": megabyte, "nested": [HOSTILE, {"k": OSC8_LINK}]}
    failing = await queue.add(HOSTILE[:200], {"message": HOSTILE + megabyte})
    await queue.add_bulk([("fail", {"message": HOSTILE})])
    await finish_jobs(run_workers, queue, failed=2)
    # The worker ran "fail"; the failing job's own name is the hostile one.
    waiting = await queue.add(HOSTILE[:200], data)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("enter")
        screen = await wait_for_screen(app, QueueScreen)
        await wait_for_rows(screen.table, 1)
        assert_inert(app.export_screenshot())

        await pilot.press("enter")
        job_screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: job_screen.detail is not None)
        assert job_screen.job_id == waiting.id
        assert_inert(app.export_screenshot(), full_text=True)

        await pilot.press("escape")
        await wait_for_screen(app, QueueScreen)
        await pilot.press("tab", "tab", "tab", "tab")
        await await_until(lambda: screen.state == "failed")
        await wait_for_rows(screen.table, 2)
        assert_inert(app.export_screenshot())

        app.open_job("papers", failing.id)
        failed_screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: failed_screen.detail is not None)
        assert failed_screen.job is not None and failed_screen.job.error
        assert_inert(app.export_screenshot())

        await pilot.press("e")
        events = await wait_for_screen(app, EventsScreen)
        await await_until(lambda: events.table.row_count > 0)
        assert_inert(app.export_screenshot())
