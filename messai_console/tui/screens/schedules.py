"""Schedules: every schedule with its next fire (in its own time zone and UTC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from engine.cron import InvalidScheduleError, zone
from engine.schedules import ScheduleInfo
from messai_console.tui import render
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.widgets import KeyedTable, StatusBar

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "schedule"),
    ("queue", "queue"),
    ("job", "job"),
    ("when", "when"),
    ("next_local", "next fire (local)"),
    ("next_utc", "next fire (UTC)"),
    ("due", "due"),
    ("last", "last fire"),
    ("count", "count"),
    ("state", "state"),
)
OVERDUE_MS = 5_000
"""A next fire this far in the past means no scheduler is firing it."""


def fire_time(epoch_ms: int | None, tz_name: str) -> Text:
    """``2026-01-02 02:30:00 CET`` in the schedule's zone (or UTC for ``"UTC"``)."""
    if epoch_ms is None:
        return Text("-", style="dim")
    try:
        tz = zone(tz_name)
    except InvalidScheduleError:
        tz = UTC  # type: ignore[assignment]
    instant = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(tz)
    return render.safe(instant.strftime("%Y-%m-%d %H:%M:%S %Z"), 40)


def every(every_ms: int) -> str:
    """``every 30s``, ``every 5m``, ``every 250ms``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if every_ms >= size and every_ms % size == 0:
            return f"every {every_ms // size}{unit}"
    return f"every {render.duration(every_ms)}" if every_ms >= 1000 else f"every {every_ms}ms"


class SchedulesScreen(ConsoleScreen):
    """What fires when; ``delete`` removes the highlighted schedule (asks first)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete", "remove", "Remove"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.schedules: list[ScheduleInfo] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(Text("Schedules", style="bold"))
        table = KeyedTable(id="schedules")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(Text(""), id="schedule-detail")
        yield Static(Text("loading…", style="dim"), id="schedule-totals")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.console.request_refresh()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#schedules", KeyedTable)

    def selected(self) -> ScheduleInfo | None:
        name = self.table.cursor_key
        return next((s for s in self.schedules if s.spec.name == name), None)

    async def refresh_data(self) -> None:
        schedules = await self.backend.schedules()
        self.schedules = schedules
        now = self.now_ms()
        self.table.sync([(s.spec.name, self._cells(s, now)) for s in schedules])
        self._show_detail()
        self._show_totals(now)

    def _cells(self, info: ScheduleInfo, now: int) -> tuple[Any, ...]:
        spec = info.spec
        if spec.cron is not None:
            when = render.safe(spec.cron, 30, style="bold")
            when.append("  ")
            when.append_text(render.safe(spec.tz, 30, style="dim"))
        else:
            when = Text(every(spec.every_ms or 0), style="bold")
        if info.ended or info.next_ms is None:
            due = Text("-", style="dim")
        elif info.next_ms - now < -OVERDUE_MS:
            due = Text(f"late {render.duration(now - info.next_ms)}", style="bold yellow")
        else:
            due = Text(f"in {render.duration(max(info.next_ms - now, 0))}")
        count = f"{info.count:,}" + (f"/{spec.limit:,}" if spec.limit else "")
        return (
            render.safe(spec.name, 40, style="bold" if not info.ended else "dim"),
            render.safe(spec.queue, 30),
            render.safe(spec.job, 30),
            when,
            fire_time(info.next_ms, spec.tz),
            fire_time(info.next_ms, "UTC"),
            due,
            Text(render.ago(info.last_ms, now), style="" if info.last_ms else "dim"),
            Text(count, justify="right", style="" if info.count else "dim"),
            Text("ended", style="dim") if info.ended else Text("active", style="green"),
        )

    def _show_detail(self) -> None:
        """Data, options and bounds of the highlighted schedule, on one line."""
        info = self.selected()
        text = Text()
        if info is not None:
            spec = info.spec
            text.append("data ", style="dim")
            text.append_text(render.safe(json.dumps(spec.data, default=str), 60))
            if spec.options:
                text.append("   options ", style="dim")
                text.append_text(render.safe(json.dumps(spec.options, default=str), 50))
            if spec.start_ms is not None:
                text.append("   from ", style="dim")
                text.append(render.clock_time(spec.start_ms))
            if spec.end_ms is not None:
                text.append("   until ", style="dim")
                text.append(render.clock_time(spec.end_ms))
            text.append("   missed ticks: ", style="dim")
            text.append("fire the latest" if spec.missed == "latest" else "skip")
            text.append("   last fire ", style="dim")
            text.append(fire_time(info.last_ms, spec.tz).plain if info.last_ms else "never")
        self.query_one("#schedule-detail", Static).update(text)

    def _show_totals(self, now: int) -> None:
        ended = sum(1 for s in self.schedules if s.ended)
        late = [
            s
            for s in self.schedules
            if not s.ended and s.next_ms is not None and s.next_ms - now < -OVERDUE_MS
        ]
        text = Text()
        text.append(f"{len(self.schedules)} schedules", style="bold")
        text.append(f"   {len(self.schedules) - ended} active   {ended} ended")
        if late:
            text.append(
                f"   {len(late)} late: is a scheduler running? (messai-console scheduler)",
                style="bold yellow",
            )
        if not self.schedules:
            text.append(
                "\nNo schedules: add one with messai-console schedule add NAME --queue … --cron …",
                style="dim",
            )
        self.query_one("#schedule-totals", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def action_remove(self) -> None:
        info = self.selected()
        if info is None:
            self.notify("no schedule highlighted", severity="warning", markup=False)
            return
        name = info.spec.name

        async def run(_choice: str) -> str:
            if await self.backend.remove_schedule(name):
                return f"schedule {render.visible_str(name, 80)} removed"
            return f"schedule {render.visible_str(name, 80)} was already gone"

        question = Text("Remove schedule ")
        question.append_text(render.safe(name, 80, style="bold"))
        question.append("?\n\nIt fires no more jobs. Jobs it already created stay.")
        self.console.act("remove schedule", run, question, [("yes", "Remove")])
