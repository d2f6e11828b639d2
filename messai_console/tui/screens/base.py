"""What every data screen shares: access to the app, its backend and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from engine.events import Event
from messai_console.tui.backend import CONNECTION_ERRORS, Backend
from messai_console.tui.widgets import KeyedTable, StatusBar

if TYPE_CHECKING:
    from messai_console.tui.app import ConsoleApp

FOLLOW_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to follow the event stream again after losing Redis."""


class ConsoleScreen(Screen[None]):
    """A screen the app's refresh loop reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # First, so the footer shows it at any width: the list of every key is one away.
        Binding("question_mark", "app.help", "Keys"),
        Binding("escape", "back", "Back"),
    ]
    _following = False

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    @property
    def backend(self) -> Backend:
        return self.console.backend

    def now_ms(self) -> int:
        return self.console.now_ms()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys act on the current screen only, once mounted: keys of one read reach a
        screen they pushed before its widgets exist, and one they popped (through the
        focus it still holds) while its widgets go."""
        if not (self.is_mounted and self.is_attached and self.is_current):
            return False
        if action in self.unavailable_actions():
            return False  # not offered: the footer hides it, the key does nothing
        return super().check_action(action, parameters)

    def unavailable_actions(self) -> dict[str, str]:
        """Actions of this screen that cannot apply to what is selected now, each with
        why (the footer hides them, the help list says why)."""
        return {}

    def on_mount(self) -> None:
        self.set_class(self.console.status.connected is False, "-stale")

    def on_screen_resume(self) -> None:
        for bar in self.query(StatusBar):  # not drawn while another screen was on top
            bar.show(self.console.status)

    async def refresh_data(self) -> None:
        """Reload what the screen shows (connection errors propagate to the app)."""

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
            self.console.request_refresh()

    def follow_once(self, names: list[str], on_event: Callable[[Event], None]) -> None:
        """Start following ``names`` unless already: called from the first refresh, so a
        screen that keys push and pop before it is ever shown reads no events."""
        if not self._following:
            self._following = True
            self.run_worker(
                self.follow_events(names, on_event),
                group="follow",
                exclusive=True,
                exit_on_error=False,
            )

    async def follow_events(
        self, names: list[str], on_event: Callable[[Event], None], since: str = "$"
    ) -> None:
        """Follow the event streams of ``names`` until the screen goes away (run it in
        a worker), resuming after the last event seen when Redis comes back."""
        failures = 0
        while True:
            try:
                stream: AsyncIterator[Event] = self.backend.follow(names, since)
                async for event in stream:
                    failures = 0
                    since = event.stream_id
                    on_event(event)
            except CONNECTION_ERRORS:
                await asyncio.sleep(FOLLOW_RETRY_S[min(failures, len(FOLLOW_RETRY_S) - 1)])
                failures += 1


class TableScreen(ConsoleScreen):
    """A screen of one table of rows by key, with a totals line under it,
    refreshed as soon as it opens (workers, schedules, nodes)."""

    HEADING: ClassVar[str]
    TABLE_ID: ClassVar[str]
    TOTALS_ID: ClassVar[str]
    COLUMNS: ClassVar[Sequence[tuple[str, str]]]
    """(key, label) of each column."""

    def compose(self) -> ComposeResult:
        yield StatusBar(Text(self.HEADING, style="bold"))
        table = KeyedTable(id=self.TABLE_ID)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield from self.below_table()
        yield Static(Text("loading…", style="dim"), id=self.TOTALS_ID)
        yield Footer()

    def below_table(self) -> ComposeResult:
        """Widgets between the table and the totals line (none by default)."""
        return ()

    def on_mount(self) -> None:
        super().on_mount()
        self.console.request_refresh()

    @property
    def table(self) -> KeyedTable:
        return self.query_one(f"#{self.TABLE_ID}", KeyedTable)
