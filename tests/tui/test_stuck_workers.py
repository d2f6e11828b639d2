"""The Workers screen marks a worker that runs jobs but finishes none for
longer than its lease (the data comes from the worker registry)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio

from engine import JobContext, Queue, Worker
from messai_console.tui.screens.workers import WorkersScreen
from tests.helpers import await_until
from tests.tui.support import console, wait_for_rows, wait_for_screen


async def test_a_worker_that_finishes_nothing_for_a_lease_is_shown_stuck(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    run_workers: Callable[..., Awaitable[Worker]],
) -> None:
    release = asyncio.Event()

    async def hang(ctx: JobContext) -> None:
        await release.wait()

    queue = Queue("stuck", redis_client)
    await queue.add("hang")
    await run_workers("stuck", {"hang": hang}, lease_ms=600)
    app = console(redis_url)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("w")
            screen = await wait_for_screen(app, WorkersScreen)
            await wait_for_rows(screen.table, 1)

            def running_cell() -> str:
                return str(screen.table.get_row_at(0)[5])

            await await_until(lambda: "stuck" in running_cell(), timeout=10)
            totals = str(app.screen.query_one("#worker-totals").render())
            assert "1 stuck" in totals
            release.set()
            await await_until(lambda: "stuck" not in running_cell(), timeout=10)
    finally:
        release.set()
