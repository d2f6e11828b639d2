"""The processor registry, and the diagnostic processors every worker knows.

Jobs name their processor; a worker looks the name up in an explicit
registry. Nothing is ever imported by a name read from Redis.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.context import JobContext

Processor = Callable[["JobContext"], Awaitable[Any]] | Callable[["JobContext"], Any]
BatchProcessor = (
    Callable[[list["JobContext"]], Awaitable[list[Any]]] | Callable[[list["JobContext"]], list[Any]]
)
"""Takes several jobs at once; returns one entry per job: its result, or an
exception instance for a job that failed (the others still succeed)."""


@dataclass(frozen=True)
class ProcessorSpec:
    """A registered processor and how to run it."""

    name: str
    function: Callable[..., Any]
    """A Processor, or a BatchProcessor when batch_size is set."""
    is_async: bool
    batch_size: int | None = None
    """For batch processors: the most jobs passed in one call."""


class ProcessorRegistry:
    """Named processors. Coroutine functions run on the worker's event loop,
    plain functions in its thread pool."""

    def __init__(self, processors: Mapping[str, Processor] | None = None) -> None:
        self._specs: dict[str, ProcessorSpec] = {}
        for name, function in (processors or {}).items():
            self.add(name, function)

    def add(self, name: str, function: Processor) -> None:
        if not name:
            raise ValueError("processor name must not be empty")
        self._specs[name] = ProcessorSpec(name, function, inspect.iscoroutinefunction(function))

    def add_batch(self, name: str, function: BatchProcessor, max_batch: int = 100) -> None:
        """A processor that takes up to ``max_batch`` jobs of this name at once
        (say, 100 emails over one SMTP connection). The worker passes the jobs
        it has leased together, so its concurrency bounds the batch too."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._specs[name] = ProcessorSpec(
            name, function, inspect.iscoroutinefunction(function), max_batch
        )

    def register_batch(
        self, name: str, max_batch: int = 100
    ) -> Callable[[BatchProcessor], BatchProcessor]:
        """Decorator form of :meth:`add_batch`."""

        def decorate(function: BatchProcessor) -> BatchProcessor:
            self.add_batch(name, function, max_batch)
            return function

        return decorate

    def register(self, name: str | None = None) -> Callable[[Processor], Processor]:
        """Decorator: ``@registry.register("extract_pdf")``."""

        def decorate(function: Processor) -> Processor:
            self.add(name or function.__name__, function)
            return function

        return decorate

    def get(self, name: str) -> ProcessorSpec | None:
        return self._specs.get(name)

    def merged(self, other: ProcessorRegistry) -> ProcessorRegistry:
        """A new registry with ``other``'s processors added over this one's."""
        merged = ProcessorRegistry()
        merged._specs = {**self._specs, **other._specs}
        return merged

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)


# -- diagnostic processors ---------------------------------------------------


async def noop(ctx: JobContext) -> None:
    """Does nothing: for smoke tests and benchmarks."""
    return None


async def sleep(ctx: JobContext) -> dict[str, int]:
    """Sleeps ``data["ms"]`` milliseconds (default 1000), reporting progress in ten steps."""
    data = ctx.data if isinstance(ctx.data, dict) else {}
    total_ms = int(data.get("ms", 1000))
    if total_ms < 0:
        raise ValueError("sleep: ms must be >= 0")
    steps = 10
    for step in range(1, steps + 1):
        await asyncio.sleep(total_ms / steps / 1000)
        await ctx.progress(
            step * 100 // steps, f"slept {total_ms * step // steps} of {total_ms} ms"
        )
    return {"slept_ms": total_ms}


async def echo(ctx: JobContext) -> Any:
    """Returns its data."""
    return ctx.data


async def fail(ctx: JobContext) -> None:
    """Raises with ``data["message"]`` (default "failed on purpose")."""
    data = ctx.data if isinstance(ctx.data, dict) else {}
    raise RuntimeError(str(data.get("message", "failed on purpose")))


def diagnostic_processors() -> ProcessorRegistry:
    """``noop``, ``sleep``, ``echo`` and ``fail``: valid on every queue."""
    return ProcessorRegistry({"noop": noop, "sleep": sleep, "echo": echo, "fail": fail})
