"""Parsing operator input: durations, priorities, backoff, JSON data."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from engine.options import (
    BUILTIN_BACKOFFS,
    MAX_PRIORITY,
    PRIORITY_NAMES,
    Keep,
    backoff_name_problem,
    parse_keep,
)
from messai_console.cli.runtime import EXIT_FAILED, fail

_STREAM_ID = re.compile(r"^\d+(-\d+)?$")


class JobState(StrEnum):
    """Every state a job can be in."""

    waiting = "waiting"
    active = "active"
    delayed = "delayed"
    completed = "completed"
    failed = "failed"
    pending = "pending"


class CleanableState(StrEnum):
    """The states ``queue clean`` deletes from (running jobs are never deleted)."""

    waiting = "waiting"
    delayed = "delayed"
    completed = "completed"
    failed = "failed"


class Window(StrEnum):
    """Time ranges the engine keeps per-minute metrics for."""

    hour = "hour"
    day = "day"
    week = "week"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """``"10s"`` -> 10000; plain numbers are milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration; use e.g. 500ms, 10s, 5m, 2h, 1d")
    value, unit = match.groups()
    return int(float(value) * _UNIT_MS[unit or "ms"])


def stream_id(text: str) -> str:
    """An event id as printed by ``events`` (``1714557600000-0``), or ``0`` for the start."""
    if not _STREAM_ID.match(text):
        raise typer.BadParameter(f"{text!r} is not an event id; use e.g. 1714557600000-0, or 0")
    return text


def priority(text: str) -> int:
    """``high``, ``normal``, ``low`` or a number (0 runs first)."""
    if text.lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[text.lower()]
    if text.isdigit() and int(text) <= MAX_PRIORITY:
        return int(text)
    raise typer.BadParameter(
        f"{text!r} is not a priority; use high, normal, low or 0..{MAX_PRIORITY}"
    )


def prefetch(text: str) -> int | None:
    """A worker's --prefetch: a number of jobs, or "auto" (None)."""
    if text.strip().lower() == "auto":
        return None
    if text.strip().isdigit():
        return int(text)
    raise typer.BadParameter(f"{text!r} is not a prefetch; use auto or a number of jobs, e.g. 0")


KEEP_SYNTAX = (
    "all, a count (1000; 0 deletes at once), an age (7d; ms, s, m, h, d, w) or both (1000,7d)"
)
"""How --keep-completed and --keep-failed are written (help texts say it)."""


def keep(text: str) -> Keep:
    """A retention rule: ``all``, ``1000``, ``7d`` or ``1000,7d``."""
    try:
        return parse_keep(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a retention; use {KEEP_SYNTAX}") from None


def backoff(text: str) -> dict[str, Any]:
    """``exponential:1s``, ``fixed:500ms``, or the name of a strategy that the
    worker registers (``--backoff-strategies``)."""
    kind, _, delay = text.partition(":")
    if kind in BUILTIN_BACKOFFS and delay:
        return {"type": kind, "delay_ms": duration_ms(delay)}
    if kind not in BUILTIN_BACKOFFS and not delay and backoff_name_problem(kind) is None:
        return {"type": kind}
    raise typer.BadParameter(
        f"{text!r} is not a backoff; use exponential:1s, fixed:500ms or a strategy's name"
    )


def json_data(text: str | None) -> Any:
    """JSON given inline, or ``@path`` to read it from a file (``@-`` for stdin).

    Bad data is a refused operation (exit 1), not a usage error."""
    if text is None:
        return None
    source = text
    if text.startswith("@"):
        source = _read_utf8(text[1:], "--data file")
    try:
        return _loads(source)
    except json.JSONDecodeError as exc:
        fail(
            f"--data is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            EXIT_FAILED,
        )
    except _NotJson as exc:
        fail(f"--data is not valid JSON: {exc}", EXIT_FAILED)


class _NotJson(ValueError):
    """What Python's JSON reader accepts but JSON does not, or cannot read."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _loads(source: str) -> Any:
    """``json.loads`` refusing NaN and Infinity (JSON has neither) and data
    nested too deep for the reader, each as :class:`_NotJson`."""
    try:
        return json.loads(source, parse_constant=_refuse_constant)
    except RecursionError:
        raise _NotJson("it nests too deeply") from None


def _read_utf8(path: str, what: str) -> str:
    """The text of ``path`` (``-``: stdin) as UTF-8; one-line exit 1 if unreadable."""
    try:
        stdin = typer.get_binary_stream("stdin")
        raw = stdin.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}", EXIT_FAILED)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{what} {path} is not UTF-8 text (byte {exc.start} is invalid)", EXIT_FAILED)


def json_lines(path: str) -> list[Any]:
    """One JSON value per non-blank line of ``path`` (``-`` for stdin).

    A line that is not JSON refuses the whole file (exit 1), naming the line."""
    text = _read_utf8(path, "--file")
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(_loads(line))
        except json.JSONDecodeError as exc:
            fail(f"--file line {number} is not valid JSON: {exc.msg}", EXIT_FAILED)
        except _NotJson as exc:
            fail(f"--file line {number} is not valid JSON: {exc}", EXIT_FAILED)
    return values
