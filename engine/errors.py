"""Exceptions the engine raises. Each message is one line meant for people."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.job import Job


class EngineError(Exception):
    """Base class of every engine error."""


class InvalidJobError(EngineError, ValueError):
    """Job data or options were rejected; nothing was written."""


class JobNotFoundError(EngineError, LookupError):
    """No job with that id in that queue."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} in queue {queue!r}")
        self.queue = queue
        self.job_id = job_id


class QueueNotFoundError(EngineError, LookupError):
    """The queue is not in the registry."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"no queue named {queue!r}")
        self.queue = queue


class InvalidStateError(EngineError):
    """The job is not in a state that allows the operation."""


class LeaseLostError(EngineError):
    """This worker no longer holds the job's lease; another may run it now."""


class UnknownProcessorError(EngineError, LookupError):
    """A job names a processor that this worker's registry does not have."""


class RateLimitedError(EngineError):
    """Raised by a processor: try this job again after ``delay_ms``.

    The job goes back to ``delayed`` without spending an attempt (for a
    provider answering 429, say).
    """

    def __init__(self, delay_ms: int, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retrying in {delay_ms} ms")
        self.delay_ms = delay_ms


class UnrecoverableError(EngineError):
    """Raised by a processor: fail the job now, without further attempts."""


class JobTimeoutError(EngineError):
    """The job ran longer than its ``timeout_ms``."""


class JobCancelledError(EngineError):
    """The job was cancelled by an operator while it ran."""


class JobFailedError(EngineError):
    """Raised by ``Job.wait`` / ``Queue.wait_for``: the job failed (or was cancelled).

    ``job`` is the failed job, with its ``error`` and ``stack``."""

    def __init__(self, job: Job) -> None:
        how = "was cancelled" if job.cancelled else f"failed: {job.error or 'no error recorded'}"
        super().__init__(f"job {job.id} {how}")
        self.job = job


class WaitTimeoutError(EngineError, TimeoutError):
    """Raised by ``Job.wait`` / ``Queue.wait_for``: the job did not finish in time.

    ``job`` is the job as last read (still waiting, delayed or active)."""

    def __init__(self, job: Job, timeout_s: float) -> None:
        super().__init__(f"job {job.id} is still {job.state} after {timeout_s:g}s")
        self.job = job
        self.timeout_s = timeout_s
