"""Overview: one row per queue, with totals and the server in the status bar."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from messai_console.tui import render
from messai_console.tui.backend import Overview, QueueSummary
from messai_console.tui.screens.actions import QueueActions
from messai_console.tui.widgets import KeyedTable, StatusBar

COLUMNS: tuple[tuple[str, str], ...] = (
    ("queue", "queue"),
    ("state", "state"),
    ("waiting", "waiting"),
    ("active", "active"),
    ("delayed", "delayed"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("per_minute", "jobs/min"),
    ("last_hour", "last hour"),
    ("workers", "workers"),
)
COUNTED = ("waiting", "active", "delayed", "completed", "failed")


class OverviewScreen(QueueActions):
    """Every queue at a glance; enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=False),
        Binding("enter", "open", "Open", show=False),
        Binding("p", "pause", "Pause/resume"),
        Binding("d", "drain", "Drain"),
        Binding("R", "retry_all", "Retry failed"),
        Binding("c", "clean", "Clean"),
        Binding("w", "app.workers", "Workers"),
        Binding("e", "app.events", "Events"),
        Binding("m", "app.metrics", "Metrics"),
        Binding("s", "app.schedules", "Schedules"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.overview: Overview | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(Text("Overview", style="bold"))
        table = KeyedTable(id="queues")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(Text("loading…", style="dim"), id="totals")
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#queues", KeyedTable)

    @property
    def queue_name(self) -> str | None:
        """The highlighted queue."""
        return self.table.cursor_key

    def summary(self, name: str | None) -> QueueSummary | None:
        if self.overview is None or name is None:
            return None
        return next((q for q in self.overview.queues if q.name == name), None)

    async def refresh_data(self) -> None:
        overview = await self.backend.overview(self.now_ms())
        self.overview = overview
        self.console.known_queues = [q.name for q in overview.queues]
        self.table.sync([(q.name, self._cells(q)) for q in overview.queues])
        self._show_totals(overview)

    def _cells(self, queue: QueueSummary) -> tuple[Any, ...]:
        counts = queue.counts
        state = (
            Text("paused", style="bold yellow")
            if queue.paused
            else Text("running", style="green")
            if queue.workers
            else Text("no workers", style="dim")
        )
        last_minutes = queue.per_minute[-6:-1] or [0]
        per_minute = sum(last_minutes) / len(last_minutes)
        failed = counts.get("failed", 0)
        return (
            render.safe(queue.name, 40, style="bold"),
            state,
            render.count(counts.get("waiting", 0)),
            render.count(counts.get("active", 0)),
            render.count(counts.get("delayed", 0)),
            render.count(counts.get("completed", 0)),
            Text(f"{failed:,}", style="bold red" if failed else "dim", justify="right"),
            Text(f"{per_minute:,.1f}", style="dim" if per_minute == 0 else "", justify="right"),
            render.sparkline(queue.per_minute, 20),
            render.count(queue.workers),
        )

    def _show_totals(self, overview: Overview) -> None:
        totals = dict.fromkeys(COUNTED, 0)
        for queue in overview.queues:
            for state in COUNTED:
                totals[state] += queue.counts.get(state, 0)
        now = self.now_ms()
        live = [w for w in overview.workers if not w.is_silent(now)]
        silent = len(overview.workers) - len(live)
        text = Text()
        text.append(f"{len(overview.queues)} queues", style="bold")
        for state in COUNTED:
            text.append(f"   {state} ")
            style = "bold red" if state == "failed" and totals[state] else "bold"
            text.append(f"{totals[state]:,}", style=style)
        text.append(f"   workers {len(live)}", style="bold")
        if silent:
            text.append(f" ({silent} silent)", style="yellow")
        paused = sum(1 for q in overview.queues if q.paused)
        if paused:
            text.append(f"   {paused} paused", style="yellow")
        if not overview.queues:
            text.append(
                "\nNo queues yet: add a job (messai-console job add …) or run the demo.",
                style="dim",
            )
        self.query_one("#totals", Static).update(text)

    # -- keys ---------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.console.open_queue(str(event.row_key.value))

    def action_open(self) -> None:
        if self.queue_name:
            self.console.open_queue(self.queue_name)

    def _selected(self) -> str | None:
        name = self.queue_name
        if name is None:
            self.notify("no queue highlighted", severity="warning", markup=False)
        return name

    def action_pause(self) -> None:
        name = self._selected()
        if name:
            summary = self.summary(name)
            self.pause_or_resume(name, bool(summary and summary.paused))

    def action_drain(self) -> None:
        name = self._selected()
        if name:
            self.drain(name)

    def action_retry_all(self) -> None:
        name = self._selected()
        if name:
            self.retry_all_failed(name)

    def action_clean(self) -> None:
        name = self._selected()
        if name:
            self.clean(name)

    def action_back(self) -> None:
        """The overview is the bottom screen: esc has nowhere to go."""
