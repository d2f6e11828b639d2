"""Telling the worker's owner what became of each job.

The worker calls :class:`Reporter` when a job starts and when Redis has
recorded (or refused) its outcome; the reporter counts the jobs done and
failed (the worker registry shows them) and calls the optional listener,
whose exceptions are logged and ignored: a listener never stops a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from engine.contracts.worker import OutcomeKind
from engine.worker.faults import FailureLog
from engine.worker.slots import Outcome, RunningJob

log = logging.getLogger("engine.worker")

JobListener = Callable[[str, RunningJob, dict[str, Any]], None]
"""Called as ``listener(event, job, details)`` on every state change this worker causes."""

EVENTS = {
    OutcomeKind.COMPLETED: "completed",
    OutcomeKind.FAILED: "failed",
    OutcomeKind.RETRY: "retrying",
    OutcomeKind.CANCELLED: "cancelled",
    OutcomeKind.HANDED_BACK: "handed-back",
    OutcomeKind.RATE_LIMITED: "rate-limited",
}
"""The listener's event for each outcome."""
WITH_ERROR = (OutcomeKind.FAILED, OutcomeKind.RETRY, OutcomeKind.CANCELLED)


class Reporter:
    """Counts what this worker finished and tells its listener."""

    def __init__(self, worker_id: str, listener: JobListener | None) -> None:
        self.listener = listener
        self.done = 0
        self.failed = 0
        self._failures = FailureLog(worker_id, "listener")

    def started(self, job: RunningJob) -> None:
        if self.listener:
            self._tell("active", job, {"attempt": job.attempt})

    def reported(self, outcome: Outcome, lost: bool) -> None:
        """Redis recorded ``outcome`` (or refused it: ``lost``, the lease was gone)."""
        kind = outcome.kind
        if lost:
            log.warning(
                "job %s/%s: lease lost before its outcome was recorded (another worker may have run it)",
                outcome.job.queue.name,
                outcome.job.job_id,
            )
        elif kind is OutcomeKind.COMPLETED:
            self.done += 1
        elif kind is OutcomeKind.FAILED or kind is OutcomeKind.CANCELLED:
            self.failed += 1
        if self.listener:
            args = outcome.args
            details: dict[str, Any] = {"runtime_ms": args.runtime_ms, "lost": lost}
            if kind in WITH_ERROR:
                details["error"] = args.value
            if args.delay_ms:
                details["delay_ms"] = args.delay_ms
            self._tell(EVENTS[kind], outcome.job, details)

    def _tell(self, event: str, job: RunningJob, details: dict[str, Any]) -> None:
        """Call the listener; what it raises is logged and ignored."""
        assert self.listener is not None
        try:
            self.listener(event, job, details)
        except Exception as exc:
            self._failures.failed(exc)
