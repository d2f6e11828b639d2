"""Top errors: failed jobs grouped by their masked error, and a whole group retried
or deleted from the console after a question that says how many."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio

from engine import JobContext, Queue, Worker
from engine.failures import group_failures, normalise
from messai_console.tui.dialogs import ConfirmScreen
from messai_console.tui.screens.errors import ErrorsScreen
from messai_console.tui.screens.overview import OverviewScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, confirm, console, wait_for_rows, wait_for_screen

RunWorkers = Callable[..., Awaitable[Worker]]


def test_ids_and_numbers_are_masked_and_only_the_first_line_counts() -> None:
    assert normalise("order 1234 not found\nTraceback ...") == "order <n> not found"
    assert normalise("user 9f1c2b3a4d5e6f70 timed out after 30.5s") == (
        "user <id> timed out after <n>s"
    )
    assert normalise("job 1b4e28ba-2fa1-11d2-883f-0016d3cca427 lost") == "job <id> lost"
    assert normalise("") == "(no error message)"


async def fail_some(redis_client: redis.asyncio.Redis, run_workers: RunWorkers) -> Queue:
    """Ten failures of two kinds (7 and 3) and two completed jobs in queue "papers"."""

    async def work(ctx: JobContext) -> str:
        if ctx.data["kind"] == "pdf":
            raise RuntimeError(f"PDF {ctx.data['n']} is encrypted")
        if ctx.data["kind"] == "timeout":
            raise TimeoutError(f"fetch of paper-{ctx.data['n']} took {ctx.data['n'] * 3}s")
        return "ok"

    queue = Queue("papers", redis_client)
    kinds = ["pdf"] * 7 + ["timeout"] * 3 + ["ok"] * 2
    await queue.add_bulk(("work", {"kind": kind, "n": n}) for n, kind in enumerate(kinds))
    worker = await run_workers("papers", {"work": work}, concurrency=4)

    async def finished() -> bool:
        counts = await queue.counts()
        return counts["failed"] == 10 and counts["completed"] == 2

    await await_until(finished, timeout=15)
    worker.request_stop()
    return queue


async def test_failures_group_by_masked_error_most_frequent_first(
    redis_client: redis.asyncio.Redis, run_workers: RunWorkers
) -> None:
    await fail_some(redis_client, run_workers)
    report = await group_failures(redis_client, "papers")
    assert (report.total, report.scanned) == (10, 10)
    assert [(g.message, g.count) for g in report.groups] == [
        ("RuntimeError: PDF <n> is encrypted", 7),
        ("TimeoutError: fetch of paper-<n> took <n>s", 3),
    ]
    assert report.groups[0].first_ms <= report.groups[0].last_ms
    assert report.groups[0].example.startswith("RuntimeError: PDF ")
    limited = await group_failures(redis_client, "papers", limit=4)
    assert (limited.total, limited.scanned) == (10, 4)


async def test_the_errors_screen_retries_a_whole_group_after_saying_how_many(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = await fail_some(redis_client, run_workers)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("E")
        screen = await wait_for_screen(app, ErrorsScreen)
        await wait_for_rows(screen.table, 2)
        assert str(screen.table.get_row_at(0)[0]) == "7"
        await pilot.press("r")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert "Retry 7 failed jobs" in str(dialog.question)
        await confirm(app, pilot)
        await await_until(lambda: _failed(queue, 3), timeout=10)
        counts = await queue.counts()
        assert counts["waiting"] == 7
        await wait_for_rows(screen.table, 1)  # grouped again after the action

        await pilot.press("delete")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert "Delete 3 failed jobs" in str(dialog.question)
        await confirm(app, pilot)
        await await_until(lambda: _failed(queue, 0), timeout=10)
        await wait_for_rows(screen.table, 0)


async def _failed(queue: Queue, count: int) -> bool:
    return (await queue.counts())["failed"] == count
