"""Scale, live updates and a lost Redis, with the real console on real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.connection import connect
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import PAGE_SIZE, QueueScreen
from messai_console.tui.widgets import StatusBar
from tests.helpers import RedisFactory, await_until
from tests.tui.support import SIZE, console, wait_for_rows, wait_for_screen

RunWorkers = Callable[..., Awaitable[Worker]]


async def test_a_queue_of_200000_waiting_jobs_loads_one_page_at_a_time(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("big", redis_client)
    ids = await queue.add_bulk(("noop", None) for _ in range(200_000))
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("enter")
        screen = await wait_for_screen(app, QueueScreen)
        await wait_for_rows(screen.table, PAGE_SIZE)
        assert screen.table.keys == ids[:PAGE_SIZE]
        assert "200,000" in str(screen.query_one("#waiting").label)
        await pilot.press("end", "down")  # past the last row: the next page, from the server
        await await_until(lambda: screen.table.keys[:1] == [ids[PAGE_SIZE]])
        assert screen.table.cursor_row == 0
        await pilot.press("right_square_bracket")  # ] jumps a page
        await await_until(lambda: screen.table.keys[:1] == [ids[2 * PAGE_SIZE]])
        await pilot.press("up")  # above the first row: the previous page
        await await_until(lambda: screen.table.keys[:1] == [ids[PAGE_SIZE]])
        # the rows are in before the cursor moves to the last of them
        await await_until(lambda: screen.table.cursor_key == ids[2 * PAGE_SIZE - 1])
        assert screen.rows_loaded < 1000, f"{screen.rows_loaded} job rows read"


async def test_progress_shows_in_the_open_job_screen_without_a_key_press(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    report = asyncio.Event()
    finish = asyncio.Event()

    async def slow(ctx: JobContext) -> str:
        await report.wait()
        await ctx.progress(42, "halfway there")
        await finish.wait()
        return "done"

    queue = Queue("papers", redis_client)
    job = await queue.add("slow", {})
    await run_workers("papers", {"slow": slow})
    await await_until(lambda: _is_active(queue, job.id))
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        app.open_job("papers", job.id)
        screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: screen.job is not None and screen.job.state == "active")
        await pilot.press("minus", "minus", "minus", "minus")  # refresh every 30 s only
        assert app.interval_s == 30
        report.set()
        # Only the event stream can bring it this fast: no key, no periodic refresh.
        await await_until(lambda: "42%" in str(screen.query_one("#progress").render()), timeout=5)
        assert "halfway there" in str(screen.query_one("#progress").render())
        finish.set()


async def _is_active(queue: Queue, job_id: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == "active"


def _status_line(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    return str(screen.query_one(StatusBar).render())


async def test_redis_lost_then_back_the_console_says_so_and_recovers(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory(persistent=True)
    client = connect(server.url)
    try:
        await Queue("papers", client).add("echo", {})
    finally:
        await client.aclose()
    app = console(server.url)
    async with app.run_test(size=SIZE):
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await await_until(lambda: app.status.connected is True)

        server.stop()
        await await_until(lambda: app.status.connected is False, timeout=15)
        assert "disconnected" in _status_line(app)
        assert overview.has_class("-stale")
        assert overview.table.row_count == 1  # the last data stays, greyed

        redis_factory(persistent=True, port=server.port, data_dir=server.data_dir)
        await await_until(lambda: app.status.connected is True, timeout=15)
        assert "connected" in _status_line(app) and "disconnected" not in _status_line(app)
        assert not overview.has_class("-stale")
        await wait_for_rows(overview.table, 1)
