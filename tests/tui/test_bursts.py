"""Keys that arrive in bursts (a paste, `tmux send-keys Tab Tab`, a slow SSH link):
the console settles, and its load on Redis stays under the bound it states."""

from __future__ import annotations

import time

import redis.asyncio
from textual import events
from textual.widgets import Tabs

from engine import Queue
from messai_console.tui.app import ConsoleApp
from messai_console.tui.backend import JOB_STATES
from messai_console.tui.screens.queue import QueueScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, open_queue

KEY_CHARACTERS = {"tab": "\t", "shift+tab": None, "escape": "\x1b", "enter": "\r", "j": "j"}


def send_in_one_read(app: ConsoleApp, *keys: str) -> None:
    """Queue ``keys`` the way the terminal driver does when one read holds several of
    them: all posted before the app handles the first."""
    for key in keys:
        app.post_message(events.Key(key, KEY_CHARACTERS[key]))


async def watch_states(screen: QueueScreen, seconds: float) -> set[str]:
    """The tabs the screen shows over ``seconds`` (sampled every 10 ms)."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds

    def sample() -> bool:
        seen.add(screen.state)
        seen.add(str(screen.query_one("#states", Tabs).active))
        return time.monotonic() >= deadline

    await await_until(sample, timeout=seconds + 5)
    return seen


async def test_tabs_in_one_read_move_that_many_tabs_and_stay_there(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await Queue("papers", redis_client).add_bulk(("echo", {"n": n}) for n in range(3))
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot, "waiting", 3)
        index = 0
        for key, presses in [("tab", 2), ("shift+tab", 3), ("tab", 4), ("shift+tab", 2)] * 2:
            send_in_one_read(app, *[key] * presses)
            index = (index + (presses if key == "tab" else -presses)) % len(JOB_STATES)
            expected = JOB_STATES[index]
            await await_until(lambda s=expected: screen.state == s, message=f"never on {expected}")
            assert await watch_states(screen, 0.5) == {expected}

        await pilot.click("#failed")  # a click on a tab still switches to it
        await await_until(lambda: screen.state == "failed")
        assert await watch_states(screen, 0.5) == {"failed"}
