"""Top errors: a queue's failed jobs grouped by their error, most frequent first;
retry or delete a whole group (after a question that says how many)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from engine.errors import InvalidStateError, JobNotFoundError
from engine.failures import FailureGroup, FailureReport
from messai_console.tui import render
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.widgets import KeyedTable, StatusBar, show_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("count", "jobs"),
    ("first", "first"),
    ("last", "last"),
    ("error", "error (first line; numbers and ids masked)"),
)
READ_EVERY_MS = 10_000
"""A grouping reads up to engine.failures.FAILURE_SCAN jobs (2,002 commands): at most
this often, so the screen costs about 200 commands a second at most."""


class ErrorsScreen(ConsoleScreen):
    """The failed jobs of one queue, by error."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry_group", "Retry group"),
        Binding("delete", "remove_group", "Delete group"),
        Binding("enter", "open_example", "Newest job", show=False),
    ]

    def __init__(self, queue_name: str) -> None:
        super().__init__()
        self.queue_name = queue_name
        self.report: FailureReport | None = None
        self._read_ms = 0

    def compose(self) -> ComposeResult:
        title = Text("Errors in ", style="bold")
        title.append_text(render.safe(self.queue_name, 60, style="bold cyan"))
        yield StatusBar(title)
        yield Static(Text("reading…", style="dim"), id="errors-info")
        table = KeyedTable(id="errors")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#errors", KeyedTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.console.request_refresh()

    async def refresh_data(self) -> None:
        now = self.now_ms()
        if self.report is not None and now - self._read_ms < READ_EVERY_MS:
            return
        self.report = await self.backend.failures(self.queue_name)
        self._read_ms = now
        self._show(self.report)

    def reread(self) -> None:
        """Group again at the next refresh (after an action changed the failed set)."""
        self._read_ms = 0

    def _show(self, report: FailureReport) -> None:
        now = self.now_ms()
        self.table.sync([(g.message, self._cells(g, now)) for g in report.groups])
        info = Text()
        if report.total == 0:
            info.append("no failed jobs in this queue", style="dim")
        else:
            info.append(f"{report.total:,} failed jobs", style="bold")
            if report.scanned < report.total:
                info.append(f", the newest {report.scanned:,} grouped")
            kinds = len(report.groups)
            info.append(f" in {kinds:,} kind{'s' if kinds != 1 else ''} of error", style="bold")
            info.append("   r retries a group, delete deletes it (both ask)", style="dim")
        show_text(self.query_one("#errors-info", Static), info)

    def _cells(self, group: FailureGroup, now: int) -> tuple[Any, ...]:
        return (
            Text(f"{group.count:,}", style="bold red", justify="right"),
            Text(render.rough_ago(group.first_ms, now)),
            Text(render.rough_ago(group.last_ms, now)),
            render.safe(group.message, 200),
        )

    def _group(self) -> FailureGroup | None:
        key = self.table.cursor_key
        if self.report is None or key is None:
            self.notify("no error highlighted", severity="warning", markup=False)
            return None
        return next((g for g in self.report.groups if g.message == key), None)

    def _ask(self, group: FailureGroup, verb: str, detail: str) -> Text:
        text = Text(f"{verb} {group.count:,} failed jobs", style="bold")
        text.append(" with the error\n\n")
        text.append_text(render.safe(group.example, 200, style="red"))
        text.append(f"\n\n{detail}")
        return text

    def action_retry_group(self) -> None:
        self._act_on_group(
            "retry",
            "retry_job",
            "They go back to waiting with fresh attempts.",
            "sent back to waiting",
        )

    def action_remove_group(self) -> None:
        self._act_on_group("delete", "remove", "The jobs and their logs are deleted.", "deleted")

    def _act_on_group(self, verb: str, call: str, detail: str, done: str) -> None:
        """Ask, then run ``Queue.<call>`` on every job of the selected group;
        a job retried, removed or running again meanwhile is skipped."""
        group = self._group()
        if group is None:
            return
        method = getattr(self.backend.writable(self.queue_name), call)
        ids = list(group.job_ids)

        async def run(_choice: str) -> str:
            count = 0
            for job_id in ids:
                try:
                    await method(job_id)
                    count += 1
                except (JobNotFoundError, InvalidStateError):
                    pass  # changed meanwhile
            return f"{count:,} jobs {done}"

        question = self._ask(group, verb.capitalize(), detail)
        self.console.act(verb, run, question, [("yes", verb.capitalize())], after=self.reread)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_example()

    def action_open_example(self) -> None:
        group = self._group()
        if group is not None and group.job_ids:
            self.console.open_job(self.queue_name, group.job_ids[0])
