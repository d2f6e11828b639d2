"""SVG snapshots of every screen, with the clock frozen and the data fixed.

The data is made with the engine (jobs added, run by a real worker), then its
moving parts (timestamps, worker ids, stack traces, event ids, metrics) are
pinned to fixed values, so a screen renders the same on every run. A changed
screen fails the test and leaves the new rendering next to the stored one
(``*.new.svg``); after checking it, ``UPDATE_SNAPSHOTS=1 pytest tests/tui``
stores the new renderings.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio
from textual.widgets import Tabs
from textual.widgets._tabs import Underline

from engine import Queue, Schedules, Worker, parse_spec
from engine.keys import worker_key, worker_registry_key
from engine.schedules import definition_prefix, due_key
from messai_console.tui import make_app
from messai_console.tui.app import ConsoleApp
from messai_console.tui.screens.errors import ErrorsScreen
from messai_console.tui.screens.events import EventsScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.metrics import MetricsScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from messai_console.tui.screens.schedules import SchedulesScreen
from messai_console.tui.screens.workers import WorkersScreen
from tests.helpers import await_until
from tests.tui.support import finish_jobs, wait_for_rows, wait_for_screen

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (130, 36)
NOW_MS = 1_767_269_100_000
"""2026-01-01 12:05:00 UTC: the frozen clock."""
MINUTE = 60_000
SERVER = {
    "version": "7.2.4",
    "mode": "standalone",
    "uptime_s": 86_400,
    "used_memory": 3_250_000,
    "used_memory_human": "3.10M",
    "maxmemory": 0,
    "connected_clients": 4,
    "ops_per_sec": 1250,
    "persistence": "aof (everysec)",
    "maxmemory_policy": "noeviction",
    "warnings": [],
}
RunWorkers = Callable[..., Awaitable[Worker]]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    """Times render in local time: make it UTC for the snapshots."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


async def _pin_job(
    redis_client: redis.asyncio.Redis, queue: Queue, job_id: str, **fields: Any
) -> None:
    await redis_client.hset(queue.keys.job(job_id), mapping=fields)


