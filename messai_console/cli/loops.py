"""Choosing the event loop a command runs on: asyncio's own or uvloop's."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Iterator
from enum import StrEnum

import typer


class LoopChoice(StrEnum):
    """``--loop``: auto is uvloop when it is installed, else asyncio."""

    auto = "auto"
    asyncio = "asyncio"
    uvloop = "uvloop"


def resolve(choice: LoopChoice | str) -> LoopChoice:
    """The loop ``choice`` stands for here: auto becomes uvloop or asyncio."""
    choice = LoopChoice(choice)
    if choice is LoopChoice.auto:
        # uvloop drained jobs that do I/O faster in 5 of 6 paired runs at
        # concurrency 50 (one Redis call: 5,143-6,957 vs 4,862-5,251 jobs/s
        # in the last) and 1 ms sleeps at concurrency 1 in 6 of 6; no-op jobs
        # at concurrency 50 were slower on it in 3 of 4 (README, Performance).
        return LoopChoice.uvloop if uvloop_installed() else LoopChoice.asyncio
    if choice is LoopChoice.uvloop and not uvloop_installed():
        raise typer.BadParameter(
            "uvloop is not installed (pip install uvloop)", param_hint="--loop"
        )
    return choice


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


@contextlib.contextmanager
def running_on(choice: LoopChoice | str) -> Iterator[LoopChoice]:
    """``asyncio.run`` inside the block uses the chosen loop; yields the one chosen.

    The previous policy comes back afterwards, so a command invoked in-process
    (tests) does not change the loop of what runs after it."""
    resolved = resolve(choice)
    previous = asyncio.get_event_loop_policy()
    if resolved is LoopChoice.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        yield resolved
    finally:
        asyncio.set_event_loop_policy(previous)
