"""How a worker stops: the grace period, the timeout, and the signals.

The first stop request (or SIGTERM/SIGINT) stops fetching; prefetched jobs
that never started go back to ``waiting`` at once. Running jobs may finish
until the grace period ends. Then async jobs are cancelled and handed back
without spending an attempt; a thread job cannot be stopped, so it is only
asked to (``context.cancelled``) and keeps its lease, heartbeated, until its
thread ends: no other worker runs it meanwhile. At the timeout the worker
leaves anyway; the leases it still holds run out and another worker's sweep
recovers those jobs. A second signal exits the process at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable

from engine.worker.runner import JobRunner
from engine.worker.slots import Slots

log = logging.getLogger("engine.worker")


class Shutdown:
    """The stop of one worker, from the request to the main loop's end."""

    def __init__(
        self,
        *,
        worker_id: str,
        grace_ms: int,
        timeout_ms: int,
        slots: Slots,
        runner: JobRunner,
        changed: Callable[[], None],
    ) -> None:
        self.worker_id = worker_id
        self.grace_ms = grace_ms
        self.timeout_ms = timeout_ms
        self._slots = slots
        self._runner = runner
        self._changed = changed
        self.requested = False
        self._grace_deadline = 0.0
        """Monotonic: the end of the grace period."""
        self._exit_deadline = 0.0
        """Monotonic: the end of the shutdown timeout."""
        self._grace_over = False
        self.threads_left = 0
        """Thread jobs still running when the worker left at the timeout."""
        self._signals = 0

    @property
    def grace_over(self) -> bool:
        """The grace period ended: running jobs were handed back or asked to stop."""
        return self._grace_over

    def request(self) -> bool:
        """Start the stop; False when it had started already."""
        self._changed()
        if self.requested:
            return False
        self.requested = True
        now = time.monotonic()
        self._grace_deadline = now + self.grace_ms / 1000
        self._exit_deadline = now + self.timeout_ms / 1000
        log.info("worker %s stopping: %d jobs running", self.worker_id, self._slots.active)
        # prefetched jobs that never started go back to waiting at once
        self._slots.hand_back_buffered()
        return True

    def install_signal_handlers(self, request_stop: Callable[[], None]) -> None:
        """First SIGTERM/SIGINT: ``request_stop``. Second: exit at once."""
        loop = asyncio.get_running_loop()

        def handle(signum: int) -> None:
            self._signals += 1
            if self._signals == 1:
                log.warning(
                    "received %s: finishing running jobs (up to %d ms); send again to exit at once",
                    signal.Signals(signum).name,
                    self.grace_ms,
                )
                request_stop()
            else:
                log.warning("received %s again: exiting now", signal.Signals(signum).name)
                logging.shutdown()
                os._exit(130)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, handle, signum)

    def loop_ends(self) -> bool:
        """Whether the main loop ends now: nothing is held, or the timeout is
        reached. Past the grace period, running jobs are handed back first."""
        slots = self._slots
        if slots.idle:
            return True
        now = time.monotonic()
        if not self._grace_over and now >= self._grace_deadline:
            self._grace_over = True
            self._hand_back_running()
        if now >= self._exit_deadline:
            self.threads_left = self._runner.threads_running(slots)
            log.warning(
                "worker %s: shutdown timeout (%d ms) reached with %d jobs held, %d outcomes"
                " unreported, %d threads still running: leaving; their leases run out and"
                " the sweep of another worker recovers them",
                self.worker_id,
                self.timeout_ms,
                slots.held_count,
                slots.outcome_count,
                self.threads_left,
            )
            return True
        return False

    def wait_s(self) -> float:
        """How long the main loop may wait before it looks at the stop again."""
        if not self._slots.held_count and not self._slots.in_flight:
            return 0.0
        deadline = self._exit_deadline if self._grace_over else self._grace_deadline
        return max(0.0, min(deadline - time.monotonic(), 1.0))

    def _hand_back_running(self) -> None:
        """The grace period is over: running async jobs are cancelled and go
        back to waiting; thread jobs are asked to stop (``context.cancelled``)
        but keep their leases until their threads end."""
        threads = 0
        for job in self._slots.held():
            if job.task and not job.task.done() and job.stop_reason is None:
                if job.in_thread:
                    job.shutdown_asked = True
                    job.context.cancelled.set()
                    threads += 1
                else:
                    self._runner.stop(job, "shutdown")
        if threads:
            log.warning(
                "worker %s: grace period over; %d thread jobs cannot be stopped: their leases"
                " are kept until they end (at most %d ms after the stop request)",
                self.worker_id,
                threads,
                self.timeout_ms,
            )
