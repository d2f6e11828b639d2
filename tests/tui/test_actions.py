"""Every action key, pressed in the console on a real queue: the state in Redis changes
as it should; destructive keys ask first with Cancel focused; read-only refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio
from textual.widgets import Button

from engine import FlowJob, Queue, Worker, add_flow
from messai_console.tui.dialogs import ConfirmScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from tests.helpers import await_until
from tests.tui.support import (
    SIZE,
    confirm,
    console,
    finish_jobs,
    open_queue,
    wait_for_rows,
    wait_for_screen,
)

RunWorkers = Callable[..., Awaitable[Worker]]


async def test_p_pauses_and_resumes_the_highlighted_queue(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("echo", {})
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("p")
        await await_until(queue.is_paused)
        await await_until(lambda: "paused" in str(overview.table.get_row("papers")[1]))
        await pilot.press("p")
        await await_until(lambda: _not(queue.is_paused()))


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


async def test_drain_asks_with_cancel_focused_and_enter_changes_nothing(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk([("echo", {"n": n}) for n in range(5)])
    await queue.add("echo", {}, delay_ms=60_000)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("d")
        dialog = await wait_for_screen(app, ConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")  # the safe default
        await await_until(lambda: app.screen is not dialog)
        await pilot.press("d")
        await pilot.press("escape")
        await await_until(lambda: not isinstance(app.screen, ConfirmScreen))
        assert (await queue.counts())["waiting"] == 5
        await pilot.press("d")
        await confirm(app, pilot)
        await await_until(lambda: _counts_are(queue, waiting=0, delayed=0))


async def _counts_are(queue: Queue, **expected: int) -> bool:
    counts = await queue.counts()
    return all(counts[state] == value for state, value in expected.items())


async def test_clean_offers_completed_or_failed_and_deletes_the_chosen(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk([("echo", {"n": n}) for n in range(3)])
    await queue.add("fail", {"message": "boom"})
    await finish_jobs(run_workers, queue, completed=3, failed=1)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        await pilot.press("c")
        await confirm(app, pilot, "completed")
        await await_until(lambda: _counts_are(queue, completed=0, failed=1))
        await pilot.press("c")
        await confirm(app, pilot, "failed")
        await await_until(lambda: _counts_are(queue, completed=0, failed=0))


async def test_retry_one_failed_job_then_all_failed(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    ids = await queue.add_bulk([("fail", {"message": f"boom {n}"}) for n in range(3)])
    await finish_jobs(run_workers, queue, failed=3)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "failed", 3)
        highlighted = screen.table.cursor_key
        assert highlighted in ids
        await pilot.press("r")  # not destructive: no dialog
        await await_until(lambda: _state_is(queue, highlighted, "waiting"))
        await wait_for_rows(screen.table, 2)
        await pilot.press("R")
        await confirm(app, pilot)
        await await_until(lambda: _counts_are(queue, failed=0, waiting=3))


async def _state_is(queue: Queue, job_id: str | None, state: str | None) -> bool:
    assert job_id is not None
    job = await queue.get_job(job_id)
    return (job.state if job else None) == state


async def test_cancel_remove_and_promote_act_on_the_highlighted_job(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    first, second = await queue.add_bulk([("echo", {"n": 1}), ("echo", {"n": 2})])
    later = await queue.add("echo", {}, delay_ms=3_600_000)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 2)
        assert screen.table.cursor_key == first
        await pilot.press("x")
        await confirm(app, pilot)
        await await_until(lambda: _state_is(queue, first, None))
        await wait_for_rows(screen.table, 1)
        assert screen.table.cursor_key == second
        await pilot.press("delete")
        await confirm(app, pilot)
        await await_until(lambda: _state_is(queue, second, None))
        await pilot.press("tab", "tab")  # waiting -> active -> delayed
        await await_until(lambda: screen.state == "delayed")
        await wait_for_rows(screen.table, 1)
        await pilot.press("P")
        await await_until(lambda: _state_is(queue, later.id, "waiting"))


async def test_space_marks_rows_and_remove_acts_on_all_marked(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    ids = await queue.add_bulk([("echo", {"n": n}) for n in range(4)])
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 4)
        await pilot.press("space", "down", "space")  # marks the 1st and 3rd
        assert screen.marked == {ids[0], ids[2]}
        await pilot.press("delete")
        await confirm(app, pilot)
        await await_until(lambda: _counts_are(queue, waiting=2))
        assert {job.id for job in await queue.get_jobs("waiting", 0, -1)} == {ids[1], ids[3]}


async def test_job_screen_keys_retry_and_remove(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    job = await queue.add("fail", {"message": "boom"})
    await finish_jobs(run_workers, queue, failed=1)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(app, pilot, "failed", 1)
        await pilot.press("enter")
        screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: screen.detail is not None)
        await pilot.press("r")
        await await_until(lambda: _state_is(queue, job.id, "waiting"))
        await await_until(lambda: screen.job is not None and screen.job.state == "waiting")
        await pilot.press("delete")
        await confirm(app, pilot)
        await await_until(lambda: _state_is(queue, job.id, None))
        await wait_for_screen(app, QueueScreen)  # a removed job's screen closes


async def test_readonly_refuses_every_action_and_opens_no_dialog(
    redis_client: redis.asyncio.Redis, redis_url: str, run_workers: RunWorkers
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("fail", {"message": "boom"})
    await finish_jobs(run_workers, queue, failed=1)
    await queue.add_bulk([("echo", {"n": n}) for n in range(3)])
    await queue.add("echo", {}, delay_ms=3_600_000)
    before = await queue.stats()
    app = console(redis_url, readonly=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 1)
        for key in ("p", "d", "R", "c"):
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmScreen)
        screen = await open_queue(app, pilot, "waiting", 3)
        for key in ("space", "r", "x", "delete", "P", "p", "d", "R", "c"):
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("tab", "tab", "tab", "tab")
        await await_until(lambda: screen.state == "failed")
        await wait_for_rows(screen.table, 1)
        await pilot.press("r", "delete")
        await pilot.press("enter")
        job_screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: job_screen.detail is not None)
        await pilot.press("r", "x", "delete", "P")
        assert not isinstance(app.screen, ConfirmScreen)
        await app.refresh_now()
        messages = [n.message for n in app._notifications]
        assert any("read-only" in m for m in messages)
    assert await queue.stats() == before


async def test_job_screen_changes_priority_and_delay_of_a_job_not_started(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    job = await queue.add("echo", {"n": 1}, priority="low")
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(app, pilot, "waiting", 1)
        await pilot.press("enter")
        screen = await wait_for_screen(app, JobScreen)
        await await_until(lambda: screen.detail is not None)
        await pilot.press("o")
        await confirm(app, pilot, "1")
        await await_until(lambda: _priority_is(queue, job.id, 1))
        await pilot.press("D")
        await confirm(app, pilot, "3600000")
        await await_until(lambda: _state_is(queue, job.id, "delayed"))
        await await_until(lambda: screen.job is not None and screen.job.state == "delayed")
        assert "change_priority" not in screen.unavailable_actions()
        await pilot.press("D")
        await confirm(app, pilot, "0")
        await await_until(lambda: _state_is(queue, job.id, "waiting"))


async def _priority_is(queue: Queue, job_id: str, priority: int) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.options.priority == priority


async def test_removing_a_flows_parent_says_how_many_children_went_with_it(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    children = [FlowJob("papers", "echo", {"n": n}) for n in range(3)]
    parent, doomed, *_rest = await add_flow(
        redis_client, FlowJob("papers", "echo", children=children)
    )
    await queue.remove(doomed.id)  # the parent fails; its two other children still wait
    assert await _counts_are(queue, failed=1, waiting=2)
    app = console(redis_url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_queue(app, pilot, "failed", 1)
        assert screen.table.cursor_key == parent.id
        await pilot.press("delete")
        await confirm(app, pilot)
        await await_until(lambda: _counts_are(queue, waiting=0, failed=0))
        await await_until(lambda: bool(app._notifications))
        messages = [n.message for n in app._notifications]
        assert any("with 2 jobs it waited for that had not run" in m for m in messages), messages
