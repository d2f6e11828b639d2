"""Keys do what the help says: ctrl+p, space, job keys offered only where they apply,
and `? Keys` in the footer at any width."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio
from textual.command import CommandPalette

from engine import Queue, Worker
from messai_console.tui.dialogs import KEYS, ConfirmScreen, ErrorScreen, HelpScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from tests.helpers import await_until
from tests.tui.support import (
    SIZE,
    console,
    finish_jobs,
    open_queue,
    screen_lines,
    wait_for_rows,
    wait_for_screen,
)

RunWorkers = Callable[..., Awaitable[Worker]]


async def test_ctrl_p_opens_the_command_palette_as_the_readme_says(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add("echo", {})
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("ctrl+p")
        await wait_for_screen(app, CommandPalette)


async def test_space_marks_and_moves_to_the_next_row_as_the_help_says(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    ids = await Queue("papers", redis_client).add_bulk([("echo", {"n": n}) for n in range(3)])
    assert any(key == "space" and "move to the next" in what for _w, key, what in KEYS)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 3)
        await pilot.press("space")
        assert screen.marked == {ids[0]}
        assert screen.table.cursor_key == ids[1]


def _footer(app: object) -> str:
    return screen_lines(app)[-1]  # type: ignore[arg-type]


async def test_failed_jobs_are_not_offered_promote_or_cancel_and_waiting_ones_no_retry(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("fail", {"message": "boom"})
    await finish_jobs(run_workers, queue, failed=1)
    await queue.add("echo", {})
    app = console(redis_url)
    async with app.run_test(size=(200, 40)) as pilot:
        screen = await open_queue(app, pilot, "waiting", 1)
        await await_until(lambda: "Cancel" in _footer(app))
        assert "Retry " not in _footer(app) and "Promote" not in _footer(app)
        await pilot.press("r")  # not offered: nothing happens, no modal
        assert not isinstance(app.screen, ErrorScreen | ConfirmScreen)
        while screen.state != "failed":
            await pilot.press("tab")
        await wait_for_rows(screen.table, 1)
        await await_until(lambda: "Retry " in _footer(app))
        assert "Cancel" not in _footer(app) and "Promote" not in _footer(app)
        await pilot.press("enter")
        job_screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: job_screen.detail is not None)
        await await_until(lambda: "Retry" in _footer(app))
        footer = _footer(app)
        assert "Promote" not in footer and "Cancel" not in footer and "Remove" in footer
        await pilot.press("P", "x")
        assert app.screen is job_screen  # neither an error nor a question
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(app, HelpScreen)
        assert help_screen.unavailable["promote"] == "not for a failed job"
        assert "retry" not in help_screen.unavailable


@pytest.mark.parametrize("width", [80, 100, 140])
async def test_keys_and_read_only_stay_visible_on_the_queue_screen_at_any_width(
    redis_client: redis.asyncio.Redis, redis_url: str, width: int
) -> None:
    await Queue("a-queue-with-a-rather-long-name-for-a-narrow-terminal", redis_client).add(
        "echo", {}
    )
    app = console(redis_url, readonly=True)
    async with app.run_test(size=(width, 24)) as pilot:
        await open_queue(app, pilot, "waiting", 1)
        await await_until(lambda: "? Keys" in _footer(app))
        lines = screen_lines(app)
        assert "READ-ONLY" in lines[1], lines[1]
