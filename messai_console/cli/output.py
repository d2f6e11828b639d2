"""Printing: rich tables for people, JSON for scripts; no colour into a pipe."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from messai_console.text import visible

PIPE_WIDTH = 100_000
"""Width of tables written to a pipe: no row wraps or is cut to fit a terminal's width
(each line then ends where its text does, see :func:`print_table`)."""


def console(stderr: bool = False) -> Console:
    """stdout (or stderr); rich leaves out colour and styles when it is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(highlight=False, soft_wrap=True, stderr=stderr, width=width)


def interactive() -> bool:
    """Both stdout and stderr are terminals: progress bars and prompts make sense."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def to_json(value: Any) -> str:
    """Compact JSON, ASCII only: escapes every control character, so a raw ESC never prints."""
    return json.dumps(value, ensure_ascii=True, default=str)


def print_json(value: Any) -> None:
    sys.stdout.write(to_json(value) + "\n")
    sys.stdout.flush()


def print_line(text: str) -> None:
    """One line of plain text, flushed (followers read it at once). Never markup."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    print(f"warning: {visible(message)}", file=sys.stderr, flush=True)


def cell(value: object, max_chars: int | None = 200) -> Text:
    """Untrusted text as a table cell: never markup, control characters escaped."""
    return Text(visible("" if value is None else value, max_chars))


def print_table(
    columns: list[str],
    rows: list[list[object]],
    title: str | None = None,
    caption: str | None = None,
    max_chars: int | None = 200,
) -> None:
    """A table with borders on a terminal; into a pipe, one line per row, columns
    split by ``│`` and no outer border, so that no line carries trailing blanks
    (a long cell would otherwise pad every line of the table to its width)."""
    out = console()
    table = Table(
        title=cell(title) if title is not None else None,
        caption=cell(caption) if caption is not None else None,
        title_justify="left",
        caption_justify="left",
        header_style="bold",
        box=box.HEAVY_HEAD if out.is_terminal else box.MINIMAL,
        show_edge=out.is_terminal,
    )
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell(value, max_chars) for value in row))
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def format_ms(epoch_ms: int | None) -> str:
    """Local date and time of an epoch in ms, to the second; empty for None."""
    if not epoch_ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))


def format_duration_ms(ms: float | None) -> str:
    """``850ms``, ``12.3s``, ``4m05s``, ``2h05m``, ``3d04h``; empty for None."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    seconds = int(ms // 1000)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86_400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d{seconds % 86_400 // 3600:02d}h"
