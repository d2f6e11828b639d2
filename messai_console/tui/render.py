"""Turning values from Redis into rich ``Text``: safe, short and readable.

Everything that came from Redis (queue and job names, data, results,
errors, logs) goes through :func:`safe` or :func:`safe_block`: it becomes a
plain ``Text`` (never parsed as markup) with control characters shown as
visible escapes, so no job can restyle the console or drive the terminal.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rich.highlighter import JSONHighlighter
from rich.text import Text

from messai_console.text import visible

MAX_BLOCK_CHARS = 20_000
"""A data, result, error or log block longer than this is cut (with a note)."""
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
BAR_FULL, BAR_EMPTY = "█", "░"

_json_highlighter = JSONHighlighter()


def visible_str(value: object, max_chars: int | None = None) -> str:
    """Untrusted text as a plain string with control characters escaped."""
    return visible("" if value is None else value, max_chars)


def same(old: object, new: object) -> bool:
    """Whether two cells render alike (rich's Text equality ignores the base style)."""
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return old == new


def safe(value: object, max_chars: int | None = None, style: str = "") -> Text:
    """One line of untrusted text: no markup, control characters escaped."""
    return Text(visible("" if value is None else value, max_chars), style=style, no_wrap=True)


def safe_block(value: object, max_chars: int = MAX_BLOCK_CHARS, style: str = "") -> Text:
    """Several lines of untrusted text (errors, stacks, logs): each line made visible."""
    raw = "" if value is None else str(value)
    cut = len(raw) > max_chars
    raw = raw[:max_chars].replace("\t", "    ")
    text = Text("\n".join(visible(line) for line in raw.split("\n")), style=style)
    if cut:
        text.append(f"\n… cut: {len(str(value)):,} characters in all", style="italic dim")
    return text


def json_block(value: Any, max_chars: int = MAX_BLOCK_CHARS) -> Text:
    """A value as indented, highlighted JSON; strings inside stay escaped and inert."""
    dumped = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    cut = len(dumped) > max_chars
    shown = dumped[:max_chars]
    # json.dumps escapes C0 controls but not bidi overrides, NEL or line separators:
    # make each line visible (the indentation's newlines are the only real ones).
    text = Text("\n".join(visible(line) for line in shown.split("\n")))
    _json_highlighter.highlight(text)
    if cut:
        text.append(f"\n… cut: {len(dumped):,} characters in all", style="italic dim")
    return text


def first_line(value: str | None, max_chars: int = 80) -> Text:
    if not value:
        return Text("")
    lines = value.strip().split("\n")
    text = safe(lines[0], max_chars)
    if len(lines) > 1:  # say that it goes on: a stack's first line alone misleads
        text.append(f" … (+{len(lines) - 1} lines)", style="dim")
    return text


def progress_percent(progress: Any) -> float | None:
    """A job's progress as 0..100, if it reported a number (or {"pct": n})."""
    if isinstance(progress, bool):
        return None
    if isinstance(progress, int | float):
        return max(0.0, min(float(progress), 100.0))
    if isinstance(progress, dict):
        for key in ("pct", "percent", "progress", "value"):
            if isinstance(progress.get(key), int | float) and not isinstance(
                progress.get(key), bool
            ):
                return max(0.0, min(float(progress[key]), 100.0))
    return None


def progress_message(progress: Any) -> str:
    if isinstance(progress, dict):
        for key in ("msg", "message", "stage"):
            if isinstance(progress.get(key), str):
                return str(progress[key])
    if isinstance(progress, str):
        return progress
    return ""


def progress_bar(progress: Any, width: int = 12) -> Text:
    """``██████░░░░░░  50%`` for a numeric progress, else its text (escaped)."""
    pct = progress_percent(progress)
    if pct is None:
        return safe(progress_message(progress), 24, style="dim")
    filled = round(pct / 100 * width)
    text = Text(BAR_FULL * filled, style="green")
    text.append(BAR_EMPTY * (width - filled), style="dim")
    text.append(f" {pct:3.0f}%")
    return text


def sparkline(values: list[int], width: int = 20) -> Text:
    """``values`` squeezed into ``width`` block characters (sums per bucket)."""
    if not values:
        return Text("")
    buckets = [0] * min(width, len(values))
    per = len(values) / len(buckets)
    for index, value in enumerate(values):
        buckets[min(int(index / per), len(buckets) - 1)] += value
    peak = max(buckets)
    if peak == 0:
        return Text(SPARK_LEVELS[0] * len(buckets), style="dim")
    chars = "".join(
        SPARK_LEVELS[min(len(SPARK_LEVELS) - 1, round(v / peak * (len(SPARK_LEVELS) - 1)))]
        for v in buckets
    )
    return Text(chars, style="cyan")


def duration(ms: float) -> str:
    """``850ms``, ``12s``, ``3m05s``, ``2h10m``, ``3d4h``."""
    ms = max(ms, 0)
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def ago(then_ms: int | None, now_ms: int) -> str:
    if not then_ms:
        return "-"
    return duration(now_ms - then_ms) + " ago"


def rough_duration(ms: float) -> str:
    """:func:`duration` to the minute (``<1m``, ``14m``, ``2h10m``, ``3d4h``), for table
    cells: a column of them changes once a minute, not every row every second."""
    if ms < 60_000:
        return "<1m"
    if ms < 3_600_000:
        return f"{int(ms // 60_000)}m"
    return duration(ms)


def rough_ago(then_ms: int | None, now_ms: int) -> str:
    if not then_ms:
        return "-"
    return rough_duration(now_ms - then_ms) + " ago"


def clock_time(epoch_ms: int | None, utc: bool = False) -> str:
    """``14:02:03`` (local time, or UTC) for a timestamp within a day, else the date too."""
    if not epoch_ms:
        return "-"
    struct = time.gmtime(epoch_ms / 1000) if utc else time.localtime(epoch_ms / 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", struct)


def count(value: int) -> Text:
    """A count, dimmed when zero."""
    return Text(f"{value:,}", style="dim" if value == 0 else "", justify="right")


def per_second(value: float | None, style: str = "") -> Text:
    """A rate: ``0``, ``4.2``, ``41,234`` (one decimal below ten); ``-`` when unknown."""
    if value is None:
        return Text("-", style="dim", justify="right")
    if value == 0:
        return Text("0", style="dim", justify="right")
    shown = f"{value:.1f}" if value < 10 else f"{value:,.0f}"
    return Text(shown, style=style, justify="right")


def backlog_trend(per_s: float | None) -> Text:
    """``↓1,234`` (shrinking, green), ``↑56`` (growing, yellow), ``0``, or ``-``."""
    if per_s is None:
        return Text("-", style="dim", justify="right")
    if abs(per_s) < 0.05:
        return Text("0", style="dim", justify="right")
    arrow, style = ("↓", "green") if per_s < 0 else ("↑", "yellow")
    size = abs(per_s)
    shown = f"{size:.1f}" if size < 10 else f"{size:,.0f}"
    return Text(arrow + shown, style=style, justify="right")


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"
