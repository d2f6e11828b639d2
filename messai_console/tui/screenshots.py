"""Regenerate ``screenshots/``: every console screen on demo data, as SVG (and PNG).

``python -m messai_console.tui.screenshots [DIR]`` (``just screenshots``) starts
a throwaway Redis, fills the demo queues, lets a worker run part of them (a
few long jobs stay running and report progress), then drives the console
headless through each screen and saves what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.cells import cell_len

from engine import BulkJob, JobContext, Queue, Scheduler, Schedules, Worker, parse_spec
from engine.connection import connect
from messai_console.embedded import start_server
from messai_console.jobs.scheduled import init_scheduled_jobs
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

SIZE = (140, 40)
DEADLINE_S = 60.0
DEMO_QUEUES = (
    "paper-processing",
    "experiment-data",
    "email-notifications",
    "data-export",
    "ml-training",
    "database-cleanup",
    "scheduled-tasks",
)
PER_QUEUE = 40


def sample_jobs(rng: random.Random) -> dict[str, list[BulkJob]]:
    """Quick jobs, jobs that report progress, failures that retry, and delayed ones."""
    jobs: dict[str, list[BulkJob]] = {}
    for queue in DEMO_QUEUES:
        batch = []
        for n in range(PER_QUEUE):
            roll = rng.random()
            if roll < 0.45:
                batch.append(BulkJob("sleep", {"ms": rng.randint(50, 400)}))
            elif roll < 0.75:
                batch.append(
                    BulkJob("echo", {"queue": queue, "n": n}, {"priority": rng.choice([1, 5, 10])})
                )
            elif roll < 0.85:
                batch.append(
                    BulkJob("sleep", {"ms": 100}, {"delay_ms": rng.randint(600_000, 3_600_000)})
                )
            else:
                batch.append(
                    BulkJob(
                        "fail",
                        {"message": f"sample failure in {queue} (item {n})"},
                        {"attempts": 2, "backoff": {"type": "fixed", "delay_ms": 100}},
                    )
                )
        jobs[queue] = batch
    return jobs


async def _until(predicate: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"screenshots: gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def train(ctx: JobContext) -> dict[str, int]:
    """A long job that reports progress, so the active tab has something to show."""
    for step in range(1, 1000):
        await ctx.progress(min(step * 7, 99), f"epoch {step}")
        await ctx.log(f"epoch {step}: loss {1 / step:.4f}")
        await asyncio.sleep(0.5)
    return {"epochs": 1000}


_background: set[asyncio.Task[None]] = set()
"""The scheduler's task (kept referenced until the end)."""


async def seed(url: str) -> tuple[Worker, asyncio.Task[None], Any, Scheduler]:
    client = connect(url)
    plan = sample_jobs(random.Random(7))
    for name, batch in plan.items():
        await Queue(name, client).add_bulk(batch)
    worker = Worker(list(DEMO_QUEUES), client, {"train_model": train}, concurrency=8)
    task = asyncio.create_task(worker.run())
    queues = [Queue(name, client) for name in DEMO_QUEUES]

    async def mostly_done() -> bool:
        finished = 0
        for queue in queues:
            counts = await queue.counts()
            finished += counts["completed"] + counts["failed"]
        return finished >= PER_QUEUE * len(DEMO_QUEUES) * 0.6

    await _until(mostly_done, "the demo jobs to run")
    ml = Queue("ml-training", client)
    await ml.add_bulk(
        [BulkJob("train_model", {"model": f"classifier-{n}", "epochs": 20}) for n in range(3)]
    )
    await _until(lambda: _active(ml, 3), "the training jobs to start")
    await Queue("data-export", client).pause()
    scheduler = await seed_schedules(client)
    return worker, task, client, scheduler


async def seed_schedules(client: Any) -> Scheduler:
    """The platform's scheduled tasks (in Berlin time), and two fast schedules a
    scheduler fires a few times, so the counts and last fires are not all empty.
    The scheduler keeps running (stop it with ``request_stop``)."""
    await init_scheduled_jobs(client, "messai", "Europe/Berlin")
    schedules = Schedules(client)
    await schedules.upsert(
        parse_spec(
            name="cache-warmup",
            queue="scheduled-tasks",
            job="echo",
            data={"cache": "papers"},
            every_ms=2_000,
            immediately=True,
        )
    )
    await schedules.upsert(
        parse_spec(
            name="export-sample",
            queue="data-export",
            job="echo",
            every_ms=1_000,
            limit=3,
            immediately=True,
        )
    )
    scheduler = Scheduler(client, poll_s=0.1)
    scheduler_task = asyncio.create_task(scheduler.run())
    _background.add(scheduler_task)

    async def fired() -> bool:
        warmup, sample = await schedules.get("cache-warmup"), await schedules.get("export-sample")
        return bool(warmup and warmup.count >= 2 and sample and sample.ended)

    await _until(fired, "the schedules to fire")
    return scheduler


async def _active(queue: Queue, count: int) -> bool:
    return (await queue.counts())["active"] >= count


