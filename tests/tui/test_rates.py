"""Rates now (engine.rates) and how the overview shows them: jobs finished per second,
the backlog's trend and the oldest wait, against real workers at a known pace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.rates import QueueReading, RateTracker, finished_between, read_queues
from messai_console.tui.screens.overview import OverviewScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, wait_for_rows, wait_for_screen

RunWorkers = Callable[..., Awaitable[Worker]]
MINUTE = 60_000


def reading(
    at_ms: int, completed: tuple[int, int], failed: tuple[int, int] = (0, 0)
) -> QueueReading:
    return QueueReading(
        at_ms=at_ms, completed=completed, failed=failed, waiting=0, oldest_created_ms=None
    )


def test_jobs_finished_between_readings_are_exact_across_a_minute_and_gaps_are_refused() -> None:
    start = 1_000 * MINUTE + 50_000  # 50 s into a minute
    assert finished_between(reading(start, (7, 100)), reading(start + 5_000, (7, 130))) == (30, 0)
    # The minute turned: the rest of the old minute plus the new one's count so far.
    across = reading(start + 15_000, (160, 12), (3, 1))
    assert finished_between(reading(start, (7, 100), (0, 2)), across) == (72, 2)
    assert finished_between(reading(start, (7, 100)), reading(start + 2 * MINUTE, (0, 5))) is None
    assert finished_between(reading(start, (7, 100)), reading(start + 1_000, (7, 40))) is None


def test_the_tracker_takes_the_rate_over_the_last_seconds_and_starts_over_after_a_gap() -> None:
    tracker = RateTracker(window_ms=5_000)
    start = 1_000 * MINUTE
    for second in range(11):  # ten jobs a second for five seconds, then a hundred
        done = second * 10 if second <= 5 else 50 + (second - 5) * 100
        tracker.add("q", reading(start + second * 1000, (0, done)))
    rates = tracker.rates("q")
    assert rates is not None and rates.window_ms == 5_000
    assert rates.completed_per_s == 100
    tracker.add("q", reading(start + 3 * MINUTE, (0, 0)))
    assert tracker.rates("q") is None


async def test_the_rate_follows_a_real_worker_finishing_jobs_at_a_known_pace(
    redis_client: redis.asyncio.Redis, run_workers: RunWorkers
) -> None:
    async def work(ctx: JobContext) -> str:
        if ctx.data["fail"]:
            raise RuntimeError("every fourth job fails")
        return "ok"

    queue = Queue("pace", redis_client)
    await run_workers("pace", {"work": work}, concurrency=4)
    pace_per_s, run_s = 40, 4.0
    added: list[float] = []

    async def produce() -> None:
        started = time.monotonic()
        while time.monotonic() - started < run_s:
            await queue.add("work", {"fail": len(added) % 4 == 3})
            added.append(time.time())
            # Paces the producer (the load under test), it synchronises nothing.
            await asyncio.sleep(max(started + len(added) / pace_per_s - time.monotonic(), 0))

    tracker = RateTracker(window_ms=2_000)
    producer = asyncio.create_task(produce())
    offset = 0
    taken: list[float] = []
    while not producer.done():
        readings, offset = await read_queues(redis_client, {"pace": 0}, clock_offset_ms=offset)
        if "pace" in readings:
            tracker.add("pace", readings["pace"])
            taken.append(readings["pace"].at_ms / 1000)
        await asyncio.sleep(0.25)  # the console's refresh, faster
    await producer
    rates = tracker.rates("pace")
    assert rates is not None and rates.window_ms >= 1_500
    # What the producer added over the same window is what the worker finished,
    # give or take the jobs in flight at either end.
    window_start = taken[-1] - rates.window_ms / 1000
    added_in_window = sum(1 for at in added if window_start <= at <= taken[-1])
    expected = added_in_window / (rates.window_ms / 1000)
    finished = rates.completed_per_s + rates.failed_per_s
    print(f"producer {expected:.1f}/s, shown {finished:.1f}/s ({rates.failed_per_s:.1f} failed)")
    assert abs(finished - expected) <= 0.2 * expected + 2, (finished, expected)
    assert abs(rates.failed_per_s - finished / 4) <= 0.1 * finished + 2


async def test_the_overview_shows_the_rate_the_backlog_draining_and_the_oldest_wait(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    async def slow(ctx: JobContext) -> None:
        await asyncio.sleep(0.01)

    queue = Queue("backlog", redis_client)
    ids = await queue.add_bulk(("slow", {"n": n}) for n in range(3_000))
    # The first in line has waited ten minutes.
    await redis_client.hset(queue.keys.job(ids[0]), "ts", str(int(time.time() * 1000) - 600_000))
    app = console(redis_url)
    async with app.run_test(size=SIZE):
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await await_until(lambda: cell(overview, "oldest").startswith("10m"))
        await run_workers("backlog", {"slow": slow}, concurrency=8)
        await await_until(lambda: cell(overview, "backlog").startswith("↓"), timeout=20)
        await await_until(lambda: cell(overview, "done_rate") not in ("-", "0"), timeout=20)
        done_rate = float(cell(overview, "done_rate").replace(",", ""))
        assert 20 <= done_rate <= 2_000, done_rate  # 8 at a time, 10 ms each: up to 800/s
        drain = cell(overview, "drain")
        assert drain not in ("-", "never"), drain
        totals = str(overview.query_one("#totals").render())
        assert "done" in totals and "empty in" in totals and "oldest waiting" in totals


def cell(overview: OverviewScreen, column: str) -> str:
    row: list[Any] = overview.table.get_row("backlog")
    keys = [c.key.value for c in overview.table.ordered_columns]
    return str(row[keys.index(column)]).strip()
