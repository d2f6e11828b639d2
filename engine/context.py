"""What a processor receives: the job and its ways to talk back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import Future as ThreadFuture
from dataclasses import dataclass, field
from typing import Any

from engine.options import JobOptions


class _Done:
    """An awaitable that is already finished (returned to thread-pool callers)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_DONE = _Done()
_CREATE_LOCK = threading.Lock()


@dataclass(eq=False)
class JobContext:
    """One run of one job.

    ``progress`` and ``log`` work from async processors (await them) and
    from plain functions running in the thread pool (call them; they do not
    block). ``cancelled`` is set when an operator cancels the job or the
    worker loses its lease: long-running processors should check it.
    """

    job_id: str
    queue: str
    name: str
    data: Any
    attempt: int
    """1 for the first run."""
    options: JobOptions
    worker_id: str
    _send: Callable[[str, str, str], Coroutine[Any, Any, None]] = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    dependency_results: dict[str, Any] = field(default_factory=dict)
    """Results of the jobs this one waited for (chains, flows), by "<queue>:<id>";
    a dependency whose failure was ignored gives {"error": message}."""
    _cancelled: threading.Event | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> threading.Event:
        """Set when the job should stop; made on first use (most jobs never look)."""
        event = self._cancelled
        if event is None:
            with _CREATE_LOCK:  # a pool thread and the loop may both ask first
                if self._cancelled is None:
                    self._cancelled = threading.Event()
                event = self._cancelled
        return event

    @property
    def previous_result(self) -> Any:
        """In a chain: the result of the step before this one (None for the first)."""
        if len(self.dependency_results) == 1:
            return next(iter(self.dependency_results.values()))
        return None

    def progress(self, percent: float, message: str | None = None) -> Awaitable[None]:
        """Report progress (0 to 100) with an optional message, which also goes to the log."""
        from engine.codec import dumps

        value: dict[str, Any] = {"pct": max(0.0, min(100.0, float(percent)))}
        if message:
            value["msg"] = message
        return self._submit(dumps(value, "progress"), message or "")

    def log(self, line: str) -> Awaitable[None]:
        """Append a line to the job's log."""
        return self._submit("", str(line))

    def _submit(self, progress_json: str, line: str) -> Awaitable[None]:
        coroutine = self._send(self.job_id, progress_json, line)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return asyncio.ensure_future(coroutine)
        # Called from a processor in the thread pool: block until it is recorded.
        future: ThreadFuture[None] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        future.result()
        return _DONE

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()
