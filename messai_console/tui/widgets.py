"""Widgets shared by the screens: the status bar and a table updated by row key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Static, Tab, Tabs

from messai_console.tui import render


@dataclass(frozen=True)
class Status:
    """What the status bar shows; the app replaces it after every refresh."""

    url: str
    """The Redis address, password masked."""
    connected: bool | None = None
    """None until the first refresh answers (or fails)."""
    error: str = ""
    server: dict[str, Any] = field(default_factory=dict)
    now_ms: int = 0
    frozen: bool = False
    interval_s: float = 1.0
    readonly: bool = False
    data_ms: int = 0
    """When the data on screen was read (the last refresh that succeeded); 0: never."""
    notice: str = ""
    """What is happening to the servers ("master changed ..."), shown until it is cleared."""
    from_replica: bool = False
    """The console reads from a replica."""


class StatusBar(Static):
    """The top line of every screen: where Redis is, how it is doing, and the console's mode."""

    DEFAULT_CSS = """
    StatusBar { height: 2; dock: top; background: $panel; padding: 0 1; }
    """

    def __init__(self, title: Text | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title or Text("")

    def on_mount(self) -> None:
        self.watch(self.app, "status", self.show, init=True)

    def set_title(self, title: Text) -> None:
        self.title = title
        self.show(getattr(self.app, "status", None))

    def show(self, status: Status | None) -> None:
        if status is None:
            return
        if self.screen is not self.app.screen:
            # A screen under the top one: drawing it (the clock, each second) would
            # repaint the whole terminal. Its screen shows it again when resumed.
            return
        line = Text()
        if status.connected is None:
            line.append("● connecting ", style="yellow")
        elif status.connected:
            line.append("● connected ", style="bold green")
        else:
            line.append(" ● disconnected ", style="bold white on red")
            line.append(" ")
        line.append(status.url, style="cyan")
        if status.from_replica:
            line.append("  reads: replica", style="bold")
        server = status.server
        if server:
            line.append(f"  Redis {render.visible_str(server.get('version', '?'))}")
            line.append(f"  mem {render.visible_str(server.get('used_memory_human', '?'))}")
            line.append(f"  clients {server.get('connected_clients', 0)}")
            line.append(f"  ops/s {server.get('ops_per_sec', 0)}")
            persistence = str(server.get("persistence", "?"))
            line.append("  ")
            line.append(
                render.visible_str(persistence),
                style="bold red" if persistence == "none" else "",
            )
            policy = str(server.get("maxmemory_policy", "?"))
            line.append("  ")
            line.append(
                render.visible_str(policy),
                style="" if policy == "noeviction" else "bold red",
            )
        second = Text()
        second.append_text(self.title)
        if status.connected is False and status.error:
            second.append("  " + render.visible_str(status.error, 90), style="red")
        elif status.notice:
            second.append("  " + render.visible_str(status.notice, 90), style="bold yellow")
        elif server.get("warnings"):
            second.append("  ⚠ " + render.visible_str(server["warnings"][0], 90), style="yellow")
        right = Text()
        if (status.frozen or status.connected is False) and status.data_ms:
            age = render.duration(max(status.now_ms - status.data_ms, 1000) // 1000 * 1000)
            right.append(f"data {age} old ", style="bold yellow")
        if status.readonly:
            right.append(" READ-ONLY ", style="bold black on yellow")
            right.append(" ")
        if status.frozen:
            right.append(" FROZEN ", style="bold black on cyan")
            right.append(" ")
        right.append(f"every {status.interval_s:g}s  ", style="dim")
        right.append(render.clock_time(status.now_ms), style="dim")
        width = max(self.size.width - 2, 40)
        # The mode and the clock stay whole at the right: the title and the message
        # give way (cut with an ellipsis), however long the message.
        second.truncate(max(width - right.cell_len - 1, 1), overflow="ellipsis")
        pad = max(width - second.cell_len - right.cell_len, 1)
        second.append(" " * pad)
        second.append_text(right)
        line.truncate(width, overflow="ellipsis")
        second.truncate(width, overflow="ellipsis")
        # Two lines, docked, full width: its size never changes, so no layout pass
        # (the clock changes it every second).
        show_text(self, Text("\n").join([line, second]), layout=False)

    def on_resize(self) -> None:
        self.show(getattr(self.app, "status", None))


class KeyedTable(DataTable[Any]):
    """A DataTable whose rows are synchronised by key: changed cells are updated in
    place, rows that left are removed, new ones added, and the order fixed by a sort,
    so the cursor and scroll position survive every refresh."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home,g", "scroll_top", "First row", show=False),
        Binding("end,G", "scroll_bottom", "Last row", show=False),
    ]

    class EdgeReached(Message):
        """The cursor tried to move past the last (+1) or first (-1) loaded row."""

        def __init__(self, table: KeyedTable, direction: int) -> None:
            super().__init__()
            self.table = table
            self.direction = direction

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rank: dict[str, int] = {}
        self._first_cells: dict[int, str] = {}

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """Replace every column (and row): ``(key, label)`` pairs."""
        self.clear(columns=True)
        self._rank.clear()
        self._first_cells.clear()
        for key, label in columns:
            self.add_column(label, key=key)

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def cursor_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # the cursor is past the rows (they just shrank)
            return None

    def sync(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Show exactly ``rows`` (key, cells) in this order, touching only what changed."""
        keep_cursor = self.cursor_key
        wanted = {key: index for index, (key, _cells) in enumerate(rows)}
        column_keys = [column.key for column in self.ordered_columns]
        with self.app.batch_update():
            for key in [k for k in self._rank if k not in wanted]:
                self.remove_row(key)
                del self._rank[key]
            self._first_cells = {
                cell_id: key for cell_id, key in self._first_cells.items() if key in wanted
            }
            for key, cells in rows:
                if key in self._rank:
                    current = self.get_row(key)
                    for column, old, new in zip(
                        column_keys[1:], current[1:], cells[1:], strict=False
                    ):
                        if not render.same(old, new):  # wider (1,000,000): a wider column
                            self.update_cell(key, column, new, update_width=True)
                else:
                    self.add_row(*cells, key=key)
                    self._first_cells[id(cells[0])] = key
                self._rank[key] = wanted[key]
            if self.keys != [key for key, _cells in rows]:
                self.sort(key=lambda values: self._rank[self._first_cells[id(values[0])]])
            if keep_cursor is not None and keep_cursor in self._rank:
                index = self.get_row_index(keep_cursor)
                if index != self.cursor_row:
                    self.move_cursor(row=index, animate=False, scroll=False)

    async def _on_idle(self, event: events.Idle) -> None:
        # DataTable measures new cells when idle and widens their columns, but keeps
        # the lines it drew before at the old widths (cut cells, a detached border):
        # drop them when the measuring may have changed a width.
        measured = self._require_update_dimensions or bool(self._updated_cells)
        widths = self._widths() if measured else []
        await super()._on_idle(event)
        if measured and self._widths() != widths:  # else every line drawn is still right
            self._clear_caches()
            self.refresh()

    def _widths(self) -> list[int]:
        return [column.get_render_width(self) for column in self.ordered_columns]

    def update_cell_if_present(self, key: str, column: str, value: Any) -> None:
        if key in self._rank:
            self.update_cell(key, column, value)

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(self, +1))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.EdgeReached(self, -1))
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(self, +1))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.EdgeReached(self, -1))
            return
        super().action_page_up()


