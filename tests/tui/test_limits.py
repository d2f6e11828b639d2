"""L on a queue changes its rate limit and global concurrency live; read-only refuses."""

from __future__ import annotations

import redis.asyncio
from textual.widgets import Input, Static

from engine import Queue
from messai_console.tui.limits import LimitsScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, open_queue, wait_for_screen


async def _meta(redis_client: redis.asyncio.Redis, queue: Queue) -> dict[str, str]:
    values = await redis_client.hmget(queue.keys.meta, ["rl_max", "rl_ms", "conc"])
    return {k: v for k, v in zip(("rl_max", "rl_ms", "conc"), values, strict=True) if v}


async def test_l_sets_and_clears_the_rate_limit_and_global_concurrency(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("echo", {})
    await queue.set_global_concurrency(3)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 1)
        await await_until(
            lambda: "concurrency 3 (L)" in str(screen.query_one("#page-info", Static).render())
        )
        await pilot.press("L")
        dialog = await wait_for_screen(app, LimitsScreen)
        assert dialog.query_one("#concurrency", Input).value == "3"
        dialog.query_one("#max-starts", Input).value = "50"
        dialog.query_one("#duration-ms", Input).value = "2000"
        dialog.query_one("#concurrency", Input).value = ""
        dialog.query_one("#max-starts", Input).focus()
        await pilot.press("enter")
        await await_until(lambda: _meta_is(redis_client, queue, {"rl_max": "50", "rl_ms": "2000"}))
        await await_until(
            lambda: "rate 50/2,000ms (L)" in str(screen.query_one("#page-info", Static).render())
        )


async def _meta_is(
    redis_client: redis.asyncio.Redis, queue: Queue, expected: dict[str, str]
) -> bool:
    return await _meta(redis_client, queue) == expected


async def test_read_only_refuses_limits_and_opens_no_dialog(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add("echo", {})
    app = console(redis_url, readonly=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_queue(app, pilot, "waiting", 1)
        await pilot.press("L")
        await pilot.pause()
        assert not isinstance(app.screen, LimitsScreen)
        assert any("limits is disabled" in str(n.message) for n in app._notifications)
        assert await _meta(redis_client, queue) == {}
