"""The schedules screen (list, remove behind a confirm, read-only) and the events
screen's queue and type filters and older events, on a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis.asyncio
from textual.widgets import Button, Static

from engine import Queue, Schedules, parse_spec
from engine.events import stream_order
from messai_console.tui.backend import OLDER_EVENTS
from messai_console.tui.dialogs import ConfirmScreen
from messai_console.tui.screens.events import KEEP, EventsScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.schedules import SchedulesScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, confirm, console, wait_for_rows, wait_for_screen


async def _two_schedules(redis_client: redis.asyncio.Redis) -> Schedules:
    schedules = Schedules(redis_client)
    await schedules.upsert(
        parse_spec(
            name="nightly-export",
            queue="data-export",
            job="papers",
            cron="30 2 * * *",
            tz="Europe/Berlin",
        )
    )
    await schedules.upsert(parse_spec(name="health", queue="system", job="check", every_ms=300_000))
    return schedules


def _plain(screen: SchedulesScreen, name: str, column: int) -> str:
    return str(screen.table.get_row(name)[column])


async def test_schedules_screen_lists_each_schedule_with_its_next_fire(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    schedules = await _two_schedules(redis_client)
    nightly = await schedules.get("nightly-export")
    assert nightly is not None and nightly.next_ms is not None
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("s")
        screen = await wait_for_screen(app, SchedulesScreen)
        await wait_for_rows(screen.table, 2)
        instant = datetime.fromtimestamp(nightly.next_ms / 1000, UTC)
        berlin = instant.astimezone(ZoneInfo("Europe/Berlin"))
        assert _plain(screen, "nightly-export", 2) == "papers"
        assert _plain(screen, "nightly-export", 3) == "30 2 * * * Europe/Berlin"
        assert berlin.strftime("%H:%M") == "02:30"
        assert _plain(screen, "nightly-export", 4) == berlin.strftime(
            "%Y-%m-%d %H:%M %Z · "
        ) + instant.strftime("%H:%M UTC")  # 01:30 or 00:30 UTC: the same day
        assert _plain(screen, "health", 3) == "every 5m"
        health = await schedules.get("health")
        assert health is not None and health.next_ms is not None
        fire = datetime.fromtimestamp(health.next_ms / 1000, UTC)
        assert _plain(screen, "health", 4) == fire.strftime("%Y-%m-%d %H:%M UTC")
        assert _plain(screen, "health", 5) == "0"
        assert _plain(screen, "health", 6) == "-"  # never fired


async def test_delete_removes_the_schedule_after_confirm_and_cancel_keeps_it(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    schedules = await _two_schedules(redis_client)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("colon")  # the palette reaches the screen too
        await pilot.press(*"schedules")
        await pilot.press("enter")
        screen = await wait_for_screen(app, SchedulesScreen)
        await wait_for_rows(screen.table, 2)
        first = screen.table.cursor_key
        assert first is not None
        await pilot.press("delete")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")  # Cancel
        await await_until(lambda: app.screen is not dialog)
        assert await schedules.get(first) is not None
        await pilot.press("delete")
        await confirm(app, pilot)
        await await_until(lambda: _gone(schedules, first))
        await wait_for_rows(screen.table, 1)
        assert first not in screen.table.keys
        assert len(await schedules.list()) == 1


async def _gone(schedules: Schedules, name: str) -> bool:
    return await schedules.get(name) is None


async def test_readonly_refuses_to_remove_a_schedule(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    schedules = await _two_schedules(redis_client)
    app = console(redis_url, readonly=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("s")
        screen = await wait_for_screen(app, SchedulesScreen)
        await wait_for_rows(screen.table, 2)
        await pilot.press("delete")
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("read-only" in n.message for n in app._notifications)
    assert len(await schedules.list()) == 2


def _shown(screen: EventsScreen) -> set[tuple[str, str]]:
    rows = [screen.table.get_row(key) for key in screen.table.keys]
    return {(str(row[1]), str(row[2])) for row in rows}


async def test_events_filter_by_queue_and_by_type_separately(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    papers = Queue("papers", redis_client)
    emails = Queue("emails", redis_client)
    await papers.add_bulk([("echo", {"n": n}) for n in range(2)])
    await emails.add("send", {})
    await emails.pause()
    everything = {
        ("papers", "job:added"),
        ("emails", "job:added"),
        ("emails", "queue:paused"),
    }
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("e")
        screen = await wait_for_screen(app, EventsScreen)
        await wait_for_rows(screen.table, 4)
        assert _shown(screen) == everything
        await pilot.press("right_square_bracket")  # the first queue: emails (sorted)
        assert screen.queue_filter == "emails"
        assert _shown(screen) == {("emails", "job:added"), ("emails", "queue:paused")}
        await pilot.press("t")  # the first event type: job:added
        assert screen.type_filter == "job:added"
        assert _shown(screen) == {("emails", "job:added")}
        await pilot.press("right_square_bracket")  # papers, still job:added only
        assert _shown(screen) == {("papers", "job:added")}
        assert screen.table.row_count == 2
        await pilot.press("right_square_bracket")  # every queue again
        assert screen.queue_filter is None
        assert _shown(screen) == {("papers", "job:added"), ("emails", "job:added")}
        await pilot.press("T")  # every type again
        assert screen.type_filter is None
        assert _shown(screen) == everything
        await emails.resume()  # live events still arrive, and still pass the filters
        await wait_for_rows(screen.table, 5)
        assert ("emails", "queue:resumed") in _shown(screen)


async def test_events_screen_says_how_far_back_it_reads_and_loads_older_events(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    papers = Queue("papers", redis_client)
    emails = Queue("emails", redis_client)
    await papers.add_bulk([("echo", {"n": n}) for n in range(250)])
    await emails.add_bulk([("send", {"n": n}) for n in range(100)])
    app = console(redis_url)
    # An hour from now: every event written so far is older than the first ten minutes.
    app.clock = lambda: time.time() + 3600
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("e")
        screen = await wait_for_screen(app, EventsScreen)
        info = screen.query_one("#events-info", Static)
        await await_until(lambda: "10 min before opening; o older" in str(info.render()))
        assert screen.table.row_count == 0
        await pilot.press("o")  # the newest OLDER_EVENTS of both queues together
        await wait_for_rows(screen.table, OLDER_EVENTS)
        shown = [screen.table.get_row(key) for key in screen.table.keys]
        assert [str(row[1]) for row in shown].count("emails") == 100  # the newest ones
        assert not screen.oldest_reached
        await pilot.press("g", "up")  # up on the first row reads further back
        await wait_for_rows(screen.table, 350)
        assert screen.oldest_reached
        assert "the oldest kept" in str(info.render())
        ids = [key.partition("\x00")[2] for key in screen.table.keys]
        assert ids == sorted(ids, key=stream_order)  # oldest first, queues merged by time
        await pilot.press("o")  # nothing older: a note, no rows, no error
        await await_until(lambda: any("no older" in n.message for n in app._notifications))
        assert screen.table.row_count == 350


async def test_events_screen_opens_on_the_newest_events_and_older_ones_stay_loaded(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    """More events than it keeps: it reads the newest backwards at once (not the ten
    minutes forwards), so older ones loaded are not pushed out by a catch-up."""
    papers = Queue("papers", redis_client)
    await papers.add_bulk([("echo", {"n": n}) for n in range(KEEP + 200)])
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("e")
        screen = await wait_for_screen(app, EventsScreen)
        await wait_for_rows(screen.table, KEEP)
        info = screen.query_one("#events-info", Static)
        assert f"the newest {KEEP}; o older" in str(info.render())
        first = screen.table.get_row(screen.table.keys[0])
        assert str(first[3]) == "201"  # job ids count from 1: the newest KEEP added
        await pilot.press("o")
        await wait_for_rows(screen.table, KEEP + 200)
        await pilot.pause()
        assert screen.table.row_count == KEEP + 200
        assert str(screen.table.get_row(screen.table.keys[0])[3]) == "1"


async def test_events_screen_shows_a_duplicated_add(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    papers = Queue("papers", redis_client)
    await papers.add("echo", job_id="paper-1")
    await papers.add("echo", job_id="paper-1")
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("e")
        screen = await wait_for_screen(app, EventsScreen)
        await wait_for_rows(screen.table, 2)
        assert _shown(screen) == {("papers", "job:added"), ("papers", "job:duplicated")}
        assert "job:duplicated" in screen._event_types()
