"""What every data screen shares: access to the app, its backend and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, ClassVar, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen

from engine.events import Event
from messai_console.tui.backend import CONNECTION_ERRORS, Backend

if TYPE_CHECKING:
    from messai_console.tui.app import ConsoleApp

FOLLOW_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to follow the event stream again after losing Redis."""


class ConsoleScreen(Screen[None]):
    """A screen the app's refresh loop reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    @property
    def backend(self) -> Backend:
        return self.console.backend

    def now_ms(self) -> int:
        return self.console.now_ms()

    def on_mount(self) -> None:
        self.set_class(self.console.status.connected is False, "-stale")

    async def refresh_data(self) -> None:
        """Reload what the screen shows (connection errors propagate to the app)."""

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
            self.console.request_refresh()

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
