"""Workers: every worker process that beat in the last day."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from engine.monitor import WorkerInfo
from messai_console.tui import render
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.widgets import KeyedTable, StatusBar, show_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "worker"),
    ("host", "host"),
    ("pid", "pid"),
    ("queues", "queues"),
    ("concurrency", "concurrency"),
    ("running", "running"),
    ("done", "done"),
    ("failed", "failed"),
    ("beat", "last heartbeat"),
    ("up", "up for"),
)


class WorkersScreen(ConsoleScreen):
    """Worker processes, their load, and whether they still beat."""

    def compose(self) -> ComposeResult:
        yield StatusBar(Text("Workers", style="bold"))
        table = KeyedTable(id="workers")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(Text("loading…", style="dim"), id="worker-totals")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.console.request_refresh()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#workers", KeyedTable)

    async def refresh_data(self) -> None:
        workers = await self.backend.workers()
        now = self.now_ms()
        self.table.sync([(w.id, self._cells(w, now)) for w in workers])
        live = [w for w in workers if not w.is_silent(now)]
        text = Text()
        text.append(f"{len(live)} live", style="bold")
        silent = len(workers) - len(live)
        if silent:
            text.append(f"   {silent} silent (no heartbeat for 3 intervals)", style="bold yellow")
        stuck = sum(1 for w in live if w.stuck(now))
        if stuck:
            text.append(
                f"   {stuck} stuck (running jobs, nothing finished for longer than a lease:"
                " its log says where it waits)",
                style="bold yellow",
            )
        text.append(f"   running {sum(w.running for w in live):,}")
        text.append(f" of {sum(w.concurrency for w in live):,} slots")
        if not workers:
            text.append(
                "\nNo workers: start one with messai-console worker --queue NAME", style="dim"
            )
        show_text(self.query_one("#worker-totals", Static), text)

    def _cells(self, worker: WorkerInfo, now: int) -> tuple[Any, ...]:
        silent = worker.is_silent(now)
        beat = Text(render.ago(worker.last_beat_ms, now))
        if silent:
            beat = Text(f"silent {render.duration(worker.silent_for_ms(now))}", style="bold red")
        return (
            render.safe(worker.id, 40, style="bold" if not silent else "dim"),
            render.safe(worker.host, 24),
            Text(str(worker.pid), justify="right"),
            render.safe(", ".join(worker.queues), 50),
            Text(str(worker.concurrency), justify="right"),
            self._running_cell(worker, now, silent),
            render.count(worker.done),
            Text(f"{worker.failed:,}", justify="right", style="red" if worker.failed else "dim"),
            beat,
            Text(render.duration(now - worker.started_ms) if worker.started_ms else "-"),
        )

    @staticmethod
    def _running_cell(worker: WorkerInfo, now: int, silent: bool) -> Text:
        if not silent and worker.stuck(now):
            since = max(worker.last_finished_ms, worker.started_ms)
            return Text(
                f"{worker.running} stuck {render.duration(now - since)}",
                justify="right",
                style="bold yellow",
            )
        return Text(str(worker.running), justify="right", style="bold" if worker.running else "dim")
