"""An idle screen stays still: refreshes that read the same data redraw nothing
but the clock (ages to the minute, tab labels and info lines set only when they
change, and the screens underneath not drawn at all)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio
from textual.widgets import Static, Tab

from engine import Queue
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.widgets import StatusBar
from tests.helpers import await_until
from tests.tui.support import SIZE, console, open_queue


async def test_an_idle_queue_screen_redraws_no_row_and_nothing_underneath(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add_bulk([("echo", {"n": n}) for n in range(100)])
    now = [time.time()]
    app = console(redis_url)
    app.clock = lambda: now[0]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 100)
        overview = app.screen_stack[-2]
        assert isinstance(overview, OverviewScreen)
        await app.refresh_now()
        beneath = overview.query_one(StatusBar).content
        labels = [tab.label for tab in screen.query(Tab)]
        info = screen.query_one("#page-info", Static).content
        updated: list[Any] = []
        update_cell = screen.table.update_cell

        def counted(*args: Any, **kwargs: Any) -> Any:
            updated.append(args[:2])
            return update_cell(*args, **kwargs)

        screen.table.update_cell = counted  # type: ignore[method-assign]
        for _ in range(5):  # five seconds pass, nothing changes in Redis
            now[0] += 1
            await app.refresh_now()
        assert updated == []  # "<1m ago" still: no row redrawn
        assert all(tab.label is label for tab, label in zip(screen.query(Tab), labels, strict=True))
        assert screen.query_one("#page-info", Static).content is info
        assert overview.query_one(StatusBar).content is beneath  # the clock under: not drawn
        await pilot.press("escape")  # back on top, its clock is current again
        await await_until(lambda: overview.query_one(StatusBar).content is not beneath)
