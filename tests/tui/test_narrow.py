"""At 80x24 the status bar keeps the mode and the clock in view, whatever the message."""

from __future__ import annotations

import re

import redis.asyncio
from textual.widgets import Static

from engine import Queue
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from messai_console.tui.widgets import StatusBar
from tests.helpers import await_until
from tests.tui.support import console, screen_lines, wait_for_rows, wait_for_screen


async def test_a_long_warning_never_pushes_read_only_or_the_clock_off_an_80_column_bar(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add("echo", {})
    app = console(redis_url, readonly=True)
    async with app.run_test(size=(80, 24)):
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        bar = overview.query_one(StatusBar)
        # The test server runs without an append-only file: the console warns at length.
        await await_until(lambda: "append-only" in str(bar.render()))
        second = str(bar.render()).split("\n")[1]
        assert len(second) <= 78
        assert "READ-ONLY" in second and "every 1s" in second
        assert re.search(r"\d\d:\d\d:\d\d$", second.rstrip()), second  # the clock, whole
        assert "…" in second  # the warning gave way


async def test_at_80x24_the_header_footer_totals_and_job_summary_fit(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk([("echo", {"n": n}) for n in range(1_500)])
    await queue.add("echo", {}, delay_ms=3_600_000)
    app = console(redis_url, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        totals = overview.query_one("#totals", Static)
        await await_until(lambda: "1,500" in str(totals.render()))
        lines = str(totals.render()).split("\n")
        assert len(lines) == 2 and all(len(line) <= 78 for line in lines), lines
        await await_until(lambda: totals.size.height == 2)  # laid out, nothing wrapped
        shown = screen_lines(app)
        assert "READ-ONLY" in shown[1] and re.search(r"\d\d:\d\d:\d\d\s*$", shown[1])
        assert "? Keys" in shown[-1]
        await pilot.press("enter")
        await wait_for_screen(app, QueueScreen)
        await await_until(lambda: "? Keys" in screen_lines(app)[-1])
        await pilot.press("enter")
        job = await wait_for_screen(app, JobScreen)
        await await_until(lambda: job.detail is not None)
        summary = str(job.query_one("#summary", Static).render()).split("\n")
        assert "name" in summary[0] and "state" in summary[0], summary  # one row each
        assert len(summary) == 5
        shown = screen_lines(app)
        assert "READ-ONLY" in shown[1] and "? Keys" in shown[-1]