async def capture(url: str, out: Path) -> list[Path]:
    app = make_app(url)
    assert isinstance(app, ConsoleApp)
    app.animation_level = "none"
    saved: list[Path] = []

    def save(name: str) -> None:
        saved.append(Path(app.save_screenshot(filename=f"{name}.svg", path=str(out))))

    async def settle() -> None:
        count = app.refresh_count
        await _until(lambda: app.refresh_count > count, "a refresh")

    async with app.run_test(size=SIZE) as pilot:
        await _until(lambda: isinstance(app.screen, OverviewScreen), "the overview")
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        await _until(lambda: overview.table.row_count == len(DEMO_QUEUES), "the queues")
        await settle()
        save("overview")

        app.open_queue("ml-training", "active")
        await _until(lambda: isinstance(app.screen, QueueScreen) and app.screen.is_mounted, "queue")
        queue_screen = app.screen
        assert isinstance(queue_screen, QueueScreen)
        await _until(lambda: queue_screen.table.row_count >= 3, "active jobs")
        await settle()
        save("queue-active")

        await pilot.press("tab", "tab", "tab")  # active -> delayed -> completed -> failed
        await _until(lambda: queue_screen.state == "failed", "the failed tab")
        await _until(lambda: queue_screen.table.row_count > 0, "failed jobs")
        await settle()
        save("queue-failed")

        await pilot.press("E")
        await _until(lambda: isinstance(app.screen, ErrorsScreen), "the errors screen")
        errors = app.screen
        assert isinstance(errors, ErrorsScreen)
        await _until(lambda: errors.table.row_count > 0, "errors")
        await settle()
        save("errors")
        await pilot.press("escape")
        await _until(lambda: app.screen is queue_screen, "the queue again")

        await pilot.press("enter")
        await _until(lambda: isinstance(app.screen, JobScreen), "the job screen")
        job_screen = app.screen
        assert isinstance(job_screen, JobScreen)
        await _until(lambda: job_screen.detail is not None, "the job")
        await settle()
        save("job-failed")

        await pilot.press("escape", "shift+tab", "shift+tab", "shift+tab")
        await _until(lambda: queue_screen.state == "active", "the active tab")
        await _until(lambda: queue_screen.table.row_count >= 3, "active jobs")
        await pilot.press("enter")
        await _until(lambda: isinstance(app.screen, JobScreen), "the job screen")
        running = app.screen
        assert isinstance(running, JobScreen)
        await _until(lambda: running.detail is not None and bool(running.detail.logs), "logs")
        await settle()
        save("job-running")

        await pilot.press("w")
        await _until(lambda: isinstance(app.screen, WorkersScreen), "the workers")
        await settle()
        save("workers")

        await pilot.press("escape", "e")
        await _until(lambda: isinstance(app.screen, EventsScreen), "the events")
        events = app.screen
        assert isinstance(events, EventsScreen)
        await _until(lambda: events.table.row_count > 20, "events")
        save("events")

        await pilot.press("escape", "escape", "escape", "m")
        await _until(lambda: isinstance(app.screen, MetricsScreen), "the metrics")
        metrics = app.screen
        assert isinstance(metrics, MetricsScreen)
        await _until(lambda: bool(metrics.points), "metrics")
        await settle()
        save("metrics")

        await pilot.press("escape", "s")
        await _until(lambda: isinstance(app.screen, SchedulesScreen), "the schedules")
        schedules = app.screen
        assert isinstance(schedules, SchedulesScreen)
        await _until(lambda: schedules.table.row_count == 6, "schedules")
        await settle()
        save("schedules")

        await pilot.press("question_mark")
        await pilot.pause()
        save("help")
    return saved


SVG_FONT = "font-family: Fira Code, monospace"
"""What Rich's SVG export asks for (browsers find a monospace font from it)."""
PNG_FONT = "DejaVu Sans Mono, monospace"
TEXT_RUN = re.compile(
    r'(<text [^>]*?)x="([0-9.]+)"([^>]*?textLength="([0-9.]+)"[^>]*>)([^<]*)</text>'
)
"""A run of terminal text in Rich's SVG export: its x, its width and its content."""


def _place_each_character(match: re.Match[str]) -> str:
    head, x, rest, width, content = match.groups()
    characters = html.unescape(content)
    cells = cell_len(characters)
    if cells <= 1:
        return match.group(0)
    cell = float(width) / cells
    positions, at = [], float(x)
    for character in characters:
        positions.append(f"{at:.1f}")
        at += cell * cell_len(character)
    return f'{head}x="{" ".join(positions)}"{rest}{content}</text>'


def to_png(svgs: list[Path]) -> list[Path]:
    """PNG copies, when cairosvg (and the cairo library) are installed."""
    try:
        import cairosvg
    except (ImportError, OSError):
        print("cairosvg is not available: SVG only", file=sys.stderr)
        return []
    pngs = []
    for svg in svgs:
        png = svg.with_suffix(".png")
        # cairo takes the first family of the list only, and without Fira Code falls
        # back to a proportional font: spans then drift off their cells ("Queueml-
        # training", gaps in the totals). Name a monospace font it has.
        # cairosvg also ignores textLength, so a long run (a border) drifts off its
        # cells: give every character its own x, as a terminal would place it.
        text = TEXT_RUN.sub(_place_each_character, svg.read_text())
        text = text.replace(SVG_FONT, f"font-family: {PNG_FONT}")
        cairosvg.svg2png(bytestring=text.encode(), write_to=str(png), output_width=1600)
        pngs.append(png)
    return pngs


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="messai-shots-") as tmp:
        server = start_server(Path(tmp), persistent=False, unix_socket=False)
        try:
            worker, task, client, scheduler = await seed(server.url)
            try:
                svgs = await capture(server.url, out)
            finally:
                scheduler.request_stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.gather(*_background), 10)
                worker.request_stop()
                worker.shutdown_grace_ms = 0
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
                await client.aclose()
        finally:
            server.stop()
    for path in [*svgs, *to_png(svgs)]:
        print(path)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