@pytest_asyncio.fixture
async def fixed_data(
    redis_client: redis.asyncio.Redis, run_workers: RunWorkers
) -> AsyncIterator[dict[str, str]]:
    papers = Queue("paper-processing", redis_client)
    emails = Queue("email-notifications", redis_client)
    exports = Queue("data-export", redis_client)
    done = await papers.add_bulk([("echo", {"paper_id": "p-1"}), ("echo", {"paper_id": "p-2"})])
    failed = await papers.add_bulk(
        [
            ("fail", {"message": "PDF is encrypted"}),
            ("fail", {"message": "\x1b[31mhostile\x1b[0m [bold]error[/bold]"}),
        ]
    )
    exported = await exports.add_bulk([("echo", {"export": "csv"})] * 2)
    await finish_jobs(run_workers, papers, completed=2, failed=2)
    await finish_jobs(run_workers, exports, completed=2)
    waiting = await papers.add_bulk(
        [
            ("extract_pdf", {"paper_id": "paper-123", "pages": 12}, {"priority": 1}),
            ("extract_pdf", {"paper_id": "paper-124"}),
            ("index_paper", {"paper_id": "paper-125", "title": "On queues"}, {"priority": 10}),
        ]
    )
    delayed = await papers.add("extract_pdf", {"paper_id": "paper-200"}, delay_ms=3_600_000)
    mails = await emails.add_bulk(
        [("send_email", {"to": f"user{n}@example.org"}) for n in range(5)]
    )
    await emails.pause()

    # Pin every moving part to the frozen clock.
    for index, job_id in enumerate(waiting):
        await _pin_job(redis_client, papers, job_id, ts=NOW_MS - (index + 1) * MINUTE)
    for index, job_id in enumerate(mails):
        await _pin_job(redis_client, emails, job_id, ts=NOW_MS - 30_000 + index * 1_000)
    await _pin_job(redis_client, papers, delayed.id, ts=NOW_MS - 2 * MINUTE)
    await redis_client.zadd(papers.keys.delayed, {delayed.id: NOW_MS + 45 * MINUTE})
    for queue, ids, minutes in ((papers, done + failed, 5), (exports, exported, 20)):
        for index, job_id in enumerate(ids):
            finished = NOW_MS - (minutes + index) * MINUTE
            await _pin_job(
                redis_client,
                queue,
                job_id,
                ts=finished - 5_000,
                st=finished - 1_250,
                fin=finished,
                rt=1_250,
                w="worker-a",
            )
            state = "failed" if job_id in failed else "completed"
            await redis_client.zadd(queue.keys.state(state), {job_id: finished})
    await _pin_job(
        redis_client,
        papers,
        failed[0],
        e="RuntimeError: PDF is encrypted",
        stk='Traceback (most recent call last):\n  File "processors.py", line 12, in extract\nRuntimeError: PDF is encrypted',
    )
    await _pin_job(redis_client, papers, failed[1], stk="")

    for queue in (papers, emails, exports):
        await redis_client.delete(queue.keys.events)
        for day in range(NOW_MS // 86_400_000 - 1, int(time.time()) // 86400 + 2):
            await redis_client.delete(queue.keys.metrics(day))
    failed_at = 7 * MINUTE  # failed[0] finished 7 minutes before the frozen now
    events = [
        (papers, failed_at + 5_000, "job:added", failed[0], {"n": "fail", "state": "waiting"}),
        (papers, failed_at + 1_250, "job:active", failed[0], {"w": "worker-a"}),
        (papers, failed_at, "job:failed", failed[0], {"att": "1", "err": "RuntimeError: PDF is encrypted"}),
        (exports, 6 * MINUTE, "job:completed", exported[0], {"att": "1", "rt": "1250"}),
        (emails, 5 * MINUTE, "queue:paused", None, {}),
        (papers, 3 * MINUTE, "job:added", waiting[0], {"n": "extract_pdf", "state": "waiting"}),
        (papers, 2 * MINUTE, "job:added", delayed.id, {"n": "extract_pdf", "state": "delayed", "delay": "3600000"}),
    ]  # fmt: skip
    for seq, (queue, ms_ago, name, job_id, fields) in enumerate(events):
        entry: dict[str, str] = {"ev": name, **({"id": job_id} if job_id else {}), **fields}
        await redis_client.xadd(queue.keys.events, entry, id=f"{NOW_MS - ms_ago}-{seq}")  # type: ignore[arg-type]
    day = NOW_MS // 86_400_000
    minute_of_day = (NOW_MS // MINUTE) % 1440
    metrics: dict[str, int] = {}
    for back in range(60):
        minute = minute_of_day - back
        metrics[f"c{minute}"] = 20 + (back * 7) % 23
        metrics[f"t{minute}"] = metrics[f"c{minute}"] * 800
        if back % 9 == 0:
            metrics[f"f{minute}"] = 1 + back % 3
    await redis_client.hset(papers.keys.metrics(day), mapping=metrics)  # type: ignore[arg-type]

    registry = worker_registry_key()
    await redis_client.delete(registry)
    for worker_id, beat_ago, running, done_count in (
        ("worker-a", 2_000, 2, 1_520),
        ("worker-b", 95_000, 0, 310),
    ):
        await redis_client.hset(
            worker_key(worker_id),
            mapping={
                "host": "lab-01",
                "pid": 4242 if worker_id == "worker-a" else 4243,
                "queues": "paper-processing,data-export",
                "concurrency": 8,
                "running": running,
                "done": done_count,
                "failed": 3,
                "started": NOW_MS - 3 * 3_600_000,
                "heartbeat_ms": 10_000,
            },
        )
        await redis_client.zadd(registry, {worker_id: NOW_MS - beat_ago})
    await _pin_schedules(redis_client)
    yield {"failed": failed[0], "queue": papers.name}


async def _pin_schedules(redis_client: redis.asyncio.Redis) -> None:
    """Three schedules (one late, one ended, one with a hostile job name), their
    next and last fires pinned to the frozen clock."""
    schedules = Schedules(redis_client)
    specs = (
        # name, fields, next fire (ms after now, None: ended), last fire (ms before now), count
        ("nightly-export", {"queue": "data-export", "job": "papers", "cron": "30 2 * * *", "tz": "Europe/Berlin", "data": {"format": "csv"}}, 13 * 60 * MINUTE + 25 * MINUTE, 9 * 60 * MINUTE + 35 * MINUTE, 41),
        ("health-check", {"queue": "system", "job": "health_check", "every_ms": 300_000, "options": {"attempts": 1}}, -3 * MINUTE, 8 * MINUTE, 2_016),
        ("launch-mail", {"queue": "mailing", "job": "\x1b]0;x\x07[b]", "cron": "0 9 * * 1", "tz": "Asia/Tokyo", "limit": 4}, None, 2 * 86_400_000, 4),
    )  # fmt: skip
    for name, fields, next_in, last_ago, count in specs:
        await schedules.upsert(parse_spec(name=name, **fields))
        definition = definition_prefix() + name
        await redis_client.hset(definition, mapping={"last": NOW_MS - last_ago, "count": count})
        if next_in is None:
            await redis_client.hset(definition, "ended", "1")
            await redis_client.zrem(due_key(), name)
        else:
            await redis_client.zadd(due_key(), {name: NOW_MS + next_in})


def _app(url: str) -> ConsoleApp:
    app = make_app(url, clock=lambda: NOW_MS / 1000)
    assert isinstance(app, ConsoleApp)
    app.animation_level = "none"
    app.display_url = "redis://127.0.0.1:6379/0"

    async def server() -> dict[str, Any]:
        return dict(SERVER)

    app.backend.server = server  # type: ignore[method-assign]
    return app


def check(name: str, svg: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    new = SNAPSHOTS / f"{name}.new.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg)
        new.unlink(missing_ok=True)
        return
    if path.read_text() != svg:
        new.write_text(svg)
        pytest.fail(f"{name} screen changed: compare {new} with {path}")
    new.unlink(missing_ok=True)


async def _settled(app: ConsoleApp) -> None:
    """Two refreshes after the screen changed: the data is in and drawn, and
    every tab underline sits under its tab (a label that grew with a count
    moves the underline a refresh later)."""
    count = app.refresh_count
    await app.refresh_now()
    await await_until(lambda: app.refresh_count >= count + 1)
    await await_until(lambda: _underlines_settled(app), message="a tab underline kept moving")


def _underlines_settled(app: ConsoleApp) -> bool:
    for tabs in app.screen.query(Tabs):
        active = tabs.active_tab
        if active is None:
            continue
        start, end = active.virtual_region.shrink(active.styles.gutter).column_span
        underline = tabs.query_one(Underline)
        if (underline.highlight_start, underline.highlight_end) != (start, end):
            return False
    return True


async def test_snapshots_of_every_screen(redis_url: str, fixed_data: dict[str, str]) -> None:
    app = _app(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 3)
        # The rates need two readings (no worker runs: they show nothing moving).
        await await_until(lambda: overview.overview and overview.overview.total is not None)
        await _settled(app)
        await pilot.pause()
        check("overview", app.export_screenshot())

        app.open_queue(fixed_data["queue"])
        queue_screen = await wait_for_screen(app, QueueScreen)
        await wait_for_rows(queue_screen.table, 3)
        await _settled(app)
        await pilot.pause()
        check("queue-waiting", app.export_screenshot())

        await pilot.press("tab", "tab", "tab", "tab")
        await await_until(lambda: queue_screen.state == "failed")
        await wait_for_rows(queue_screen.table, 2)
        await _settled(app)
        await pilot.pause()
        check("queue-failed", app.export_screenshot())

        await pilot.press("E")
        errors = await wait_for_screen(app, ErrorsScreen)
        await wait_for_rows(errors.table, 2)
        await _settled(app)
        await pilot.pause()
        check("errors", app.export_screenshot())
        await pilot.press("escape")
        await wait_for_screen(app, QueueScreen)

        app.open_job(fixed_data["queue"], fixed_data["failed"])
        job_screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: job_screen.detail is not None)
        await _settled(app)
        await pilot.pause()
        check("job", app.export_screenshot())

        await pilot.press("w")
        workers = await wait_for_screen(app, WorkersScreen)
        await wait_for_rows(workers.table, 2)
        await _settled(app)
        await pilot.pause()
        check("workers", app.export_screenshot())

        await pilot.press("escape", "e")
        events = await wait_for_screen(app, EventsScreen)
        await wait_for_rows(events.table, 7)
        await _settled(app)
        await pilot.pause()
        check("events", app.export_screenshot())

        await pilot.press("escape", "escape")
        await wait_for_screen(app, QueueScreen)
        await pilot.press("m")
        metrics = await wait_for_screen(app, MetricsScreen)
        await await_until(lambda: bool(metrics.points))
        await pilot.pause()
        check("metrics", app.export_screenshot())

        await pilot.press("escape", "escape", "escape")
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("s")
        schedules = await wait_for_screen(app, SchedulesScreen)
        await wait_for_rows(schedules.table, 3)
        await _settled(app)
        await pilot.pause()
        check("schedules", app.export_screenshot())
