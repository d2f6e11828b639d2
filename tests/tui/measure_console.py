"""Measure the console at scale (not a test; run it by hand):

    .venv/bin/python -m tests.tui.measure_console

Prints the overview refresh time with 50 queues and the time from opening a
queue of 1,000,000 waiting jobs to its first page on screen, headless, on a
throwaway Redis.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from engine import Queue
from engine.connection import connect
from messai_console.embedded import start_server
from messai_console.tui import make_app
from messai_console.tui.app import ConsoleApp
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen


async def until(predicate: object, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.001)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), persistent=False, unix_socket=False)
        client = connect(server.url)
        try:
            for n in range(50):
                await Queue(f"queue-{n:02d}", client).add_bulk(("noop", None) for _ in range(200))
            big = Queue("million", client)
            started = time.perf_counter()
            await big.add_bulk(("noop", {"n": n}) for n in range(1_000_000))
            print(f"added 1,000,000 jobs in {time.perf_counter() - started:.1f} s")

            app = make_app(server.url)
            assert isinstance(app, ConsoleApp)
            async with app.run_test(size=(140, 40)):
                await until(
                    lambda: isinstance(app.screen, OverviewScreen) and app.screen.is_mounted
                )
                overview = app.screen
                assert isinstance(overview, OverviewScreen)
                await until(lambda: overview.table.row_count == 51)
                app.frozen = True  # only the timed refreshes run
                timings = []
                for _ in range(20):
                    began = time.perf_counter()
                    await overview.refresh_data()
                    timings.append((time.perf_counter() - began) * 1000)
                print(
                    f"overview refresh, 51 queues: median {statistics.median(timings):.1f} ms, "
                    f"max {max(timings):.1f} ms (20 runs)"
                )
                app.frozen = False
                for attempt in range(3):
                    began = time.perf_counter()
                    app.open_queue("million")
                    await until(
                        lambda: isinstance(app.screen, QueueScreen) and app.screen.is_mounted
                    )
                    screen = app.screen
                    assert isinstance(screen, QueueScreen)
                    await until(lambda screen=screen: screen.table.row_count == 100)
                    elapsed = (time.perf_counter() - began) * 1000
                    print(
                        f"1,000,000-job queue, first page on screen: {elapsed:.0f} ms "
                        f"(run {attempt + 1}, {screen.rows_loaded} rows read)"
                    )
                    app.pop_screen()
        finally:
            await client.aclose()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
