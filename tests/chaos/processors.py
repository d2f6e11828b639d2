"""Processors for chaos workers, loaded by ``tests.chaos.worker_process`` and by
``messai-console worker --processors tests.chaos.processors:registry``.

Every run is recorded outside the Redis under test: each worker process
appends to its own file ``<CHAOS_EVENTS_DIR>/events-<pid>.log``, one line
per event, each line one ``write`` on a descriptor opened with O_APPEND (so
a SIGKILL loses nothing already written, and a line is never torn by
another thread). A line is ``<kind> <job id> <attempt> <pid> <time>``,
``kind`` ``start``, ``end`` (the code ran to completion) or ``cancelled``
(the worker stopped it), ``time`` from
``time.monotonic()``: CLOCK_MONOTONIC, one clock for every process of the
machine, so the checker can order events across processes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from engine import JobContext, ProcessorRegistry

EVENTS_DIR_ENV = "CHAOS_EVENTS_DIR"
PILL_EXIT_CODE = 97
"""A poison pill's exit status, so that the harness can tell its deaths from crashes."""

registry = ProcessorRegistry()

_fd: int | None = None
_fd_pid = 0
_fd_lock = threading.Lock()


def _events_fd() -> int:
    global _fd, _fd_pid
    with _fd_lock:
        if _fd is None or _fd_pid != os.getpid():
            path = os.path.join(os.environ[EVENTS_DIR_ENV], f"events-{os.getpid()}.log")
            _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _fd_pid = os.getpid()
        return _fd


def record(kind: str, ctx: JobContext) -> None:
    line = f"{kind} {ctx.job_id} {ctx.attempt} {os.getpid()} {time.monotonic():.6f}\n"
    os.write(_events_fd(), line.encode())


def _ms(ctx: JobContext) -> float:
    data: Any = ctx.data
    return float(data.get("ms", 0)) if isinstance(data, dict) else 0.0


@registry.register("work")
async def work(ctx: JobContext) -> None:
    """Async work: ``data["ms"]`` milliseconds of sleep between its start and end."""
    record("start", ctx)
    try:
        await asyncio.sleep(_ms(ctx) / 1000)
    except asyncio.CancelledError:  # lease lost, cancelled, or handed back at shutdown
        record("cancelled", ctx)
        raise
    record("end", ctx)


@registry.register("work_thread")
def work_thread(ctx: JobContext) -> None:
    """The same in the worker's thread pool; a thread cannot be cancelled, so
    it always runs its full length."""
    record("start", ctx)
    time.sleep(_ms(ctx) / 1000)
    record("end", ctx)


@registry.register("pill")
async def pill(ctx: JobContext) -> None:
    """A poison pill: ends its worker process every time it runs."""
    record("start", ctx)
    os._exit(PILL_EXIT_CODE)
