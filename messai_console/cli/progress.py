"""Progress bars for long operations, shown only when both outputs are terminals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from messai_console.cli.output import console, interactive
from messai_console.text import visible

POLL_S = 0.2


def progress_bar(enabled: bool | None = None) -> Progress:
    """A bar on stderr; disabled (prints nothing) off a terminal."""
    return Progress(
        # Descriptions hold queue names: never markup.
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        disable=not (interactive() if enabled is None else enabled),
        transient=True,
    )


@contextlib.asynccontextmanager
async def watched(
    description: str,
    total: int,
    done: Callable[[], Awaitable[int]],
    enabled: bool | None = None,
) -> AsyncIterator[None]:
    """Run the body while a bar shows ``await done()`` out of ``total``, polled.

    The engine's bulk operations page through Redis on their own; polling a
    count from the side shows their progress without changing them."""
    bar = progress_bar(enabled)
    if bar.disable or total <= 0:
        yield
        return
    task: TaskID = bar.add_task(visible(description), total=total)

    stop = asyncio.Event()

    async def poll() -> None:
        # Stopped by the event, not by cancel(): redis-py can swallow a cancellation
        # that lands mid-command, which would leave this loop running for ever.
        while not stop.is_set():
            bar.update(task, completed=min(await done(), total))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)

    with bar:
        poller = asyncio.create_task(poll())
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await poller
