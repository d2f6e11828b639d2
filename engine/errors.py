"""Exceptions the engine raises. Each message is one line meant for people."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

if TYPE_CHECKING:
    from engine.job import Job


class EngineError(Exception):
    """Base class of every engine error."""


class InvalidJobError(EngineError, ValueError):
    """Job data or options were rejected; nothing was written."""


class BulkAddError(EngineError):
    """``add_bulk`` stopped at a chunk that failed; says exactly what was written.

    Every job before ``failed_from`` was added (or existed: a ``job_id`` seen
    before), their ids in order in ``added_ids``. Of the jobs from
    ``failed_from`` on, exactly those in ``also_added`` (input index: id) were
    added: chunks sent in the same round trip as the failed one, which Redis
    ran after refusing it. No other job was sent after the failure. When
    ``definite`` is False the connection was lost with chunks in flight: the
    jobs from ``failed_from`` on, but those of ``also_added``, may or may not
    exist (retry them with job ids to be sure not to add one twice).
    """

    def __init__(
        self,
        cause: BaseException,
        added_ids: list[str],
        failed_from: int,
        also_added: dict[int, str],
        *,
        definite: bool = True,
    ) -> None:
        extra = f" (and {len(also_added)} later ones)" if also_added else ""
        outcome = "not added" if definite else "of unknown outcome"
        super().__init__(
            f"added {len(added_ids)} jobs{extra}; jobs from #{failed_from} on are {outcome}: "
            f"{str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__}"
        )
        self.cause = cause
        self.added_ids = added_ids
        self.failed_from = failed_from
        self.also_added = also_added
        self.definite = definite


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


class WorkerNotFoundError(EngineError, LookupError):
    """No live worker with that id in the registry of workers."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(f"no live worker {worker_id!r} in the registry of workers")
        self.worker_id = worker_id


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


def describe_refusal(error: ResponseError) -> str:
    """One line for people on why Redis refused a command (``error``): out of
    memory, a read-only replica, a server still loading or busy; otherwise
    Redis's own first line."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    upper = first.upper()
    if isinstance(error, OutOfMemoryError) or upper.startswith("OOM ") or "MAXMEMORY" in upper:
        return (
            "Redis is out of memory (maxmemory reached) and refuses writes; reads still work: "
            "free memory (queue drain, queue clean, job remove) or raise maxmemory"
        )
    if isinstance(error, ReadOnlyError) or upper.startswith("READONLY") or "READ ONLY" in upper:
        return "Redis is a read-only replica: reads work, changes must go to its primary"
    if upper.startswith("LOADING"):
        return "Redis is loading its data set into memory; try again when it is done"
    if upper.startswith("BUSY"):
        return f"Redis is busy running a script: {first}"
    if upper.startswith("MASTERDOWN"):
        return "the replica lost its link to the primary and serves no stale data"
    return f"Redis refused the command: {first}"
