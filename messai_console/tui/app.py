"""The console application: the refresh loop, the connection state and the actions.

Refresh: whatever asks for one (the periodic timer, a key, an event, an
action), at most one refresh runs and at most one waits; asks that arrive
meanwhile join the waiting one. Refreshes start MIN_REFRESH_GAP_S apart at
least, and the periodic one comes an interval (1 s by default, ``+``/``-``)
after the last refresh ended; none while frozen (``f``) or behind a modal.
Each refresh asks the topmost screen to reload what it shows and updates
the status bar; a failure to reach Redis marks the console disconnected
(the last data stays on screen, greyed) and the next tick tries again.

The load on Redis, by design (commands counted as ``INFO commandstats``
does, those a script runs included):

- refreshes: at most MAX_REFRESHES_PER_S (5) a second while keys arrive,
  one a refresh interval otherwise, whatever the input;
- one refresh reads the screen shown and nothing else: the queue screen
  at most ``queue.REFRESH_COMMANDS`` (115: counts, one page script, one
  hash per row of the 100-row page); the overview at most 3 + 16 per
  queue + 1 per worker (``overview.REFRESH_COMMANDS_PER_QUEUE``: counts,
  the rate counters, the waiting line's ends); a job screen at most 12
  (the job, its newest 500 log lines, its events: one bounded XRANGE);
- now and then: INFO and CONFIG GET every 5 s, and one blocking XREAD a
  second per screen that follows events (more only as events arrive).

So a queue screen costs at most about 600 commands a second under any
burst of keys, and about 115 a second idle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.timer import Timer

from engine.settings import mask_url
from messai_console.tui import render
from messai_console.tui.backend import CONNECTION_ERRORS, Backend
from messai_console.tui.commands import JumpCommands
from messai_console.tui.dialogs import ConfirmScreen, ErrorScreen, HelpScreen
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.screens.errors import ErrorsScreen
from messai_console.tui.screens.events import EventsScreen
from messai_console.tui.screens.job import JobScreen
from messai_console.tui.screens.metrics import MetricsScreen
from messai_console.tui.screens.nodes import NodesScreen
from messai_console.tui.screens.overview import OverviewScreen
from messai_console.tui.screens.queue import QueueScreen
from messai_console.tui.screens.schedules import SchedulesScreen
from messai_console.tui.screens.workers import WorkersScreen
from messai_console.tui.widgets import Status

REFRESH_INTERVALS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
"""The choices of ``+`` / ``-``: never more often than once a second."""
MIN_REFRESH_GAP_S = 0.2
"""Refreshes start at least this far apart, whatever asks for them (keys, events)."""
MAX_REFRESHES_PER_S = round(1 / MIN_REFRESH_GAP_S)
"""The most refreshes a second, while keys arrive; one per interval otherwise."""
JUMP_CHOICES = 6
"""A job id found in more queues than this: the jump offers the first ones."""
SERVER_INFO_EVERY_MS = 5_000
"""INFO and CONFIG GET are heavier than the counts: read them this often (and INFO
on every node, for the node view and to notice a new master)."""
MASTER_NOTICE_MS = 60_000
"""How long the header says that the master changed."""

Action = Callable[[str], Awaitable[str]]
"""An operator action: gets the confirm dialog's choice, returns the notification text."""


