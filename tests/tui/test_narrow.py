"""At 80x24 the status bar keeps the mode and the clock in view, whatever the message."""

from __future__ import annotations

import re

import redis.asyncio

from engine import Queue
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.widgets import StatusBar
from tests.helpers import await_until
from tests.tui.support import console, wait_for_rows, wait_for_screen


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
