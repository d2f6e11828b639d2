"""The watchdog: a worker that holds jobs but makes no progress says so.

Two checks, every tick:

- a finish or fetch call that Redis has not answered within the call
  timeout (the lease, at least :data:`MIN_CALL_TIMEOUT_S`): the worker's own
  connection (:class:`engine.wire.Channel`) has no read timeout, so a frozen
  server or a silent network would hold the exchange forever. The channel is
  aborted; the calls fail as on a lost connection, and their outcomes go
  out again on a new connection. The guard costs the hot path nothing: no
  timer per call, one look per tick.
- jobs held, and no job finished and no call answered for longer than the
  lease: one warning with where the main loop and the jobs wait (their
  asyncio stacks, and the stacks of the job threads), once per episode.

The registry of workers carries the time of the last finished job as well
(``last_finished``), so that an operator's screen can show a worker with
running jobs and nothing finished for longer than its lease.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from typing import Any

from engine.worker.duties import Duty
from engine.worker.exchange import Exchange
from engine.worker.slots import Slots

log = logging.getLogger("engine.worker")

MIN_CALL_TIMEOUT_S = 2.0
MAX_TICK_S = 1.0
STACK_LIMIT = 12


class Watchdog(Duty):
    """Bounds the wait for Redis's answers and reports a worker that is stuck."""

    name = "watchdog"

    def __init__(self, *, worker_id: str, lease_ms: int, slots: Slots, exchange: Exchange) -> None:
        super().__init__()
        self.worker_id = worker_id
        self.lease_s = lease_ms / 1000
        self.call_timeout_s = max(self.lease_s, MIN_CALL_TIMEOUT_S)
        self.slots = slots
        self.exchange = exchange
        self.main_task: asyncio.Task[None] | None = None
        """The task of the worker's main loop (set when it runs)."""
        self.last_job_end = time.monotonic()
        self.stuck_reported = False
        """Whether the current episode of no progress was reported."""
        self.reports = 0
        self.aborts = 0
        self._tick_s = min(self.lease_s / 4, MAX_TICK_S)

    def progressed(self) -> None:
        """A job ended."""
        self.last_job_end = time.monotonic()

    async def run(self) -> None:
        while not self.closed:
            await asyncio.sleep(self._tick_s)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        waited = self.exchange.waiting_s(now)
        if waited > self.call_timeout_s:
            self.aborts += 1
            log.warning(
                "worker %s: Redis has not answered a finish/fetch call for %.1fs:"
                " dropping the connection (the calls are retried on a new one)",
                self.worker_id,
                waited,
            )
            self.exchange.channel.abort()
        quiet = now - max(self.last_job_end, self.exchange.last_answer)
        if self.slots.held_count and quiet > self.lease_s:
            if not self.stuck_reported:
                self.stuck_reported = True
                self.reports += 1
                log.warning("%s", self.describe_stuck(quiet))
        else:
            self.stuck_reported = False

    def describe_stuck(self, quiet_s: float) -> str:
        """Where everything waits: the main loop, the jobs, the job threads."""
        slots = self.slots
        lines = [
            f"worker {self.worker_id}: {slots.held_count} jobs held ({slots.active} running,"
            f" {slots.buffered_count} not started), {self.exchange.calls_pending} calls to"
            f" Redis pending, and no job finished and no call answered for {quiet_s:.1f}s"
            f" (lease {self.lease_s:g}s). Where it waits:"
        ]
        if self.main_task is not None and not self.main_task.done():
            lines.append(f"  main loop:{_task_stack(self.main_task)}")
        for job in slots.running()[:10]:
            assert job.task is not None
            where = " (in a thread, see below)" if job.in_thread else _task_stack(job.task)
            lines.append(f"  job {job.queue.name}/{job.job_id} ({job.name}):{where}")
        frames = sys._current_frames()
        for thread in threading.enumerate():
            frame = frames.get(thread.ident or -1)
            if thread.name.startswith("messai-job") and frame is not None:
                stack = traceback.format_stack(frame, limit=STACK_LIMIT)
                lines.append(f"  thread {thread.name}:\n" + "".join(stack).rstrip())
        return "\n".join(lines)


def _task_stack(task: asyncio.Task[None]) -> str:
    """The chain of awaits a suspended task is in, outermost first
    (``Task.get_stack`` shows only one frame of a suspended coroutine)."""
    lines: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(lines) < STACK_LIMIT:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        lines.append(f"\n    {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    if awaited is not None and lines:
        lines.append(f"\n    awaiting {awaited!r}"[:200])
    return "".join(lines) or " (no frames)"
