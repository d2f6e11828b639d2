"""Running batch processors: jobs leased together go to one call.

Each job still runs its own task (with its own timeout, cancellation and
retries); its task waits for its entry in the batch's result.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from engine.context import JobContext
from engine.processors import ProcessorSpec


class Batcher:
    """Collects the jobs of one batch processor that start in the same loop
    iteration and runs them in calls of at most ``spec.batch_size``."""

    def __init__(
        self, spec: ProcessorSpec, loop: asyncio.AbstractEventLoop, pool: Executor
    ) -> None:
        assert spec.batch_size is not None
        self.spec = spec
        self.size = spec.batch_size
        self._loop = loop
        self._pool = pool
        self._pending: list[tuple[JobContext, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, context: JobContext) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending.append((context, future))
        if len(self._pending) >= self.size:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            chunk, self._pending = self._pending[: self.size], self._pending[self.size :]
            task = self._loop.create_task(self._run(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[tuple[JobContext, asyncio.Future[Any]]]) -> None:
        live = [(context, future) for context, future in chunk if not future.done()]
        if not live:
            return
        contexts = [context for context, _ in live]
        results: list[Any]
        try:
            if self.spec.is_async:
                results = await self.spec.function(contexts)
            else:
                results = await self._loop.run_in_executor(self._pool, self.spec.function, contexts)
            if not isinstance(results, list) or len(results) != len(contexts):
                raise TypeError(
                    f"batch processor {self.spec.name!r} must return a list with one entry per job "
                    f"({len(contexts)}), got {type(results).__name__}"
                )
        except Exception as exc:
            results = [exc] * len(contexts)
        for (_context, future), result in zip(live, results, strict=True):
            if future.done():
                continue  # that job was cancelled or timed out meanwhile
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
