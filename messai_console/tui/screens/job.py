"""Job: everything about one job, its logs and its event timeline, kept live."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from engine.codec import loads
from engine.events import Event
from engine.job import Job
from messai_console.tui import render
from messai_console.tui.backend import JobDetail
from messai_console.tui.screens.actions import CHANGEABLE, JobActions, JobChanges, unavailable_for
from messai_console.tui.widgets import StatusBar

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "job"),
    ("progress", "progress"),
    ("error", "error"),
    ("data", "data"),
    ("result", "result"),
    ("logs", "logs"),
    ("timeline", "events"),
    ("options", "options"),
)
STATE_STYLES = {
    "waiting": "bold blue",
    "active": "bold yellow",
    "delayed": "bold magenta",
    "completed": "bold green",
    "failed": "bold red",
    "pending": "bold",
}


class JobScreen(JobActions, JobChanges):
    """One job: data, result, options, attempts, progress, logs, error and events."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("x", "cancel_job", "Cancel"),
        Binding("delete", "remove", "Remove"),
        Binding("P", "promote", "Promote"),
        Binding("o", "change_priority", "Priority", show=False),
        Binding("D", "change_delay", "Delay", show=False),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
    ]

    def __init__(self, queue_name: str, job_id: str) -> None:
        super().__init__()
        self.queue_name = queue_name
        self.job_id = job_id
        self.detail: JobDetail | None = None
        self.gone = False
        self._live_events: list[Event] = []

    def compose(self) -> ComposeResult:
        title = Text("Job ", style="bold")
        title.append_text(render.safe(self.job_id, 40, style="bold cyan"))
        title.append(" in ", style="dim")
        title.append_text(render.safe(self.queue_name, 40, style="bold"))
        yield StatusBar(title)
        with VerticalScroll(id="job-body"):
            for key, label in SECTIONS:
                section = Static(Text("…", style="dim"), id=key, classes="section")
                section.border_title = label
                yield section
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#job-body", VerticalScroll).focus()
        self.console.request_refresh()

    @property
    def job(self) -> Job | None:
        return self.detail.job if self.detail else None

    # -- data ---------------------------------------------------------------

    async def refresh_data(self) -> None:
        self.follow_once([self.queue_name], self._on_event)
        detail = await self.backend.job(self.queue_name, self.job_id)
        if detail is None:
            if not self.gone:
                self.gone = True
                self.refresh_bindings()
            self._set(
                "summary",
                Text(
                    "This job no longer exists (removed, or trimmed by retention).",
                    style="bold yellow",
                ),
            )
            return
        self.gone = False
        state_changed = self.detail is None or self.detail.job.state != detail.job.state
        self.detail = detail
        self._live_events = []
        self._show(detail)
        if state_changed:
            self.refresh_bindings()

    def _set(self, section: str, content: Text) -> None:
        widget = self.query_one(f"#{section}", Static)
        if not render.same(getattr(widget, "_shown", None), content):
            widget._shown = content  # type: ignore[attr-defined]
            widget.update(content)

    def _show(self, detail: JobDetail) -> None:
        job = detail.job
        self._set("summary", self._summary(job, detail.due_ms))
        self._set("progress", self._progress(job))
        self._set("data", render.json_block(job.data))
        self._set(
            "result",
            render.json_block(job.result) if job.result is not None else _none("no result"),
        )
        self._set("options", render.json_block(job.options.model_dump(exclude_none=True)))
        self._set("error", self._error(job))
        logs = render.safe_block("\n".join(detail.logs)) if detail.logs else _none("no log lines")
        self._set("logs", logs)
        self._set("timeline", self._timeline(detail.history + self._live_events))

    def _summary(self, job: Job, due_ms: int | None) -> Text:
        now = self.now_ms()
        state = Text(job.state, style=STATE_STYLES.get(job.state, "bold"))
        if job.cancel_requested:
            state.append(" (cancel requested)", style="yellow")
        if job.cancelled:
            state.append(" (cancelled)", style="yellow")
        attempts = Text(f"{job.attempts_made} of {job.options.attempts}")
        if job.stalls:
            attempts.append(f"  stalls {job.stalls}", style="yellow")
        if job.manual_retries:
            attempts.append(f"  retried by hand {job.manual_retries}", style="dim")
        started = Text(render.clock_time(job.started_ms))
        if job.state == "active" and job.started_ms:
            started.append(f"  (running {render.duration(now - job.started_ms)})", style="yellow")
        due = Text("-")
        if due_ms:
            due = Text(f"{render.clock_time(due_ms)}  (in {render.duration(due_ms - now)})")
        rows: list[tuple[str, Text, str, Text]] = [
            ("name", render.safe(job.name, 60, style="bold"), "state", state),
            ("id", render.safe(job.id, 60), "attempts", attempts),
            ("added", Text(render.clock_time(job.created_ms)), "runs at", due),
            ("started", started, "finished", Text(render.clock_time(job.finished_ms))),
            (
                "run time",
                Text(render.duration(job.run_time_ms) if job.run_time_ms is not None else "-"),
                "worker",
                render.safe(job.worker or "-", 60),
            ),
        ]
        # Two labels of 11 cells, a timestamp at the right, the border and scroll bar:
        # the left column gives way so that a row fits in 80 columns.
        left_width = max(min(44, self.size.width - 8 - 22 - 20), 16)
        text = Text()
        for index, (left, left_value, right, right_value) in enumerate(rows):
            if index:
                text.append("\n")
            text.append(f"{left:>9}  ", style="dim")
            cell = left_value.copy()
            cell.truncate(left_width, overflow="ellipsis", pad=True)
            text.append_text(cell)
            text.append(f"{right:>9}  ", style="dim")
            text.append_text(right_value)
        return text

    def _progress(self, job: Job) -> Text:
        if job.progress is None:
            return _none("no progress reported")
        bar = render.progress_bar(job.progress, width=40)
        message = render.progress_message(job.progress)
        if message and render.progress_percent(job.progress) is not None:
            bar.append("  ")
            bar.append_text(render.safe(message, 80, style="dim"))
        return bar

    def _error(self, job: Job) -> Text:
        if not job.error and not job.stack:
            return _none("no error")
        text = render.safe_block(job.error or "", style="bold red")
        if job.stack:
            text.append("\n\n")
            text.append_text(render.safe_block(job.stack, style="red"))
        return text

    def _timeline(self, events: list[Event]) -> Text:
        if not events:
            return _none("no events kept for this job")
        text = Text()
        for index, event in enumerate(events[-200:]):
            if index:
                text.append("\n")
            text.append(render.clock_time(event.timestamp_ms), style="dim")
            text.append("  ")
            text.append(f"{event.name.removeprefix('job:'):<16}", style=_event_style(event.name))
            text.append_text(_event_details(event))
        return text

    def _on_event(self, event: Event) -> None:
        if event.job_id != self.job_id or not self.console.live or self.detail is None:
            return
        self._live_events.append(event)
        if event.name == "job:progress":
            self.detail.job.progress = loads(event.fields.get("p"))
            self._set("progress", self._progress(self.detail.job))
            self._set("timeline", self._timeline(self.detail.history + self._live_events))
        else:
            self.console.request_refresh()

    # -- actions ------------------------------------------------------------

    def unavailable_actions(self) -> dict[str, str]:
        changes = ("change_priority", "change_delay")
        if self.gone:
            return dict.fromkeys(
                ("retry", "cancel_job", "remove", "promote", *changes), "the job is gone"
            )
        state = self.job.state if self.job else None
        unavailable = unavailable_for(state)
        if state is not None and state not in CHANGEABLE:
            unavailable.update(dict.fromkeys(changes, f"not for a {state} job"))
        return unavailable

    def _ids(self) -> list[str]:
        return [self.job_id]

    def action_retry(self) -> None:
        self.retry_jobs(self.queue_name, self._ids())

    def action_cancel_job(self) -> None:
        self.cancel_jobs(self.queue_name, self._ids())

    def action_remove(self) -> None:
        self.remove_jobs(self.queue_name, self._ids(), after=self._removed)

    def action_promote(self) -> None:
        self.promote_jobs(self.queue_name, self._ids())

    def action_change_priority(self) -> None:
        self.change_priority(self.queue_name, self.job_id)

    def action_change_delay(self) -> None:
        self.change_delay(self.queue_name, self.job_id)

    def _removed(self) -> None:
        if self.is_current:
            self.action_back()

    def action_scroll_down(self) -> None:
        self.query_one("#job-body", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#job-body", VerticalScroll).scroll_up()


def _none(message: str) -> Text:
    return Text(message, style="dim italic")


def _event_style(name: str) -> str:
    return {
        "job:completed": "green",
        "job:failed": "red",
        "job:retrying": "yellow",
        "job:stalled": "yellow",
        "job:cancelled": "yellow",
        "job:active": "cyan",
    }.get(name, "")


def _event_details(event: Event) -> Text:
    fields: dict[str, Any] = dict(event.fields)
    text = Text()
    labels = {"att": "attempt", "rt": "run time", "w": "worker", "delay": "delay", "n": "name"}
    for key, value in fields.items():
        if key == "err":
            continue
        if key == "p":
            text.append("  ")
            text.append_text(render.progress_bar(loads(value), width=10))
            continue
        if key in ("rt", "delay"):
            with contextlib.suppress(ValueError):
                value = render.duration(int(value))
        text.append(f"  {labels.get(key, key)} ", style="dim")
        text.append_text(render.safe(value, 60))
    if "err" in fields:
        text.append("  ")
        text.append_text(render.first_line(fields["err"], 100))
        text.stylize("red", len(text) - len(render.first_line(fields["err"], 100)))
    return text
