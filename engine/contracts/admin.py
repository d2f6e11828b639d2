"""Contracts of the operators' scripts on one queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.contracts.base import Request


@dataclass(frozen=True, slots=True)
class PauseRequest(Request):
    """Pause (no job starts; running ones finish) or resume a queue."""

    SCRIPT: ClassVar[str] = "pause"
    EMITS: ClassVar[tuple[str, ...]] = ("queue:paused", "queue:resumed")
    WRITES: ClassVar[tuple[str, ...]] = ("meta", "marker", "events", "registry")

    paused: bool
    queue_name: str
    """For the registry: a paused queue is listed even before its first job."""
