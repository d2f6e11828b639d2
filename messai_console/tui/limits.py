"""The limits dialog: a queue's rate limit and global concurrency, changed live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from messai_console.tui import render
from messai_console.tui.backend import QueueLimits


@dataclass(frozen=True)
class LimitsChoice:
    """What the operator asked for (None: no limit)."""

    max_starts: int | None
    duration_ms: int
    concurrency: int | None


class LimitsScreen(ModalScreen[LimitsChoice | None]):
    """Edit a queue's limits; an empty field removes that limit. Cancel has the focus."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, queue_name: str, current: QueueLimits) -> None:
        super().__init__()
        self.queue_name = queue_name
        self.current = current

    def compose(self) -> ComposeResult:
        title = Text("Limits of queue ", style="bold")
        title.append_text(render.safe(self.queue_name, 60, style="bold cyan"))
        current = self.current
        with Vertical(id="dialog", classes="limits"):
            yield Static(title, id="question")
            yield Static(
                Text("Across all workers, at once. Empty: no limit.", style="dim"), id="hint"
            )
            yield Label("job starts at most (per the period below)")
            yield Input(_shown(current.max_starts), id="max-starts", type="integer")
            yield Label("period, ms")
            yield Input(str(current.duration_ms), id="duration-ms", type="integer")
            yield Label("running jobs at most (global concurrency)")
            yield Input(_shown(current.concurrency), id="concurrency", type="integer")
            yield Static(Text(""), id="limits-error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Save", id="save", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def _save(self) -> None:
        try:
            choice = LimitsChoice(
                _read(self, "#max-starts"),
                _read(self, "#duration-ms") or 1000,
                _read(self, "#concurrency"),
            )
        except ValueError as exc:
            self.query_one("#limits-error", Static).update(Text(str(exc), style="bold red"))
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _shown(value: int | None) -> str:
    return "" if value is None else str(value)


def _read(screen: LimitsScreen, selector: str) -> int | None:
    raw = screen.query_one(selector, Input).value.strip()
    if not raw:
        return None
    value = int(raw)
    if value < 1:
        raise ValueError("limits are whole numbers of 1 or more (empty: no limit)")
    return value


def describe(limits: QueueLimits) -> str:
    """``rate 50/1000ms, concurrency 4`` or ``no limits``."""
    parts = []
    if limits.max_starts is not None:
        parts.append(f"rate {limits.max_starts:,}/{limits.duration_ms:,}ms")
    if limits.concurrency is not None:
        parts.append(f"concurrency {limits.concurrency:,}")
    return ", ".join(parts) or "no limits"
