"""Keys that arrive in bursts (a paste, `tmux send-keys Tab Tab`, a slow SSH link):
the console settles, and its load on Redis stays under the bound it states."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio
from textual import events
from textual.widgets import Tabs

from engine import Queue
from messai_console.tui.app import MAX_REFRESHES_PER_S, ConsoleApp
from messai_console.tui.backend import JOB_STATES
from messai_console.tui.screens.overview import REFRESH_COMMANDS_PER_QUEUE, OverviewScreen
from messai_console.tui.screens.queue import PAGE_SIZE, REFRESH_COMMANDS, QueueScreen
from tests.helpers import await_until
from tests.tui.support import SIZE, console, open_queue, wait_for_rows, wait_for_screen

BURSTS = 10
BURST_EVERY_S = 0.2
LOAD_BOUND_PER_S = MAX_REFRESHES_PER_S * REFRESH_COMMANDS + 20
"""The stated bound (the queue screen's refresh is the costliest of those the bursts
show), plus the event follower's blocking reads and the server info."""
IDLE_CPU = 0.25
"""The share of a core the test process may use once the console is idle, its
periodic refresh, the pilot and the polling included: measured 3-21% (10% typical), 50-90%
while the tabs looped."""
IDLE_WINDOW_S = 2.0
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


async def commands_so_far(client: redis.asyncio.Redis) -> int:
    """Commands the server has run, those run by scripts included."""
    stats = await client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


BURST = (
    ["tab"] * 4
    + ["shift+tab"] * 3
    + ["j"] * 15
    + ["enter", "escape"]
    + ["escape", "enter"]
    + ["tab", "shift+tab"] * 3
)
"""Keys of one terminal read: tabs both ways, a held `j`, the job opened and left, the
queue left and opened again."""


async def test_bursts_of_keys_keep_redis_load_under_the_bound_and_cpu_returns_to_idle(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    queue = Queue("papers", redis_client)
    await queue.add_bulk(("echo", {"n": n}) for n in range(3 * PAGE_SIZE))
    await queue.add_bulk(("echo", {"n": n}, {"delay_ms": 3_600_000}) for n in range(PAGE_SIZE))
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(app, pilot, "waiting", PAGE_SIZE)
        before = await commands_so_far(redis_client)
        started = time.monotonic()
        for _ in range(BURSTS):
            send_in_one_read(app, *BURST)
            await asyncio.sleep(BURST_EVERY_S)  # paces the input; nothing waits on it
        read = asyncio.Event()
        app.call_later(read.set)  # runs once the app has taken every key before it
        await asyncio.wait_for(read.wait(), timeout=30)
        # And a refresh begun after that has ended: the screens the keys pushed are up.
        await asyncio.wait_for(app.refresh_now(), timeout=30)
        ended = time.monotonic()
        # A backlog of refreshes would show here: count one second past the last key.
        await await_until(lambda: time.monotonic() >= ended + 1.0, timeout=5)
        commands = await commands_so_far(redis_client) - before
        elapsed = time.monotonic() - started
        rate = commands / elapsed
        print(f"burst: {commands} commands in {elapsed:.2f} s = {rate:.0f}/s")
        assert rate <= LOAD_BOUND_PER_S, f"{rate:.0f} commands/s under bursts of keys"

        cpu_before, wall_before = time.process_time(), time.monotonic()
        await await_until(lambda: time.monotonic() >= wall_before + IDLE_WINDOW_S, timeout=10)
        cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
        print(f"cpu from 1 s after the burst: {cpu:.0%}")
        assert cpu <= IDLE_CPU, f"the console still uses {cpu:.0%} CPU a second after the burst"


async def test_an_overview_refresh_costs_no_more_than_the_stated_commands_per_queue(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    names = ("papers", "emails", "exports")
    for name in names:  # jobs of their own priority too: every end of the line is read
        await Queue(name, redis_client).add_bulk(("echo", {"n": n}) for n in range(20))
        await Queue(name, redis_client).add("echo", {}, priority=1)
    app = console(redis_url)
    async with app.run_test(size=SIZE):
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, len(names))
        await app.refresh_now()  # the server info is read now, not during the count
        before = await commands_so_far(redis_client)
        refreshes = 5
        for _ in range(refreshes):
            await app.refresh_now()
        commands = await commands_so_far(redis_client) - before - 1  # our INFO
        per_refresh = commands / refreshes
        print(f"overview: {per_refresh:.1f} commands a refresh for {len(names)} queues")
        assert per_refresh <= 3 + REFRESH_COMMANDS_PER_QUEUE * len(names)
