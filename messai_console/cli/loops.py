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
        # uvloop measured faster at concurrency 50 with jobs that do I/O
        # (see the README's Performance section), and never slower.
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
