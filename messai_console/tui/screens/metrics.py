"""Metrics: completed and failed jobs per minute over an hour, a day or a week."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from engine.metrics import MetricsWindow
from messai_console.tui import render
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.widgets import StatusBar, show_text

WINDOWS: tuple[MetricsWindow, ...] = ("hour", "day", "week")
CHART_HEIGHT = 8
BLOCKS = " ▁▂▃▄▅▆▇█"
READ_EVERY_MS = 10_000
"""Per-minute data changes slowly: read it this often (or on a key press)."""


def buckets(values: list[int], width: int) -> list[int]:
    """``values`` summed into at most ``width`` columns."""
    columns = max(min(width, len(values)), 1)
    sums = [0] * columns
    for index, value in enumerate(values):
        sums[min(index * columns // len(values), columns - 1)] += value
    return sums


def bar_chart(values: list[int], width: int, height: int, style: str) -> Text:
    """Vertical bars, one per column; each column sums its share of ``values``."""
    if not values:
        return Text("")
    columns = buckets(values, width)
    peak = max(columns)
    lines = []
    for row in range(height, 0, -1):
        line = Text()
        for value in columns:
            eighths = round(value / peak * height * 8) if peak else 0
            level = min(max(eighths - (row - 1) * 8, 0), 8)
            line.append(
                BLOCKS[level] if level else ("▁" if row == 1 and value else " "), style=style
            )
        lines.append(line)
    axis = Text("─" * len(columns), style="dim")
    return Text("\n").join([*lines, axis])


class MetricsScreen(ConsoleScreen):
    """Throughput and failures of one queue (or all) as bar charts."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_window", "Hour/day/week", priority=True),
        Binding("right_square_bracket", "next_queue", "Next queue"),
        Binding("left_square_bracket", "previous_queue", "Previous queue"),
    ]

    def __init__(self, queue_name: str | None = None) -> None:
        super().__init__()
        self.queue_name = queue_name
        """None: every queue summed."""
        self.window: MetricsWindow = "hour"
        self.points: list[dict[str, int]] = []
        self._read_ms = 0
        self._queues: list[str] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(Text("Metrics", style="bold"))
        with VerticalScroll(id="metrics-body"):
            yield Static(Text("loading…", style="dim"), id="metrics-summary")
            completed = Static(Text(""), id="completed-chart", classes="section")
            completed.border_title = "completed per minute"
            yield completed
            failed = Static(Text(""), id="failed-chart", classes="section")
            failed.border_title = "failed per minute"
            yield failed
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.console.request_refresh()

    def on_resize(self) -> None:
        self._show()

    async def refresh_data(self) -> None:
        now = self.now_ms()
        if self.points and now - self._read_ms < READ_EVERY_MS:
            return
        self._queues = await self.backend.queue_names()
        names = [self.queue_name] if self.queue_name else self._queues
        self.points = await self.backend.metrics(names, self.window, now) if names else []
        self._read_ms = now
        self._show()

    def _reload(self) -> None:
        self._read_ms = 0
        self.console.request_refresh()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        points = self.points
        completed = [p["completed"] for p in points]
        failed = [p["failed"] for p in points]
        runs = sum(completed) + sum(failed)
        run_time = sum(p["run_time_ms"] for p in points)
        summary = Text()
        summary.append("queue ", style="dim")
        if self.queue_name:
            summary.append_text(render.safe(self.queue_name, 60, style="bold cyan"))
        else:
            summary.append("all queues", style="bold cyan")
        summary.append("   window ", style="dim")
        for window in WINDOWS:
            summary.append(f" {window} ", style="bold reverse" if window == self.window else "dim")
        summary.append(f"\ncompleted {sum(completed):,}", style="bold green")
        summary.append(f"   failed {sum(failed):,}", style="bold red" if sum(failed) else "dim")
        if runs:
            summary.append(f"   mean run time {render.duration(run_time / runs)}")
            peak = max(c + f for c, f in zip(completed, failed, strict=True))
            summary.append(f"   peak {peak:,}/min")
            failure_rate = sum(failed) / runs * 100
            summary.append(
                f"   failure rate {failure_rate:.1f}%", style="red" if failure_rate else ""
            )
        if points:
            summary.append(
                f"\nfrom {render.clock_time(points[0]['minute'])} to "
                f"{render.clock_time(points[-1]['minute'] + 59_999)}",
                style="dim",
            )
        show_text(self.query_one("#metrics-summary", Static), summary)
        width = max(self.size.width - 8, 20)
        self.query_one("#completed-chart", Static).update(self._chart(completed, width, "green"))
        self.query_one("#failed-chart", Static).update(self._chart(failed, width, "red"))

    def _chart(self, values: list[int], width: int, style: str) -> Text:
        if not values or not any(values):
            return Text("nothing in this window", style="dim italic")
        columns = buckets(values, width)
        per_column = len(values) / len(columns)
        chart = bar_chart(values, width, CHART_HEIGHT, style)
        chart.append(
            f"\nhighest column {max(columns):,} jobs; a column is {per_column:.3g} min", style="dim"
        )
        return chart

    def action_next_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self._reload()

    def _cycle(self, step: int) -> None:
        options: list[str | None] = [None, *self._queues]
        current = options.index(self.queue_name) if self.queue_name in options else 0
        self.queue_name = options[(current + step) % len(options)]
        self._reload()

    def action_next_queue(self) -> None:
        self._cycle(+1)

    def action_previous_queue(self) -> None:
        self._cycle(-1)