class ConsoleApp(App[None]):
    """The operations console.

    Args:
        url: the Redis URL.
        prefix: the deployment's key prefix.
        readonly: refuse every action (look, don't touch).
        clock: epoch seconds (``time.time``); frozen in snapshot tests.
    """

    CSS_PATH = "console.tcss"
    TITLE = "messai-console"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {
        *App.COMMANDS,
        JumpCommands,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys", show=False),  # screens show theirs first
        Binding("colon", "command_palette", "Jump"),
        # Binding the palette to ":" drops Textual's own ctrl+p: bind it again.
        Binding("ctrl+p", "command_palette", "Palette", show=False),
        Binding("f", "freeze", "Freeze"),
        Binding("plus", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("w", "workers", "Workers", show=False),
        Binding("e", "events", "Events", show=False),
        Binding("m", "metrics", "Metrics", show=False),
        Binding("s", "schedules", "Schedules", show=False),
        Binding("n", "nodes", "Nodes", show=False),
    ]

    status: var[Status] = var(Status(url=""), always_update=True)
    """What the status bar of every screen shows."""

    def __init__(
        self,
        url: str,
        prefix: str = "messai",
        readonly: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.backend = Backend(url, prefix)
        self.readonly = readonly
        self.clock = clock or time.time
        self.display_url = mask_url(url)
        self.interval_index = 0
        self.frozen = False
        self.known_queues: list[str] = []
        """Queue names from the last overview refresh (the jump palette offers them)."""
        self._server: dict[str, Any] = {}
        self._server_read_ms = 0
        self._timer: Timer | None = None
        self._refresh_wanted = False
        self._pump_running = False
        self._refreshes_started = 0
        self._refreshes_ended = 0
        self._refresh_ended = asyncio.Condition()
        self._last_refresh_start = -MIN_REFRESH_GAP_S
        self._last_refresh_error = ""
        self.refresh_count = 0
        """Completed refreshes (tests wait on it)."""
        self._notice = ""
        self._notice_ms = 0
        self.status = Status(
            url=self.display_url,
            readonly=readonly,
            now_ms=self.now_ms(),
            from_replica=self.backend.from_replica,
        )

    # -- time and state -----------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def interval_s(self) -> float:
        return REFRESH_INTERVALS[self.interval_index]

    @property
    def connected(self) -> bool:
        return bool(self.status.connected)

    @property
    def live(self) -> bool:
        """Whether live updates may change the screen now."""
        return not self.frozen

    def _set_status(self, **changes: Any) -> None:
        self.status = replace(
            self.status,
            url=self.display_url,
            now_ms=self.now_ms(),
            frozen=self.frozen,
            interval_s=self.interval_s,
            **changes,
        )

    def mark_disconnected(self, exc: BaseException) -> None:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if self.backend.sentinel:
            # The sentinels may be electing a new master: say so; the next tick asks them.
            error = f"master unreachable (failover?), asking the sentinels again: {reason}"
        else:
            error = f"Redis unreachable: {reason}"
        self._set_status(connected=False, error=error)
        for screen in self.screen_stack:
            screen.set_class(True, "-stale")

    def _mark_connected(self) -> None:
        if self.status.connected is not True:
            for screen in self.screen_stack:
                screen.set_class(False, "-stale")
        notice = self._notice if self.now_ms() - self._notice_ms < MASTER_NOTICE_MS else ""
        self._set_status(
            connected=True, error="", server=self._server, data_ms=self.now_ms(), notice=notice
        )

    async def _read_server(self) -> None:
        """INFO on the master (and on every node): a new master is announced in the header."""
        self._server = await self.backend.server()
        await self.backend.node_list()
        moved = self.backend.take_master_moved()
        if moved is not None:
            self._notice = f"master changed: {moved[0]} -> {moved[1]}, reconnected"
            self._notice_ms = self.now_ms()

    # -- lifecycle ----------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return OverviewScreen()

    def on_mount(self) -> None:
        self.call_after_refresh(self._want_refresh)

    async def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        await self.backend.close()

    # -- the refresh loop ---------------------------------------------------

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(delay, self._tick, name="refresh")

    def _tick(self) -> None:
        if not self.screen_stack:  # the app is closing
            return
        if self.frozen or isinstance(self.screen_stack[-1], ModalScreen):
            self._set_status()
            self._schedule(self.interval_s)
        else:
            self._want_refresh()

    def _want_refresh(self) -> None:
        """Ask for one refresh: it joins the pending one if there is one already, so
        however many ask, at most one refresh runs and one waits."""
        self._refresh_wanted = True
        if not self._pump_running:
            self._pump_running = True
            self.run_worker(self._pump_refreshes(), group="refresh", exit_on_error=False)

    async def _pump_refreshes(self) -> None:
        """Run the refreshes asked for, one at a time, MIN_REFRESH_GAP_S apart at least;
        after each, the periodic one is due an interval later."""
        try:
            while self._refresh_wanted:
                wait = self._last_refresh_start + MIN_REFRESH_GAP_S - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._refresh_wanted = False  # asks from here on need a refresh of their own
                self._last_refresh_start = time.monotonic()
                self._refreshes_started += 1
                try:
                    await self._refresh_once()
                finally:
                    self._refreshes_ended = self._refreshes_started
                    async with self._refresh_ended:
                        self._refresh_ended.notify_all()
                    self._schedule(self.interval_s)
        finally:
            self._pump_running = False

    def data_screen(self) -> ConsoleScreen | None:
        """The screen under any modals, if it shows data."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ModalScreen):
                continue
            return screen if isinstance(screen, ConsoleScreen) else None
        return None

    async def refresh_now(self) -> None:
        """Refresh (even while frozen) and return when a refresh that began after this
        call has ended: the data on screen is at least as new as the call."""
        target = self._refreshes_started + 1
        self._want_refresh()
        async with self._refresh_ended:
            await self._refresh_ended.wait_for(lambda: self._refreshes_ended >= target)

    async def _refresh_once(self) -> None:
        """Reload the server info (now and then) and the current screen's data."""
        screen = self.data_screen()
        now = self.now_ms()
        try:
            if not self._server or now - self._server_read_ms >= SERVER_INFO_EVERY_MS:
                await self._read_server()
                self._server_read_ms = now
            if screen is not None and screen.is_mounted:
                await screen.refresh_data()
        except CONNECTION_ERRORS as exc:
            self._server_read_ms = 0
            self.mark_disconnected(exc)
            return
        except Exception as exc:  # a bug or an odd reply: say it once, keep running
            message = f"refresh failed: {type(exc).__name__}: {exc}"
            if message != self._last_refresh_error:
                self._last_refresh_error = message
                self.notify(render.visible_str(message, 300), severity="error", markup=False)
            return
        self._last_refresh_error = ""
        self.refresh_count += 1
        self._mark_connected()

    def request_refresh(self) -> None:
        """Refresh soon (after a key, or when an event says the page changed); nothing
        while frozen. Asks made while one refresh waits add nothing."""
        if not self.frozen:
            self._want_refresh()

    # -- actions ------------------------------------------------------------

    def act(
        self,
        verb: str,
        run: Action,
        question: Text | None = None,
        choices: list[tuple[str, str]] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Run an operator action: refused when read-only, confirmed first when it is
        destructive (``question``), its outcome a notification or an error modal."""
        if self.readonly:
            self.notify(f"read-only console: {verb} is disabled", severity="warning", markup=False)
            return
        if question is None:
            self.run_worker(self._act(verb, run, "", after), group="actions", exit_on_error=False)
            return

        def chosen(value: str | None) -> None:
            if value:
                self.run_worker(
                    self._act(verb, run, value, after), group="actions", exit_on_error=False
                )

        self.push_screen(ConfirmScreen(question, choices or [("yes", verb.capitalize())]), chosen)

    async def _act(
        self, verb: str, run: Action, choice: str, after: Callable[[], None] | None
    ) -> None:
        try:
            message = await run(choice)
        except CONNECTION_ERRORS as exc:
            self.mark_disconnected(exc)
            self.push_screen(
                ErrorScreen(f"{verb} failed", Text("Redis is unreachable; nothing was changed."))
            )
            return
        except Exception as exc:
            self.push_screen(
                ErrorScreen(f"{verb} failed", render.safe_block(str(exc) or type(exc).__name__))
            )
            return
        self.notify(render.visible_str(message, 300), markup=False)
        if after is not None:
            after()
        await self.refresh_now()

    # -- navigation ---------------------------------------------------------

    def open_queue(self, name: str, state: str = "waiting") -> None:
        top = self.screen
        if not (isinstance(top, QueueScreen) and top.queue_name == name):
            self.push_screen(QueueScreen(name, state))

    def open_errors(self, queue: str) -> None:
        top = self.screen
        if not (isinstance(top, ErrorsScreen) and top.queue_name == queue):
            self.push_screen(ErrorsScreen(queue))

    def open_job(self, queue: str, job_id: str) -> None:
        """(Like ``open_queue``, nothing when it is open already: a selection handled
        after the key that follows it, as in a burst of keys, must not stack copies.)"""
        top = self.screen
        if not (isinstance(top, JobScreen) and (top.queue_name, top.job_id) == (queue, job_id)):
            self.push_screen(JobScreen(queue, job_id))

    def _push_unique(self, screen_type: type[Screen[Any]], make: Callable[[], Screen[Any]]) -> None:
        if isinstance(self.screen, screen_type):
            return
        self.push_screen(make())
        self.request_refresh()

    def action_workers(self) -> None:
        self._push_unique(WorkersScreen, WorkersScreen)

    def action_nodes(self) -> None:
        self._push_unique(NodesScreen, NodesScreen)

    def action_events(self) -> None:
        self._push_unique(EventsScreen, EventsScreen)

    def action_schedules(self) -> None:
        self._push_unique(SchedulesScreen, SchedulesScreen)

    def action_metrics(self) -> None:
        screen = self.data_screen()
        queue = getattr(screen, "queue_name", None)
        self._push_unique(MetricsScreen, lambda: MetricsScreen(queue))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            screen = self.data_screen()
            unavailable = screen.unavailable_actions() if screen is not None else {}
            self.push_screen(HelpScreen(unavailable))

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self._set_status()
        self.notify("live updates frozen" if self.frozen else "live updates resumed", markup=False)
        if not self.frozen:
            self.request_refresh()

    def action_faster(self) -> None:
        self.interval_index = max(self.interval_index - 1, 0)
        self._set_status()

    def action_slower(self) -> None:
        self.interval_index = min(self.interval_index + 1, len(REFRESH_INTERVALS) - 1)
        self._set_status()

    async def jump_to_job(self, text: str) -> None:
        """Open the job ``queue:id`` names, or the job with this id in whichever queue
        holds it; asks which when several do."""
        queue, job_id = self.split_job_ref(text)
        try:
            if queue is not None:
                found = await self.backend.queue(queue).get_job(job_id) is not None
                queues = [queue] if found else []
            else:
                queues = await self.backend.find_job(job_id)
        except CONNECTION_ERRORS as exc:
            self.mark_disconnected(exc)
            return
        where = f"queue {queue!r}" if queue is not None else "any queue"
        if not queues:
            self.notify(
                render.visible_str(f"no job {job_id!r} in {where}", 120),
                severity="warning",
                markup=False,
            )
            return
        if len(queues) == 1:
            self.open_job(queues[0], job_id)
            return
        shown = queues[:JUMP_CHOICES]
        question = Text("Job ")
        question.append_text(render.safe(job_id, 60, style="bold"))
        question.append(f" is in {len(queues)} queues: open which?")
        if len(queues) > len(shown):
            question.append(f"\n(the first {len(shown)}; type queue:id for another)", style="dim")

        def chosen(value: str | None) -> None:
            if value:
                self.open_job(shown[int(value)], job_id)

        choices = [(str(index), render.visible_str(name, 30)) for index, name in enumerate(shown)]
        self.push_screen(ConfirmScreen(question, choices, danger=False), chosen)

    def split_job_ref(self, text: str) -> tuple[str | None, str]:
        """``queue:id`` as (queue, id) when the part before a colon is a known queue
        (the longest that fits), else (None, text)."""
        text = text.strip()
        names = [
            n for n in self.known_queues if text.startswith(f"{n}:") and len(text) > len(n) + 1
        ]
        if not names:
            return None, text
        name = max(names, key=len)
        return name, text[len(name) + 1 :]
