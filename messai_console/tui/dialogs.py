"""Modal screens: confirm a destructive action, show an error, list every key."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

CANCEL = "cancel"


class ConfirmScreen(ModalScreen[str | None]):
    """Asks before a destructive action. Cancel has the focus, so a stray ``enter``
    changes nothing; dismisses with the chosen value, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left,h", "app.focus_previous", "Previous", show=False),
        Binding("right,l", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, question: Text, choices: list[tuple[str, str]], danger: bool = True) -> None:
        """``choices``: (value, button label) pairs besides Cancel; ``danger``: they
        destroy (red buttons) rather than pick."""
        super().__init__()
        self.question = question
        self.choices = choices
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id=CANCEL, variant="primary")
                for value, label in self.choices:
                    yield Button(
                        Text(label),
                        id=f"choice-{value}",
                        variant="error" if self.danger else "default",
                    )

    def on_mount(self) -> None:
        self.query_one(f"#{CANCEL}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or CANCEL
        self.dismiss(None if button_id == CANCEL else button_id.removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """An action failed: say why, in one place, until dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, message: Text) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Static(Text(self.title_text, style="bold"), id="title")
            yield Static(self.message, id="message")
            with Horizontal(id="buttons"):
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


KEYS: list[tuple[str, str, str]] = [
    ("everywhere", "enter", "open the highlighted queue or job"),
    ("everywhere", "esc", "back"),
    ("everywhere", "j / k, arrows", "move"),
    ("everywhere", ":", "jump to a queue, a job id or a screen"),
    (
        "everywhere",
        "w / e / m / s",
        "workers, events, metrics, schedules (on a queue, s flips the order)",
    ),
    ("everywhere", "n", "nodes: the master and its replicas"),
    ("everywhere", "f", "freeze or unfreeze live updates"),
    ("everywhere", "+ / -", "refresh faster or slower (at most once a second)"),
    ("everywhere", "?", "this list"),
    ("everywhere", "q", "quit"),
    ("queue", "p", "pause or resume the queue"),
    ("queue", "d", "drain: remove waiting and delayed jobs (asks first)"),
    ("queue", "R", "retry every failed job (asks first)"),
    ("queue", "E", "top errors: failed jobs grouped by error"),
    ("queue", "c", "clean completed or failed jobs (asks first)"),
    ("queue screen", "L", "limits: rate limit and global concurrency, live"),
    ("queue screen", "tab / shift+tab", "next / previous state"),
    ("queue screen", "/", "filter by job name or id (esc clears)"),
    ("queue screen", "s", "flip the order (oldest or newest first)"),
    ("queue screen", "pgup / pgdn", "previous / next page (also past the last row)"),
    ("queue screen", "space", "mark the row and move to the next; r, x, delete, P act on all"),
    ("job", "r", "retry a failed job"),
    ("job", "x", "cancel: remove a waiting job, stop a running one (asks first)"),
    ("job", "delete", "remove the job (asks first)"),
    ("job", "P", "promote a delayed job to waiting"),
    ("job screen", "o", "change the priority of a waiting or delayed job (asks which)"),
    ("job screen", "D", "change the delay of a waiting or delayed job (asks how long)"),
    ("metrics", "tab", "hour, day or week"),
    ("metrics", "[ / ]", "previous / next queue (or all)"),
    ("events", "/", "filter by words in the queue, event or job id"),
    ("events", "[ / ]", "previous / next queue (or all)"),
    ("events", "t / T", "next / previous event type (or all)"),
    ("events", "space", "pause or resume the stream"),
    ("workers", "p", "pause or resume the highlighted worker (running jobs finish)"),
    ("schedules", "delete", "remove the schedule (asks first)"),
    ("errors", "r / delete", "retry / delete every job of the group (asks, says how many)"),
    ("errors", "enter", "open the group's newest job"),
]


JOB_KEY_ACTIONS = {"r": "retry", "x": "cancel_job", "delete": "remove", "P": "promote"}
"""The actions of the "job" rows (offered on the job and queue screens)."""


class HelpScreen(ModalScreen[None]):
    """Every key of every screen; job keys that cannot apply now are dimmed, with why."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, unavailable: dict[str, str] | None = None) -> None:
        """``unavailable``: actions of the screen below that cannot apply now, and why."""
        super().__init__()
        self.unavailable = unavailable or {}

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("where", style="dim")
        table.add_column("key", style="bold cyan")
        table.add_column("what it does")
        for where, key, what in KEYS:
            reason = self.unavailable.get(JOB_KEY_ACTIONS.get(key, "")) if where == "job" else None
            if reason:
                table.add_row(Text(where), Text(key), Text(f"{what} ({reason})"), style="dim")
            else:
                table.add_row(Text(where), Text(key), Text(what))
        with Vertical(id="dialog", classes="help"):
            yield Static(Text("Keys", style="bold"), id="title")
            with VerticalScroll():
                yield Static(table)
            yield Static(
                Text("Mouse: click rows, tabs and buttons. esc closes this list.", style="dim")
            )

    def action_close(self) -> None:
        self.dismiss(None)
