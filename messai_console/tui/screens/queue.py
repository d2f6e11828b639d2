"""Queue: one tab per state, each a server-side page of jobs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static, Tab, Tabs

from engine.codec import loads
from engine.events import Event
from engine.job import Job
from messai_console.tui import render
from messai_console.tui.backend import (
    CONNECTION_ERRORS,
    JOB_STATES,
    SEARCH_PAGE,
    JobPage,
    QueueLimits,
)
from messai_console.tui.limits import describe
from messai_console.tui.screens.actions import JobActions, QueueActions, unavailable_for
from messai_console.tui.widgets import CountTab, KeyedTable, StatusBar, show_text

PAGE_SIZE = 100
"""Rows per page: what one script call reads, whatever the size of the set."""
PROGRESS_EVERY_S = 1.0
"""Progress from events is drawn this often: any cell changed redraws every row of the
table, and a busy queue reports progress dozens of times a second."""
SEARCH_STEP_GAP_S = 0.2
"""Between two steps of a search (SEARCH_PAGE jobs each): at most 2,500 jobs, about
2,530 commands, a second while a search runs."""
REFRESH_COMMANDS = 8 + 1 + 6 + PAGE_SIZE
"""Redis commands one refresh costs at most, those the script runs included: the counts
and the paused flag, the page script, its range reads, and one hash read per job
(while a search runs, its steps read instead: see SEARCH_STEP_GAP_S)."""

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "waiting": (("id", "id"), ("mark", " "), ("name", "name"), ("priority", "priority"),
                ("age", "added"), ("attempts", "attempts"), ("data", "data")),
    "active": (("id", "id"), ("mark", " "), ("name", "name"), ("progress", "progress"),
               ("elapsed", "running for"), ("attempts", "attempt"), ("worker", "worker")),
    "delayed": (("id", "id"), ("mark", " "), ("name", "name"), ("runs_in", "runs in"),
                ("runs_at", "runs at"), ("attempts", "attempts"), ("data", "data")),
    "completed": (("id", "id"), ("mark", " "), ("name", "name"), ("finished", "finished"),
                  ("run_time", "run time"), ("attempts", "attempts"), ("result", "result")),
    "failed": (("id", "id"), ("mark", " "), ("name", "name"), ("finished", "failed"),
               ("attempts", "attempts"), ("error", "error")),
}  # fmt: skip

ORDER_NAMES = {
    "waiting": ("run order", "last in line first"),
    "active": ("lease order", "reverse lease order"),
    "delayed": ("soonest first", "latest first"),
    "completed": ("newest first", "oldest first"),
    "failed": ("newest first", "oldest first"),
}


class QueueScreen(QueueActions, JobActions):
    """The jobs of one queue, by state; paged on the server."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_tab", "Next tab", priority=True),
        Binding("shift+tab", "previous_tab", "Previous tab", show=False, priority=True),
        Binding("slash", "filter", "Search"),
        Binding("s", "flip_order", "Order"),
        Binding("space", "mark", "Mark"),
        Binding("p", "pause", "Pause/resume"),
        Binding("d", "drain", "Drain"),
        Binding("r", "retry", "Retry"),
        Binding("R", "retry_all", "Retry all", show=False),
        Binding("E", "errors", "Errors"),
        Binding("x", "cancel_job", "Cancel"),
        Binding("delete", "remove", "Remove"),
        Binding("P", "promote", "Promote", show=False),
        Binding("c", "clean", "Clean", show=False),
        Binding("L", "limits", "Limits", show=False),
        Binding("pagedown,right_square_bracket", "next_page", "Next page", show=False),
        Binding("pageup,left_square_bracket", "previous_page", "Previous page", show=False),
    ]

    def __init__(self, queue_name: str, state: str = "waiting") -> None:
        super().__init__()
        self.queue_name = queue_name
        self.state = state if state in JOB_STATES else "waiting"
        self.start = 0
        """Rank of the page's first job."""
        self.reverse = False
        self.filter_text = ""
        self.search: Search | None = None
        """The search of ``filter_text`` through the current state, as far as it got."""
        self.counts: dict[str, Any] = {}
        self.page: JobPage | None = None
        self.marked: set[str] = set()
        self.jobs: dict[str, Job] = {}
        self._progress_due: set[str] = set()
        """Jobs whose progress an event changed since it was last drawn."""
        self.rows_loaded = 0
        self.limits: QueueLimits | None = None
        """Read when the screen opens and after L changes them: not on every refresh."""
        """Job rows read from Redis by this screen so far (for the scale tests)."""

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = Text("Queue", style="bold")
        title.append(" ")
        title.append_text(render.safe(self.queue_name, 60, style="bold cyan"))
        yield StatusBar(title)
        yield Tabs(
            *[CountTab(state, id=state) for state in JOB_STATES], active=self.state, id="states"
        )
        yield Static(Text(""), id="page-info")
        yield KeyedTable(id="jobs")
        yield Input(
            placeholder="search: text in the job's name, id or data (enter searches, esc clears)",
            id="filter",
        )
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#jobs", KeyedTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#filter", Input).display = False
        self.table.set_columns(COLUMNS[self.state])
        self.table.focus()
        self.set_interval(PROGRESS_EVERY_S, self._draw_progress)
        self.console.request_refresh()

    # -- data ---------------------------------------------------------------

    async def refresh_data(self) -> None:
        self.follow_once([self.queue_name], self._on_event)
        self.counts = await self.backend.counts(self.queue_name)
        if self.limits is None:
            self.limits = await self.backend.limits(self.queue_name)
        total = int(self.counts.get(self.state, 0))
        if self.search is not None:
            # The search's own steps read the jobs; a refresh only redraws them.
            self._show_search()
            return
        if self.start >= total and total > 0:
            self.start = max((total - 1) // PAGE_SIZE * PAGE_SIZE, 0)
        page = await self.backend.page(
            self.queue_name, self.state, self.start, PAGE_SIZE, total, self.reverse
        )
        self.rows_loaded += len(page.jobs)
        self.page = page
        self.jobs = {job.id: job for job in page.jobs}
        self.marked &= set(self.jobs)
        self._show()

    def _show(self) -> None:
        page = self.page
        for state in JOB_STATES:
            label = f"{state} {int(self.counts.get(state, 0)):,}"
            tab = self.query_one(f"#{state}", Tab)
            if tab.label.plain != label:  # a new label lays the tabs out again
                tab.label = label
        if page is None or page.state != self.state:
            return
        self.table.sync([(job.id, self._cells(job, page)) for job in page.jobs])
        self._show_page_info(page)

    def _show_page_info(self, page: JobPage) -> None:
        info = Text()
        if self.counts.get("paused"):
            info.append(" PAUSED ", style="bold black on yellow")
            info.append(" ")
        search = self.search
        if search is not None and not search.found and not search.running:
            info.append(f"no {self.state} job matches ", style="bold")
            info.append_text(render.safe(search.text, 40, style="bold cyan"))
            info.append(f"  searched {search.searched:,} of {search.total:,}")
            info.append("  (esc clears)", style="dim")
        elif search is not None:
            info.append(f"{len(search.found):,} matching ", style="bold")
            info.append_text(render.safe(search.text, 40, style="bold cyan"))
            info.append(f"  searched {search.searched:,} of {search.total:,}")
            if search.running:
                info.append("  searching…", style="bold yellow")
            elif len(search.found) >= PAGE_SIZE:
                info.append(f"  (the first {PAGE_SIZE})", style="dim")
            info.append("  (esc clears)", style="dim")
        elif page.total == 0:
            info.append(f"no {self.state} jobs", style="bold")
            info.append(self._why_empty(), style="dim")
        else:
            last = page.start + len(page.jobs)
            info.append(f"{page.start + 1:,} to {last:,} of {page.total:,}", style="bold")
            if page.total > PAGE_SIZE:
                info.append("  (pgup/pgdn: pages)", style="dim")
        info.append(f"   order: {ORDER_NAMES[self.state][int(self.reverse)]} (s)", style="dim")
        if self.limits is not None and describe(self.limits) != "no limits":
            info.append(f"   {describe(self.limits)} (L)", style="dim")
        if self.marked:
            info.append(f"   {len(self.marked)} marked", style="bold magenta")
        show_text(self.query_one("#page-info", Static), info)

    def _why_empty(self) -> str:
        """Why the tab is empty, when the counts say."""
        counts = self.counts
        if self.state == "active" and counts.get("paused"):
            return ": the queue is paused, no job starts (p resumes)"
        if self.state == "active" and counts.get("waiting"):
            return f": {int(counts['waiting']):,} wait, is a worker running? (w)"
        if self.state == "failed":
            return ": nothing has failed, or failures were cleaned or trimmed"
        if self.state == "completed":
            return ": nothing has completed, or it was cleaned or trimmed"
        others = [s for s in JOB_STATES if s != self.state and counts.get(s)]
        if others:
            return f": jobs are in {', '.join(others)} (tab)"
        return ": the queue is empty"

    def _cells(self, job: Job, page: JobPage) -> tuple[Any, ...]:
        now = self.now_ms()
        mark = Text("●", style="bold magenta") if job.id in self.marked else Text(" ")
        common = (render.safe(job.id, 24, style="bold"), mark, render.safe(job.name, 30))
        attempts = Text(f"{job.attempts_made}/{job.options.attempts}", justify="right")
        if self.state == "waiting":
            return (
                *common,
                Text(str(job.options.priority), justify="right"),
                Text(render.rough_ago(job.created_ms, now)),
                attempts,
                _data_preview(job.data),
            )
        if self.state == "active":
            elapsed = now - job.started_ms if job.started_ms else 0
            style = "bold yellow" if job.cancel_requested else ""
            return (
                *common,
                render.progress_bar(job.progress),
                Text(render.duration(elapsed), style=style),
                Text(str(job.attempts_made + 1), justify="right"),
                render.safe(job.worker or "-", 30, style="dim"),
            )
        if self.state == "delayed":
            due = page.due_ms.get(job.id)
            return (
                *common,
                Text(render.rough_duration(due - now) if due else "-"),
                Text(render.clock_time(due), style="dim"),
                attempts,
                _data_preview(job.data),
            )
        if self.state == "completed":
            return (
                *common,
                Text(render.rough_ago(job.finished_ms, now)),
                Text(render.duration(job.run_time_ms or 0)),
                attempts,
                _data_preview(job.result),
            )
        error = render.first_line(job.error, 80)
        error.stylize("yellow" if job.cancelled else "red")
        return (*common, Text(render.rough_ago(job.finished_ms, now)), attempts, error)

    def _on_event(self, event: Event) -> None:
        """Progress shows at once; other changes of this queue refresh the page soon."""
        if not self.console.live or event.job_id is None:
            return
        if event.name == "job:progress" and self.state == "active" and event.job_id in self.jobs:
            self.jobs[event.job_id].progress = loads(event.fields.get("p"))
            self._progress_due.add(event.job_id)

    def _draw_progress(self) -> None:
        """The progress bars events changed, all in one redraw."""
        due, self._progress_due = self._progress_due, set()
        if not due or self.state != "active" or not self.console.live:
            return
        with self.app.batch_update():
            for job_id in due:
                job = self.jobs.get(job_id)
                if job is not None:
                    self.table.update_cell_if_present(
                        job_id, "progress", render.progress_bar(job.progress)
                    )

    # -- tabs, pages, filter, marks -----------------------------------------

    def _switch(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.start = 0
        self.marked.clear()
        self.page = None
        self.table.set_columns(COLUMNS[state])
        self.query_one("#states", Tabs).active = state
        self.refresh_bindings()
        if self.search is not None:
            self._start_search(self.search.text)
        self.console.request_refresh()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """Follow the tab the tabs show now, not the one the message names: the message
        of a key's switch can arrive after a later key moved on, and switching back to
        it would post another, so two quick keys would chase each other forever."""
        event.stop()
        active = event.tabs.active
        if active in JOB_STATES:
            self._switch(active)
        self.table.focus()

    def action_next_tab(self) -> None:
        index = JOB_STATES.index(self.state)
        self._switch(JOB_STATES[(index + 1) % len(JOB_STATES)])

    def action_previous_tab(self) -> None:
        index = JOB_STATES.index(self.state)
        self._switch(JOB_STATES[(index - 1) % len(JOB_STATES)])

    def on_key_table_edge(self, direction: int) -> None:
        total = int(self.counts.get(self.state, 0))
        if self.search is not None:
            return
        new_start = self.start + direction * PAGE_SIZE
        if new_start < 0 or new_start >= total:
            return
        self.start = new_start
        self._cursor_after_load = 0 if direction > 0 else PAGE_SIZE - 1
        self.run_worker(self._load_page(), group="page", exclusive=True, exit_on_error=False)

    async def _load_page(self) -> None:
        await self.console.refresh_now()
        if self.table.row_count:
            row = min(getattr(self, "_cursor_after_load", 0), self.table.row_count - 1)
            self.table.move_cursor(row=row, animate=False)

    def on_keyed_table_edge_reached(self, event: KeyedTable.EdgeReached) -> None:
        event.stop()
        self.on_key_table_edge(event.direction)

    def action_next_page(self) -> None:
        self.on_key_table_edge(+1)

    def action_previous_page(self) -> None:
        self.on_key_table_edge(-1)

    def action_flip_order(self) -> None:
        self.reverse = not self.reverse
        self.start = 0
        if self.search is not None:
            self._start_search(self.search.text)
        self.console.request_refresh()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self.start = 0
        if self.filter_text:
            self._start_search(self.filter_text)
        else:
            event.input.display = False
            self._stop_search()
        self.table.focus()
        self.console.request_refresh()

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display or self.filter_text:
            field.value = ""
            field.display = False
            self.table.focus()
            if self.filter_text:
                self.filter_text = ""
                self._stop_search()
                self.console.request_refresh()
            return
        super().action_back()

    # -- search -------------------------------------------------------------

    def _start_search(self, text: str) -> None:
        self.search = Search(text, state=self.state, total=int(self.counts.get(self.state, 0)))
        self.marked.clear()
        self.table.sync([])
        self.run_worker(
            self._search(self.search), group="search", exclusive=True, exit_on_error=False
        )

    def _stop_search(self) -> None:
        self.workers.cancel_group(self, "search")
        self.search = None
        self.page = None
        self.table.sync([])

    async def _search(self, search: Search) -> None:
        """Read the state SEARCH_PAGE jobs a step, SEARCH_STEP_GAP_S apart, until it is
        all read or a page of matches is found: bounded work per step, and at most
        SEARCH_PAGE / SEARCH_STEP_GAP_S jobs a second, however large the state."""
        try:
            exact = await self.backend.exact_job(self.queue_name, search.state, search.text)
            if exact is not None:
                search.add([exact], {})
            while len(search.found) < PAGE_SIZE and search.searched < search.total:
                step = await self.backend.search_step(
                    self.queue_name,
                    search.state,
                    search.text,
                    search.searched,
                    search.total,
                    self.reverse,
                )
                search.searched += step.read
                search.add(step.matches, step.due_ms)
                if self.search is search:
                    self._show_search()
                if step.read < SEARCH_PAGE:
                    break
                await asyncio.sleep(SEARCH_STEP_GAP_S)
        except CONNECTION_ERRORS as exc:
            self.console.mark_disconnected(exc)
        finally:
            search.running = False
            if self.search is search and self.is_mounted:
                self._show_search()

    def _show_search(self) -> None:
        search = self.search
        if search is None or search.state != self.state or not self.is_mounted:
            return
        self.page = JobPage(
            state=search.state,
            total=search.total,
            start=0,
            jobs=search.found[:PAGE_SIZE],
            due_ms=search.due_ms,
            scanned=search.searched,
        )
        self.jobs = {job.id: job for job in self.page.jobs}
        self.marked &= set(self.jobs)
        self._show()

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        mark = Text("●", style="bold magenta") if key in self.marked else Text(" ")
        self.table.update_cell_if_present(key, "mark", mark)
        if self.page is not None:
            self._show_page_info(self.page)
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1, animate=False)

    # -- actions ------------------------------------------------------------

    def unavailable_actions(self) -> dict[str, str]:
        """Every row of a tab is in the tab's state."""
        return unavailable_for(self.state)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.console.open_job(self.queue_name, str(event.row_key.value))

    def _targets(self) -> list[str]:
        """The marked jobs, else the highlighted one."""
        if self.marked:
            return [key for key in self.table.keys if key in self.marked]
        key = self.table.cursor_key
        if key is None:
            self.notify("no job highlighted", severity="warning", markup=False)
            return []
        return [key]

    def _clear_marks(self) -> None:
        self.marked.clear()

    def action_pause(self) -> None:
        self.pause_or_resume(self.queue_name, bool(self.counts.get("paused")))

    def action_drain(self) -> None:
        self.drain(self.queue_name)

    def action_limits(self) -> None:
        self.edit_limits(self.queue_name, after=self._forget_limits)

    def _forget_limits(self) -> None:
        self.limits = None  # read again by the next refresh

    def action_errors(self) -> None:
        self.console.open_errors(self.queue_name)

    def action_retry_all(self) -> None:
        self.retry_all_failed(self.queue_name)

    def action_clean(self) -> None:
        self.clean(self.queue_name)

    def action_retry(self) -> None:
        ids = self._targets()
        if ids:
            self.retry_jobs(self.queue_name, ids, self._clear_marks)

    def action_cancel_job(self) -> None:
        ids = self._targets()
        if ids:
            self.cancel_jobs(self.queue_name, ids, self._clear_marks)

    def action_remove(self) -> None:
        ids = self._targets()
        if ids:
            self.remove_jobs(self.queue_name, ids, self._clear_marks)

    def action_promote(self) -> None:
        ids = self._targets()
        if ids:
            self.promote_jobs(self.queue_name, ids, self._clear_marks)


@dataclass
class Search:
    """A search of one state: what it looks for, how far it read, what it found."""

    text: str
    state: str
    total: int
    """Jobs in the state when the search began."""
    searched: int = 0
    running: bool = True
    found: list[Job] = field(default_factory=list)
    due_ms: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def add(self, jobs: list[Job], due_ms: dict[str, int]) -> None:
        for job in jobs:
            if job.id not in self.seen:  # ranks shift while jobs move: a job may come twice
                self.seen.add(job.id)
                self.found.append(job)
        self.due_ms.update(due_ms)


def _data_preview(value: Any) -> Text:
    if value is None:
        return Text("")
    raw = value if isinstance(value, str) else _compact_json(value)
    return render.safe(raw, 60, style="dim")


def _compact_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text[:200]
