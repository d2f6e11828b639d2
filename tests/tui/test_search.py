"""`/` on a queue searches job names, ids and data through the whole state on the
server, a bounded step at a time, and says how far it got."""

from __future__ import annotations

import time

import redis.asyncio
from textual.widgets import Input

from engine import Queue
from messai_console.tui.backend import SEARCH_PAGE
from messai_console.tui.screens.queue import PAGE_SIZE, SEARCH_STEP_GAP_S
from tests.helpers import await_until
from tests.tui.support import SIZE, console, open_queue
from tests.tui.test_bursts import commands_so_far


async def test_a_search_finds_text_in_the_data_of_a_job_deep_in_the_state(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    jobs = [("extract", {"paper_id": f"paper-{n}"}) for n in range(12_000)]
    jobs[11_000] = ("extract", {"paper_id": "needle-42", "title": "On queues"})
    ids = await queue.add_bulk(jobs)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", PAGE_SIZE)
        before = await commands_so_far(redis_client)
        started = time.monotonic()
        await pilot.press("slash")
        field = screen.query_one("#filter", Input)
        field.value = "NEEDLE-42"  # any case
        await pilot.press("enter")
        search = screen.search
        assert search is not None
        await await_until(lambda: not search.running, timeout=30)
        elapsed = time.monotonic() - started
        commands = await commands_so_far(redis_client) - before
        assert screen.table.keys == [ids[11_000]]
        assert search.searched == 12_000
        info = str(screen.query_one("#page-info").render())
        assert "1 matching" in info and "searched 12,000 of 12,000" in info
        # Bounded work per step, steps spaced: the search's pace is the stated one.
        steps = 12_000 / SEARCH_PAGE
        assert elapsed >= (steps - 1) * SEARCH_STEP_GAP_S
        print(f"search: {commands} commands in {elapsed:.1f} s = {commands / elapsed:.0f}/s")
        assert commands / elapsed <= (SEARCH_PAGE + 10) / SEARCH_STEP_GAP_S + 200

        await pilot.press("escape")  # clears the search: the first page again
        await await_until(lambda: screen.table.row_count == PAGE_SIZE)
        assert screen.search is None and screen.table.keys[0] == ids[0]


async def test_a_search_stops_at_a_page_of_matches_and_searches_a_new_tab_too(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk(("send_email", {"to": f"user{n}@example.org"}) for n in range(3_000))
    await queue.add_bulk(
        ("send_email", {"to": f"late{n}@example.org"}, {"delay_ms": 3_600_000}) for n in range(3)
    )
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", PAGE_SIZE)
        await pilot.press("slash")
        screen.query_one("#filter", Input).value = "example.org"
        await pilot.press("enter")
        await await_until(lambda: screen.search is not None and not screen.search.running)
        assert screen.search is not None
        # The first step found more than a page: it stopped there, and shows a page.
        assert screen.search.searched == SEARCH_PAGE
        assert screen.table.row_count == PAGE_SIZE
        assert f"the first {PAGE_SIZE}" in str(screen.query_one("#page-info").render())
        await pilot.press("tab", "tab")  # delayed: the same search there
        await await_until(lambda: screen.state == "delayed" and screen.table.row_count == 3)