class CountTab(Tab):
    """A tab whose label carries a count: when a new count makes it wider or narrower,
    the underline follows once the new width is laid out. (Tabs moves it when the
    label is set, before that layout: it stayed under the old width.)"""

    def on_resize(self) -> None:
        tabs = next((a for a in self.ancestors if isinstance(a, Tabs)), None)
        if tabs is not None:
            # Animated like the move Tabs starts on a new label, and started after it:
            # this one replaces it (a move without animation would be undone by it).
            tabs._highlight_active()  # Tabs has no public way to do this


def show_text(widget: Static, text: Text, layout: bool = True) -> None:
    """Show ``text`` in ``widget`` unless it shows that already: an update redraws the
    widget and, with ``layout``, lays the whole screen out again. That is skipped
    when the new text takes the lines the old one did (its height stays)."""
    old = widget.content
    if render.same(old, text):
        return
    if layout and isinstance(old, Text) and widget.is_mounted:
        width = widget.content_size.width
        new_lines, old_lines = text.split(allow_blank=True), old.split(allow_blank=True)
        if width and len(new_lines) == len(old_lines):
            layout = any(line.cell_len > width for line in [*new_lines, *old_lines])
    widget.update(text, layout=layout)


def cells(*values: Any) -> tuple[Any, ...]:
    """Cells for a row; plain strings become Text (a DataTable parses bare strings as markup)."""
    return tuple(Text(value) if isinstance(value, str) else value for value in values)


Formatter = Callable[[Any], Text]
