"""The Workers screen shows a paused worker and `p` pauses or resumes the
highlighted one (through Redis, as from any host); a read-only console does
not offer the key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio

from engine import Worker
from engine.keys import worker_key
from engine.worker.control import CONTROL_FIELD
from messai_console.tui.screens.workers import WorkersScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, screen_lines, wait_for_rows, wait_for_screen

RunWorkers = Callable[..., Awaitable[Worker]]


def row_text(screen: WorkersScreen, worker_id: str) -> str:
    table = screen.table
    return " ".join(str(cell) for cell in table.get_row_at(table.get_row_index(worker_id)))


async def test_p_pauses_and_resumes_the_highlighted_worker(
    redis_url: str, run_workers: RunWorkers
) -> None:
    first = await run_workers("papers", worker_id="worker-one")
    second = await run_workers("exports", worker_id="worker-two")
    app = console(redis_url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("w")
        screen = await wait_for_screen(app, WorkersScreen)
        await wait_for_rows(screen.table, 2)
        assert "Pause/resume" in screen_lines(app)[-1]
        screen.table.move_cursor(row=screen.table.get_row_index("worker-two"))
        await pilot.press("p")
        await await_until(lambda: second.paused, timeout=10)
        assert not first.paused
        await app.refresh_now()
        await await_until(lambda: "paused" in row_text(screen, "worker-two"), timeout=10)
        assert "paused" not in row_text(screen, "worker-one")
        totals = str(screen.query_one("#worker-totals").render())
        assert "1 paused" in totals
        assert any("worker-two paused" in n.message for n in app._notifications)

        assert screen.table.cursor_key == "worker-two"
        await pilot.press("p")
        await await_until(lambda: not second.paused, timeout=10)
        await app.refresh_now()
        await await_until(lambda: "paused" not in row_text(screen, "worker-two"), timeout=10)


async def test_a_readonly_console_does_not_offer_pausing_a_worker(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    worker = await run_workers("papers", worker_id="worker-one")
    app = console(redis_url, readonly=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("w")
        screen = await wait_for_screen(app, WorkersScreen)
        await wait_for_rows(screen.table, 1)
        assert "Pause/resume" not in screen_lines(app)[-1]
        await pilot.press("p")
        await app.refresh_now()
        await pilot.pause()
    assert not worker.paused
    assert await redis_client.hget(worker_key("worker-one"), CONTROL_FIELD) is None
