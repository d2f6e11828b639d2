"""A job as read back from Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.codec import loads
from engine.errors import InvalidStateError
from engine.jobhash import JobField, long_value, stamp_ms
from engine.options import DEFAULT_OPTIONS, DEFAULT_PRIORITY, JobOptions

if TYPE_CHECKING:
    from engine.queue import Queue


@dataclass
class Job:
    """A snapshot of one job: its definition, state and run history."""

    id: str
    queue: str
    name: str
    data: Any
    state: str
    options: JobOptions = field(default_factory=JobOptions)
    attempts_made: int = 0
    stalls: int = 0
    manual_retries: int = 0
    progress: Any = None
    result: Any = None
    error: str | None = None
    stack: str | None = None
    created_ms: int = 0
    started_ms: int | None = None
    finished_ms: int | None = None
    run_time_ms: int | None = None
    worker: str | None = None
    cancelled: bool = False
    cancel_requested: bool = False
    deduplicated: bool = field(default=False, compare=False)
    """Set on the job that :meth:`Queue.add` returns instead of adding one
    whose dedup id this job holds."""
    _queue: Queue | None = field(default=None, init=False, repr=False, compare=False)
    """The queue it was added to or read from: what :meth:`wait` reads."""

    @classmethod
    def from_hash(cls, queue: str, job_id: str, state: str, fields: dict[str, str]) -> Job:
        """The job from its stored hash (fields as :class:`JobField` names them)."""
        stored_options = loads(long_value(fields, JobField.OPTIONS))
        options = JobOptions.model_validate(stored_options) if stored_options else DEFAULT_OPTIONS
        priority = int(fields.get(JobField.PRIORITY, DEFAULT_PRIORITY))
        if priority != options.priority:  # changed since it was added (Queue.change_priority)
            options = options.model_copy(update={"priority": priority})
        finished = fields.get(JobField.FINISHED)
        started = fields.get(JobField.STARTED)
        run_time = fields.get(JobField.RUN_TIME)
        return cls(
            id=job_id,
            queue=queue,
            name=fields.get(JobField.NAME, ""),
            data=loads(long_value(fields, JobField.DATA)),
            state=state,
            options=options,
            attempts_made=int(fields.get(JobField.ATTEMPTS, 0)),
            stalls=int(fields.get(JobField.STALLS, 0)),
            manual_retries=int(fields.get(JobField.MANUAL_RETRIES, 0)),
            progress=loads(fields.get(JobField.PROGRESS)),
            result=loads(fields.get(JobField.RESULT)),
            error=fields.get(JobField.ERROR),
            stack=fields.get(JobField.STACK) or None,
            created_ms=int(stamp_ms(fields.get(JobField.CREATED)) or 0),
            started_ms=int(float(started)) if started is not None else None,
            finished_ms=int(finished) if finished else None,
            run_time_ms=int(run_time) if run_time is not None else None,
            worker=fields.get(JobField.WORKER),
            cancelled=state == "failed" and JobField.CANCELLED in fields,
            cancel_requested=state == "active" and JobField.CANCELLED in fields,
        )

    def bind(self, queue: Queue) -> Job:
        """Remember the queue it belongs to (for :meth:`wait`); returns the job."""
        self._queue = queue
        return self

    async def wait(self, timeout: float | None = None) -> Job:  # noqa: ASYNC109 - see Queue.wait_for
        """Wait until the job completes; returns it as it finished (result included).

        Waits on the queue's event stream, not by polling. Raises
        ``JobFailedError`` (its ``job`` has the error) when the job failed or
        was cancelled, ``WaitTimeoutError`` (a ``TimeoutError``) when
        ``timeout`` seconds passed first, ``JobNotFoundError`` when the job
        is gone. The job must come from a Queue (``add``, ``get_job``...).
        """
        if self._queue is None:
            raise InvalidStateError(
                f"job {self.id} was not read through a Queue; use Queue.wait_for(job_id)"
            )
        return await self._queue.wait_for(self.id, timeout)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the CLI's ``--json`` shape)."""
        return {
            "id": self.id,
            "queue": self.queue,
            "name": self.name,
            "state": self.state,
            "data": self.data,
            "options": self.options.model_dump(exclude_defaults=True),
            "attempts_made": self.attempts_made,
            "stalls": self.stalls,
            "manual_retries": self.manual_retries,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "stack": self.stack,
            "created_ms": self.created_ms,
            "started_ms": self.started_ms,
            "finished_ms": self.finished_ms,
            "run_time_ms": self.run_time_ms,
            "worker": self.worker,
            "cancelled": self.cancelled,
        }
