"""Printing: rich tables for people, JSON for scripts; no colour into a pipe."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from messai_console.text import visible


def console() -> Console:
    """stdout; plain (no colour, no markup from data) when it is not a terminal."""
    return Console(highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=True, default=str) + "\n")
    sys.stdout.flush()


def cell(value: object, max_chars: int | None = 200) -> Text:
    """Untrusted text as a table cell: never markup, control characters escaped."""
    return Text(visible("" if value is None else value, max_chars))


def print_table(columns: list[str], rows: list[list[object]], title: str | None = None) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    console().print(table)
