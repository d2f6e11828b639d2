"""Events: the live event stream of every queue, filterable and pausable.

Three filters, all applied: one queue (``[`` / ``]``), one event type
(``t`` / ``T``) and free words (``/``) matched against queue, event and job id.

It starts with the last ten minutes (the newest KEEP events of them); ``o``,
or ``up`` on the first row, reads further back, OLDER_EVENTS events a press
(one XREVRANGE per queue), until the streams' oldest kept events.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input, Static

from engine.events import EVENT_NAMES, EVENTS_MAXLEN, Event, stream_order
from messai_console.tui import render
from messai_console.tui.backend import CONNECTION_ERRORS, OLDER_EVENTS
from messai_console.tui.screens.base import ConsoleScreen
from messai_console.tui.widgets import KeyedTable, StatusBar, show_text

KEEP = 500
"""Events kept on screen (the oldest scroll away), until older ones are loaded."""
MAX_KEEP = 5_000
"""Events kept at most, older ones loaded included."""
NOTHING_OLDER = "no older events: the streams keep none before these"
BACKLOG_MS = 10 * 60_000
"""How far back the screen starts: the last ten minutes, bounded by KEEP."""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "time"),
    ("queue", "queue"),
    ("event", "event"),
    ("job", "job"),
    ("details", "details"),
)


class EventsScreen(ConsoleScreen):
    """Every state change as it happens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("right_square_bracket", "next_queue", "Queue"),
        Binding("left_square_bracket", "previous_queue", "Previous queue", show=False),
        Binding("t", "next_type", "Event type"),
        Binding("T", "previous_type", "Previous type", show=False),
        Binding("space", "pause", "Pause"),
        Binding("o", "older", "Older"),
        Binding("enter", "open", "Open job", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.keep = KEEP
        """How many events are kept: KEEP, more once older ones are loaded."""
        self.events: deque[Event] = deque(maxlen=KEEP)
        self.filter_terms: list[str] = []
        self.queue_filter: str | None = None
        """Only this queue's events (None: every queue)."""
        self.type_filter: str | None = None
        """Only events of this type (None: every type)."""
        self.paused = False
        self.queues: list[str] = []
        self.since_ms: int | None = None
        """How far back the screen reads: BACKLOG_MS before it opened, or the oldest
        event loaded since."""
        self.oldest_reached = False
        """An "older" step found nothing more: the streams keep no older event."""
        self.older_loaded = False
        """Whether older events than the first ten minutes were loaded."""
        self._loading_older = False
        self._read_up_to: dict[str, tuple[int, int]] = {}
        """Per queue, the newest event read when the screen opened."""
        self._dirty = False

    def compose(self) -> ComposeResult:
        yield StatusBar(Text("Events", style="bold"))
        yield Static(Text(""), id="events-info")
        table = KeyedTable(id="events")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Input(
            placeholder="filter: words matching queue, event or job id (enter applies)", id="filter"
        )
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#events", KeyedTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#filter", Input).display = False
        # Events can arrive by the thousand per second: draw them at most 4 times a second.
        self.set_interval(0.25, self._render_if_dirty)
        self.console.request_refresh()

    def _render_if_dirty(self) -> None:
        if self._dirty and not self.paused and self.console.live:
            self._dirty = False
            self._draw()

    async def refresh_data(self) -> None:
        queues = await self.backend.queue_names()
        if queues != self.queues:
            if not self.queues:
                since = await self._read_recent(queues)
            else:
                since = self.events[-1].stream_id if self.events else "$"
            self.queues = queues
            self.run_worker(
                self.follow_events(queues, self._on_event, since),
                group="follow",
                exclusive=True,
                exit_on_error=False,
            )
        self._show_info()

    async def _read_recent(self, queues: list[str]) -> str:
        """The newest KEEP events of the last BACKLOG_MS, read backwards (one XREVRANGE
        of at most KEEP entries per queue, however long the streams); returns where
        following them begins."""
        self.since_ms = self.now_ms() - BACKLOG_MS
        recent = await self.backend.older_events(dict.fromkeys(queues, "+"), KEEP)
        recent = [event for event in recent if event.timestamp_ms >= self.since_ms]
        self.events.extend(recent)
        for event in recent:
            self._read_up_to[event.queue] = stream_order(event.stream_id)
        self._dirty = True
        # From the oldest event read: a queue with none among them had none newer then.
        # The follow repeats those read (skipped in _on_event): bounded by KEEP.
        return recent[0].stream_id if recent else f"{self.since_ms}-0"

    def action_older(self) -> None:
        if not self.queues or self._loading_older:
            return
        if self.oldest_reached:  # streams only grow at the new end: nothing older comes
            self.notify(NOTHING_OLDER, markup=False)
            return
        if len(self.events) >= MAX_KEEP:
            self.notify(f"{MAX_KEEP:,} events shown already: filter instead", markup=False)
            return
        self._loading_older = True
        self.run_worker(self._load_older(), group="older", exit_on_error=False)

    def on_keyed_table_edge_reached(self, message: KeyedTable.EdgeReached) -> None:
        message.stop()
        if message.direction < 0:
            self.action_older()

    def _older_than(self) -> dict[str, str]:
        """Per queue, the id to read back from: its oldest event shown, else the oldest
        shown of any queue, else where the screen began to read."""
        oldest: dict[str, str] = {}
        for event in self.events:
            if event.queue not in oldest or stream_order(event.stream_id) < stream_order(
                oldest[event.queue]
            ):
                oldest[event.queue] = event.stream_id
        start = min(oldest.values(), key=stream_order, default=f"{self.since_ms or 0}-0")
        return {name: oldest.get(name, start) for name in self.queues}

    async def _load_older(self) -> None:
        try:
            older = await self.backend.older_events(self._older_than(), OLDER_EVENTS)
        except CONNECTION_ERRORS as exc:
            self.console.mark_disconnected(exc)
            return
        finally:
            self._loading_older = False
        if len(older) < OLDER_EVENTS:
            self.oldest_reached = True
        if older:
            merged = {(e.queue, e.stream_id): e for e in [*older, *self.events]}
            ordered = sorted(merged.values(), key=lambda e: stream_order(e.stream_id))
            self.keep = min(max(len(ordered), KEEP), MAX_KEEP)
            self.events = deque(ordered, maxlen=self.keep)
            self.older_loaded = True
            first = self.events[0].timestamp_ms
            self.since_ms = first if self.since_ms is None else min(self.since_ms, first)
            self._draw()
        else:
            self.notify(NOTHING_OLDER, markup=False)
        self._show_info()

    def _on_event(self, event: Event) -> None:
        read_up_to = self._read_up_to.get(event.queue)
        if read_up_to is not None and stream_order(event.stream_id) <= read_up_to:
            return  # read already, backwards, when the screen opened
        self.events.append(event)
        self._dirty = True

    def _matches(self, event: Event) -> bool:
        if self.queue_filter is not None and event.queue != self.queue_filter:
            return False
        if self.type_filter is not None and event.name != self.type_filter:
            return False
        if not self.filter_terms:
            return True
        haystack = f"{event.queue} {event.name} {event.job_id or ''}".casefold()
        return all(term in haystack for term in self.filter_terms)

    def _draw(self) -> None:
        shown = [event for event in self.events if self._matches(event)]
        table = self.table
        at_end = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        table.sync([(f"{e.queue}\x00{e.stream_id}", self._cells(e)) for e in shown])
        if at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._show_info()

    def _show_info(self) -> None:
        text = Text()
        text.append(f"{len(self.queues)} queues followed", style="bold")
        if self.since_ms is not None:
            full = len(self.events) >= self.keep
            since = self.events[0].timestamp_ms if full else self.since_ms
            text.append(f"   read from {render.clock_time(since)[-8:]}", style="bold")
            if self.oldest_reached:
                why = f"the oldest kept: about {EVENTS_MAXLEN:,} a queue"
            elif full:
                why = f"the newest {self.keep:,}; o older"
            elif not self.older_loaded:
                why = f"the {BACKLOG_MS // 60_000} min before opening; o older"
            else:
                why = "o older"
            text.append(f" ({why})", style="dim")
        text.append(f"   {len(self.events):,} events (newest {self.keep:,})", style="dim")
        text.append("   queue ")
        if self.queue_filter is None:
            text.append("all", style="dim")
        else:
            text.append_text(render.safe(self.queue_filter, 40, style="bold cyan"))
        text.append(" [ ]", style="dim")
        text.append("   event ")
        text.append(self.type_filter or "all", style="bold cyan" if self.type_filter else "dim")
        text.append(" t/T", style="dim")
        if self.filter_terms:
            text.append("   words: ")
            text.append_text(render.safe(" ".join(self.filter_terms), 60, style="bold cyan"))
        if self.paused:
            text.append("   PAUSED (space resumes)", style="bold yellow")
        show_text(self.query_one("#events-info", Static), text)

    def _cells(self, event: Event) -> tuple[Any, ...]:
        details = Text()
        for key, value in event.fields.items():
            details.append(f"{key}=", style="dim")
            details.append_text(render.safe(value, 60))
            details.append(" ")
        style = {
            "job:completed": "green",
            "job:failed": "red",
            "job:retrying": "yellow",
            "job:stalled": "yellow",
            "job:cancelled": "yellow",
        }.get(event.name, "")
        return (
            Text(render.clock_time(event.timestamp_ms), style="dim"),
            render.safe(event.queue, 30, style="bold"),
            Text(event.name, style=style),
            render.safe(event.job_id or "", 24),
            details,
        )

    @staticmethod
    def _step(choices: list[str], current: str | None, step: int) -> str | None:
        """The next (or previous) of ``[None, *choices]`` after ``current``."""
        ring: list[str | None] = [None, *choices]
        index = ring.index(current) if current in ring else 0
        return ring[(index + step) % len(ring)]

    def _event_types(self) -> list[str]:
        """Every known event type, then any other type seen on the stream."""
        seen = {event.name for event in self.events}
        return [*EVENT_NAMES, *sorted(seen - set(EVENT_NAMES))]

    def _set_filters(self, queue: str | None, event_type: str | None) -> None:
        self.queue_filter = queue
        self.type_filter = event_type
        self._draw()

    def action_next_queue(self) -> None:
        self._set_filters(self._step(self.queues, self.queue_filter, +1), self.type_filter)

    def action_previous_queue(self) -> None:
        self._set_filters(self._step(self.queues, self.queue_filter, -1), self.type_filter)

    def action_next_type(self) -> None:
        self._set_filters(self.queue_filter, self._step(self._event_types(), self.type_filter, +1))

    def action_previous_type(self) -> None:
        self._set_filters(self.queue_filter, self._step(self._event_types(), self.type_filter, -1))

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._draw()
        self._show_info()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.filter_terms = event.value.casefold().split()
        if not self.filter_terms:
            event.input.display = False
        self.table.focus()
        self._draw()

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display:
            field.value = ""
            field.display = False
            self.filter_terms = []
            self.table.focus()
            self._draw()
            return
        super().action_back()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        queue, _, stream_id = key.partition("\x00")
        match = next(
            (e for e in self.events if e.queue == queue and e.stream_id == stream_id), None
        )
        if match is not None and match.job_id:
            self.console.open_job(match.queue, match.job_id)
