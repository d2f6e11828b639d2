"""The console says what it shows: which job a jump opens, how many jobs an action
touches, how old frozen data is, why a table is empty, that an error goes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio
from textual.widgets import Button, Static

from engine import Queue, Worker
from messai_console.tui import render
from messai_console.tui.dialogs import ConfirmScreen
from messai_console.tui.screens.events import EventsScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
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


def _text(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def _overview(app: object) -> OverviewScreen:
    overview = await wait_for_screen(app, OverviewScreen)  # type: ignore[arg-type]
    await await_until(lambda: overview.overview is not None and overview.table.row_count > 0)
    return overview  # type: ignore[no-any-return]


async def test_jump_opens_queue_colon_id_and_asks_when_an_id_is_in_several_queues(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    papers = await Queue("papers", redis_client).add("echo", {})
    emails = await Queue("emails", redis_client).add("echo", {})
    assert papers.id == emails.id  # both queues number their jobs from 1
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await _overview(app)
        await app.jump_to_job(f"emails:{emails.id}")
        job = await wait_for_screen(app, JobScreen)
        assert (job.queue_name, job.job_id) == ("emails", emails.id)
        await pilot.press("escape")
        await wait_for_screen(app, OverviewScreen)
        await app.jump_to_job(papers.id)
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert "is in 2 queues" in str(dialog.question)
        labels = [str(b.label) for b in dialog.query(Button)]
        assert labels == ["Cancel", "emails", "papers"]
        await pilot.press("right", "right", "enter")
        job = await wait_for_screen(app, JobScreen)
        assert (job.queue_name, job.job_id) == ("papers", papers.id)


async def test_drain_and_retry_all_say_how_many_and_clean_keeps_one_button_order(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk([("fail", {"message": f"boom {n}"}) for n in range(2)])
    await finish_jobs(run_workers, queue, failed=2)
    await queue.add_bulk([("echo", {"n": n}) for n in range(3)])
    await queue.add("echo", {}, delay_ms=3_600_000)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await _overview(app)
        await pilot.press("d")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert "4 jobs are deleted: 3 waiting and 1 delayed" in str(dialog.question)
        await pilot.press("escape")
        await pilot.press("R")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert "Retry the 2 failed jobs" in str(dialog.question)
        await pilot.press("escape")
        orders = []
        await pilot.press("c")
        dialog = await wait_for_screen(app, ConfirmScreen)
        orders.append([str(b.label) for b in dialog.query(Button)])
        await pilot.press("escape")
        screen = await open_queue(app, pilot, "failed", 2)
        await pilot.press("c")
        dialog = await wait_for_screen(app, ConfirmScreen)
        orders.append([str(b.label) for b in dialog.query(Button)])
        await pilot.press("escape")
        assert orders == [["Cancel", "Delete 0 completed", "Delete 2 failed"]] * 2
        assert screen.state == "failed"
        assert await queue.counts() == {**await queue.counts(), "waiting": 3, "failed": 2}


async def test_a_frozen_view_says_how_old_its_data_is(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add("echo", {})
    now = [1_767_269_100.0]
    app = console(redis_url)
    app.clock = lambda: now[0]
    async with app.run_test(size=SIZE) as pilot:
        await _overview(app)
        await app.refresh_now()
        await pilot.press("f")
        now[0] += 75
        app.action_faster()  # redraws the status bar with the clock moved on
        await await_until(lambda: "data 1m15s old" in screen_lines(app)[1])
        await pilot.press("f")
        await await_until(lambda: "old" not in screen_lines(app)[1])


async def test_empty_tabs_say_why_and_a_queue_opens_where_its_jobs_are(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("fail", {"message": "first line\nsecond\nthird"})
    await finish_jobs(run_workers, queue, failed=1)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await _overview(app)
        await pilot.press("enter")  # nothing waits: it opens on the failed tab
        screen = await wait_for_screen(app, QueueScreen)
        assert screen.state == "failed"
        await wait_for_rows(screen.table, 1)
        error = str(screen.table.get_row_at(0)[-1])
        assert error.endswith("first line … (+2 lines)"), error
        await pilot.press("slash")
        await pilot.press(*"nowhere", "enter")
        await await_until(lambda: "no failed job matches nowhere" in _text(screen, "#page-info"))
        await pilot.press("escape")
        await queue.pause()
        await pilot.press("shift+tab", "shift+tab", "shift+tab")  # failed -> active
        await await_until(lambda: screen.state == "active")
        await await_until(lambda: "paused, no job starts" in _text(screen, "#page-info"))


async def test_the_events_screen_says_how_far_back_it_reads(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add("echo", {})
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await _overview(app)
        await pilot.press("e")
        screen = await wait_for_screen(app, EventsScreen)
        await await_until(lambda: "read from" in _text(screen, "#events-info"))
        assert "the 10 min before opening" in _text(screen, "#events-info")


def test_a_multi_line_error_shows_that_it_goes_on() -> None:
    assert str(render.first_line("boom\n  at x\n  at y\n")) == "boom … (+2 lines)"
    assert str(render.first_line("boom")) == "boom"
