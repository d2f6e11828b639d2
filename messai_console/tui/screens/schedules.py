"""Schedules: every schedule with its next fire (in its own time zone and UTC)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from engine.cron import InvalidScheduleError, zone
from engine.schedules import ScheduleInfo
from messai_console.tui import render
from messai_console.tui.screens.base import TableScreen
from messai_console.tui.widgets import show_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "schedule"),
    ("queue", "queue"),
    ("job", "job"),
    ("when", "when"),
    ("next", "next fire (local · UTC)"),
    ("count", "count"),
    ("last", "last fire"),
)
OVERDUE_MS = 5_000
"""A next fire this far in the past means no scheduler is firing it."""


def next_fire(epoch_ms: int, tz_name: str) -> str:
    """``2026-01-02 02:30 CET · 01:30 UTC``: in the schedule's zone, then UTC (its
    date too when it differs; once only when the zone is UTC)."""
    local = fire_time(epoch_ms, tz_name)
    utc = fire_time(epoch_ms)
    if local.removesuffix(" UTC") == utc:
        return local
    local_date, utc_date = local[:10], utc[:10]
    return f"{local} · {utc[11:] if utc_date == local_date else utc[5:]} UTC"


def fire_time(epoch_ms: int, tz_name: str | None = None) -> str:
    """``2026-01-02 02:30 CET`` in the zone ``tz_name`` (``2026-01-02 01:30`` in UTC
    when None); seconds only when the instant is not on a whole minute."""
    tz: tzinfo = UTC
    if tz_name is not None:
        with contextlib.suppress(InvalidScheduleError):
            tz = zone(tz_name)
    instant = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(tz)
    shape = "%Y-%m-%d %H:%M" if epoch_ms % 60_000 == 0 else "%Y-%m-%d %H:%M:%S"
    return instant.strftime(shape + (" %Z" if tz_name is not None else ""))


def every(every_ms: int) -> str:
    """``every 30s``, ``every 5m``, ``every 250ms``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if every_ms >= size and every_ms % size == 0:
            return f"every {every_ms // size}{unit}"
    return f"every {render.duration(every_ms)}" if every_ms >= 1000 else f"every {every_ms}ms"


class SchedulesScreen(TableScreen):
    """What fires when; ``delete`` removes the highlighted schedule (asks first)."""

    HEADING = "Schedules"
    TABLE_ID = "schedules"
    TOTALS_ID = "schedule-totals"
    COLUMNS = COLUMNS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete", "remove", "Remove"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.schedules: list[ScheduleInfo] = []

    def below_table(self) -> ComposeResult:
        yield Static(Text(""), id="schedule-detail")

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
            when.append(" ")
            when.append_text(render.safe(spec.tz, 30, style="dim"))
        else:
            when = Text(every(spec.every_ms or 0), style="bold")
        if info.ended or info.next_ms is None:
            fire = Text("ended", style="dim")
        else:
            # Late: due a while ago and not fired, so no scheduler is running.
            late = info.next_ms - now < -OVERDUE_MS
            fire = render.safe(next_fire(info.next_ms, spec.tz), 60)
            if late:
                fire.stylize("bold yellow")
        count = f"{info.count:,}" + (f"/{spec.limit:,}" if spec.limit else "")
        return (
            render.safe(spec.name, 30, style="bold" if not info.ended else "dim"),
            render.safe(spec.queue, 24),
            render.safe(spec.job, 24),
            when,
            fire,
            Text(count, justify="right", style="" if info.count else "dim"),
            Text(render.ago(info.last_ms, now), style="" if info.last_ms else "dim"),
        )

    def _show_detail(self) -> None:
        """When the highlighted schedule fires, with its data, options and bounds."""
        info = self.selected()
        text = Text()
        if info is not None:
            spec = info.spec
            now = self.now_ms()
            text.append_text(render.safe(spec.name, 40, style="bold"))
            if info.ended or info.next_ms is None:
                text.append("  ended", style="dim")
            elif info.next_ms - now < -OVERDUE_MS:
                text.append(f"  late by {render.duration(now - info.next_ms)}", style="bold yellow")
            else:
                text.append(f"  next in {render.duration(max(info.next_ms - now, 0))}")
            text.append("   data ", style="dim")
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
            text.append(fire_time(info.last_ms, spec.tz) if info.last_ms else "never")
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
        show_text(self.query_one("#schedule-totals", Static), text)

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
