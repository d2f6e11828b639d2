"""Overview: one row per queue, with totals and the server in the status bar."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from engine.rates import QueueRates
from messai_console.tui import render
from messai_console.tui.backend import JOB_STATES, Overview, QueueSummary
from messai_console.tui.screens.actions import QueueActions
from messai_console.tui.widgets import KeyedTable, StatusBar, show_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("queue", "queue"),
    ("state", "state"),
    ("waiting", "waiting"),
    ("active", "active"),
    # What the queue does now, left of the totals: at 80 columns these stay in view.
    ("done_rate", "done/s"),
    ("failed_rate", "failed/s"),
    ("backlog", "backlog/s"),
    ("drain", "empty in"),
    ("oldest", "oldest"),
    ("delayed", "delayed"),
    ("completed", "completed"),
    ("failed", "failed"),
)
REFRESH_COMMANDS_PER_QUEUE = 8 + 8
"""Redis commands a refresh costs per queue at most: its counts and paused flag, then
(engine.rates) its finished counters (two HMGETs in a day's first minute, else one),
the three ends of its waiting line and their creation times. Plus, per refresh,
SMEMBERS, TIME and the worker registry, and one HGETALL per worker."""
COUNTED = ("waiting", "active", "delayed", "completed", "failed")
SHORT_STATES = {
    "waiting": "wait",
    "active": "run",
    "delayed": "later",
    "completed": "done",
    "failed": "failed",
}
"""Labels of the totals on a narrow terminal."""
NARROW_WIDTH = 110
"""Below this many columns the totals take their short labels."""


class OverviewScreen(QueueActions):
    """Every queue at a glance; enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=False),
        Binding("enter", "open", "Open", show=False),
        Binding("p", "pause", "Pause/resume"),
        Binding("d", "drain", "Drain"),
        Binding("R", "retry_all", "Retry failed"),
        Binding("E", "errors", "Errors"),
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
        if queue.paused:
            state = Text("paused", style="bold yellow")
        elif queue.workers:
            plural = "s" if queue.workers > 1 else ""
            state = Text(f"{queue.workers} worker{plural}", style="green")
        else:
            state = Text("no workers", style="dim")
        failed = counts.get("failed", 0)
        rates = queue.rates
        return (
            render.safe(queue.name, 40, style="bold"),
            state,
            render.count(counts.get("waiting", 0)),
            render.count(counts.get("active", 0)),
            render.per_second(rates.completed_per_s if rates else None),
            render.per_second(rates.failed_per_s if rates else None, style="bold red"),
            render.backlog_trend(rates.backlog_per_s if rates else None),
            _drain(rates),
            _oldest(rates, self.now_ms()),
            render.count(counts.get("delayed", 0)),
            render.count(counts.get("completed", 0)),
            Text(f"{failed:,}", style="bold red" if failed else "dim", justify="right"),
        )

    def _show_totals(self, overview: Overview) -> None:
        totals = dict.fromkeys(COUNTED, 0)
        for queue in overview.queues:
            for state in COUNTED:
                totals[state] += queue.counts.get(state, 0)
        now = self.now_ms()
        live = [w for w in overview.workers if not w.is_silent(now)]
        silent = len(overview.workers) - len(live)
        # Narrow terminals (80 columns): shorter labels and gaps, so each line fits.
        narrow = self.size.width < NARROW_WIDTH
        gap = "  " if narrow else "   "
        text = Text()
        text.append(f"{len(overview.queues)} queues", style="bold")
        for state in COUNTED:
            text.append(f"{gap}{SHORT_STATES[state] if narrow else state} ")
            style = "bold red" if state == "failed" and totals[state] else "bold"
            text.append(f"{totals[state]:,}", style=style)
        text.append(f"{gap}workers {len(live)}", style="bold")
        if silent:
            text.append(f" ({silent} silent)", style="yellow")
        paused = sum(1 for q in overview.queues if q.paused)
        if paused:
            text.append(f"{gap}{paused} paused", style="yellow")
        text.append("\n")
        text.append_text(_rates_line(overview.total, now, narrow))
        for name, sharded in overview.sharded.items():
            text.append("\n")
            text.append(render.safe(name, 40, style="bold"))
            text.append(f" ({sharded.shards} shards)")
            for state in COUNTED:
                text.append(f"{gap}{SHORT_STATES[state] if narrow else state} ")
                text.append(f"{sharded.counts.get(state, 0):,}", style="bold")
        if not overview.queues:
            text.append(
                "\nNo queues yet: add a job (messai-console job add …) or run the demo.",
                style="dim",
            )
        show_text(self.query_one("#totals", Static), text)

    # -- keys ---------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self._open(str(event.row_key.value))

    def action_open(self) -> None:
        if self.queue_name:
            self._open(self.queue_name)

    def _open(self, name: str) -> None:
        """Open on the first tab that has jobs when none wait (the failed ones, say)."""
        summary = self.summary(name)
        counts = summary.counts if summary else {}
        state = next((s for s in JOB_STATES if counts.get(s, 0)), "waiting")
        self.console.open_queue(name, state)

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

    def action_errors(self) -> None:
        name = self._selected()
        if name:
            self.console.open_errors(name)

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


def _drain(rates: QueueRates | None) -> Text:
    """When nothing will wait, at the pace the backlog shrinks now."""
    if rates is None or rates.waiting == 0:
        return Text("-", style="dim", justify="right")
    drain_s = rates.drain_s
    if drain_s is None:
        return Text("never", style="yellow", justify="right")
    return Text(render.duration(drain_s * 1000), justify="right")


def _oldest(rates: QueueRates | None, now_ms: int) -> Text:
    """To the minute, as ages in tables are: a cell in seconds changes every second
    and redraws the table (the totals line below gives the seconds)."""
    wait_ms = rates.oldest_wait_ms(now_ms) if rates else None
    if wait_ms is None:
        return Text("-", style="dim", justify="right")
    return Text(render.rough_duration(wait_ms), justify="right")


def _rates_line(total: QueueRates | None, now_ms: int, narrow: bool = False) -> Text:
    """Every queue together, now: finished per second, the backlog, the oldest wait."""
    gap = "  " if narrow else "   "
    text = Text()
    text.append("now ", style="bold")
    if total is None:
        text.append("measuring…", style="dim")
        return text
    text.append("done ")
    text.append_text(render.per_second(total.completed_per_s, style="bold"))
    text.append(f"/s{gap}failed ")
    text.append_text(render.per_second(total.failed_per_s, style="bold red"))
    text.append(f"/s{gap}backlog ")
    text.append_text(render.backlog_trend(total.backlog_per_s))
    text.append("/s")
    drain_s = total.drain_s
    if total.waiting and drain_s is not None:
        text.append(f", empty in {render.duration(drain_s * 1000)}")
    elif total.waiting:
        text.append(", not shrinking", style="yellow")
    wait_ms = total.oldest_wait_ms(now_ms)
    if wait_ms is not None:
        text.append(f"{gap}oldest " if narrow else f"{gap}oldest waiting ")
        text.append(render.duration(wait_ms), style="bold")
    if not narrow:
        text.append(f"{gap}(last {total.window_ms / 1000:.0f}s)", style="dim")
    return text
