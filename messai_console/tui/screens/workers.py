"""Workers: every worker process that beat in the last day."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

from engine.monitor import WorkerInfo
from engine.worker.control import WorkerCommand
from messai_console.tui import render
from messai_console.tui.screens.base import TableScreen
from messai_console.tui.widgets import show_text

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


class WorkersScreen(TableScreen):
    """Worker processes, their load, and whether they still beat; ``p`` pauses
    or resumes the selected one (it takes no jobs; running ones finish)."""

    HEADING = "Workers"
    TABLE_ID = "workers"
    TOTALS_ID = "worker-totals"
    COLUMNS = COLUMNS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause_worker", "Pause/resume"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listed: dict[str, WorkerInfo] = {}
        """The workers of the last refresh, by id."""

    async def refresh_data(self) -> None:
        workers = await self.backend.workers()
        self.listed = {w.id: w for w in workers}
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
        paused = sum(1 for w in live if w.paused)
        if paused:
            text.append(f"   {paused} paused (taking no jobs: p resumes)", style="bold yellow")
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

    def unavailable_actions(self) -> dict[str, str]:
        if self.console.readonly:
            return {"pause_worker": "the console is read-only"}
        return {}

    def action_pause_worker(self) -> None:
        key = self.table.cursor_key
        worker = self.listed.get(key) if key is not None else None
        if worker is None:
            self.notify("no worker highlighted", severity="warning", markup=False)
            return
        command = WorkerCommand.RESUME if worker.paused else WorkerCommand.PAUSE
        name = render.visible_str(worker.id)

        async def run(_choice: str) -> str:
            heard = await self.backend.command_worker(worker.id, command)
            done = "resumed" if command is WorkerCommand.RESUME else "paused"
            if not heard:
                return f"worker {name} {done} at its next heartbeat (it is not listening now)"
            return f"worker {name} {done}"

        self.console.act(f"{command.value} worker", run)

    @staticmethod
    def _running_cell(worker: WorkerInfo, now: int, silent: bool) -> Text:
        if not silent and worker.stuck(now):
            since = max(worker.last_finished_ms, worker.started_ms)
            return Text(
                f"{worker.running} stuck {render.duration(now - since)}",
                justify="right",
                style="bold yellow",
            )
        if not silent and worker.paused:
            return Text(f"paused {worker.running}", justify="right", style="bold yellow")
        return Text(str(worker.running), justify="right", style="bold" if worker.running else "dim")
