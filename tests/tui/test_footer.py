"""Every screen keeps `? Keys` in its footer, at 80x24 and at 130x40: whatever keys
the footer has no room for, the list of all of them is one key away."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

from engine import Queue
from messai_console.tui.dialogs import HelpScreen
from messai_console.tui.screens.errors import ErrorsScreen
from messai_console.tui.screens.events import EventsScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.metrics import MetricsScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from messai_console.tui.screens.schedules import SchedulesScreen
from messai_console.tui.screens.workers import WorkersScreen
from tests.helpers import await_until
from tests.tui.support import console, screen_lines, wait_for_rows, wait_for_screen

SCREENS: dict[str, tuple[tuple[str, ...], type]] = {
    "overview": ((), OverviewScreen),
    "queue": (("enter",), QueueScreen),
    "job": (("enter", "enter"), JobScreen),
    "errors": (("E",), ErrorsScreen),
    "workers": (("w",), WorkersScreen),
    "events": (("e",), EventsScreen),
    "schedules": (("s",), SchedulesScreen),
    "metrics": (("m",), MetricsScreen),
}


@pytest.mark.parametrize("size", [(80, 24), (130, 40)], ids=["80x24", "130x40"])
@pytest.mark.parametrize("name", list(SCREENS))
async def test_every_screen_keeps_keys_in_its_footer(
    redis_client: redis.asyncio.Redis, redis_url: str, name: str, size: tuple[int, int]
) -> None:
    await Queue("a-queue-with-a-rather-long-name", redis_client).add("echo", {"n": 1})
    keys, kind = SCREENS[name]
    app = console(redis_url, readonly=True)
    async with app.run_test(size=size) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        for key in keys:
            before: Any = app.screen
            await pilot.press(key)
            await await_until(lambda before=before: app.screen is not before)
        await wait_for_screen(app, kind)
        await await_until(lambda: "? Keys" in screen_lines(app)[-1], message=name)
        await pilot.press("question_mark")  # and the key opens the list of every key
        await wait_for_screen(app, HelpScreen)
