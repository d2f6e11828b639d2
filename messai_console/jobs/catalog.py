"""The job catalog: every MESSAI job type, its payload model and its processor.

A job type is declared in one place::

    class ExtractPdf(Payload):
        paper_id: str

    @job_type(queue="paper-processing", name="extract_pdf", payload=ExtractPdf)
    def extract_pdf(task: Task[ExtractPdf]) -> dict[str, Any]:
        ...

The decorator registers it: producers' payloads are validated against the
model at enqueue (:func:`validate_job`), workers get the processor through
:meth:`Catalog.registry`, and the processor validates its payload again on
receipt, so a hand-made job with a bad payload fails at once with a clear
error instead of crashing halfway.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.context import JobContext
from engine.errors import InvalidJobError, UnrecoverableError
from engine.processors import ProcessorRegistry
from messai_console.jobs.queues import QUEUE_ORDER
from messai_console.jobs.runtime import Task, current_services
from messai_console.text import visible

DIAGNOSTIC_JOBS: tuple[str, ...] = ("noop", "sleep", "echo", "fail")
"""Engine diagnostics, valid on every queue without a payload model."""


class Payload(BaseModel):
    """Base of every payload model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")

    def job_options(self) -> dict[str, Any]:
        """Job options that follow from the payload (an email's priority, say)."""
        return {}


P = TypeVar("P", bound=Payload)
ProcessorFunction = Callable[[Task[Any]], Any] | Callable[[Task[Any]], Awaitable[Any]]


@dataclass(frozen=True)
class JobType:
    """One (queue, name) pair of the catalog."""

    queue: str
    name: str
    payload: type[Payload]
    function: ProcessorFunction
    is_async: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    """Default job options (attempts, backoff, priority, timeout) for producers."""
    description: str = ""


class Catalog:
    """Job types by queue and name."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], JobType] = {}

    def add(self, job: JobType) -> None:
        key = (job.queue, job.name)
        if job.name in DIAGNOSTIC_JOBS:
            raise ValueError(f"{job.name!r} is a diagnostic job name; choose another")
        existing = self._types.get(key)
        if existing is not None and existing.function is not job.function:
            raise ValueError(f"job type {job.queue}/{job.name} is already registered")
        self._types[key] = job

    def get(self, queue: str, name: str) -> JobType | None:
        return self._types.get((queue, name))

    def remove(self, queue: str, name: str) -> None:
        """Forget a job type (workers built before keep their processor)."""
        self._types.pop((queue, name), None)

    def queues(self) -> list[str]:
        present = {queue for queue, _ in self._types}
        ordered = [queue for queue in QUEUE_ORDER if queue in present]
        for queue, _ in self._types:
            if queue not in ordered:
                ordered.append(queue)
        return ordered

    def names(self, queue: str) -> list[str]:
        return [name for (q, name) in self._types if q == queue]

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def registry(self) -> ProcessorRegistry:
        """A processor for every job name; it dispatches on the job's queue."""
        registry = ProcessorRegistry()
        for _queue, name in self._types:
            registry.add(name, run_job)
        return registry


catalog = Catalog()


def job_type(
    *,
    queue: str,
    name: str,
    payload: type[P],
    options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[[Task[P]], Any]], Callable[[Task[P]], Any]]:
    """Register the decorated function as the processor of ``queue``/``name``.

    The function gets a :class:`Task` whose ``payload`` is a validated
    ``payload`` instance. Plain functions run in a thread, coroutine
    functions on the worker's loop. ``options`` are the default job options
    producers use (``{"attempts": 3, "priority": "low"}``).
    """

    def decorate(function: Callable[[Task[P]], Any]) -> Callable[[Task[P]], Any]:
        doc = inspect.getdoc(function) or ""
        catalog.add(
            JobType(
                queue=queue,
                name=name,
                payload=payload,
                function=function,
                is_async=inspect.iscoroutinefunction(function),
                options=dict(options or {}),
                description=doc.splitlines()[0] if doc else "",
            )
        )
        return function

    return decorate


# -- validation ---------------------------------------------------------------


def describe_errors(exc: ValidationError) -> str:
    """``field: problem; other.field: problem`` on one line."""
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "payload"
        message = str(error["msg"])
        message = message[:1].lower() + message[1:]
        problems.append(f"{location}: {message}")
    return visible("; ".join(problems), 1000)


def parse_payload(job: JobType, data: Any, error: type[Exception] = InvalidJobError) -> Payload:
    """``data`` as the job type's payload model, or ``error`` naming each bad field."""
    try:
        return job.payload.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise error(f"invalid payload for {job.queue}/{job.name}: {describe_errors(exc)}") from None


def _unknown(queue: str, name: str) -> str:
    known = ", ".join(catalog.names(queue))
    return (
        f"unknown job type {visible(name, 80)!r} for queue {queue!r}; "
        f"known: {known} (and the diagnostics {', '.join(DIAGNOSTIC_JOBS)})"
    )


def validate_job(queue: str, name: str, data: Any) -> Any:
    """The normalised payload of a job about to be added.

    Catalog job types are validated with their payload model; the
    diagnostics (noop, sleep, echo, fail) and queues outside the catalog
    pass unchanged. Raises :class:`engine.InvalidJobError` with one line
    naming each bad field, or the known job types for an unknown name.
    """
    if name in DIAGNOSTIC_JOBS or queue not in catalog.queues():
        return data
    job = catalog.get(queue, name)
    if job is None:
        raise InvalidJobError(_unknown(queue, name))
    return parse_payload(job, data).model_dump(mode="json", exclude_defaults=True)


def job_options(queue: str, name: str, data: Any) -> dict[str, Any]:
    """Default job options of a catalog job type, with those its payload implies."""
    job = catalog.get(queue, name)
    if job is None:
        return {}
    options = dict(job.options)
    with contextlib.suppress(ValidationError):  # validate_job reports it
        options.update(job.payload.model_validate({} if data is None else data).job_options())
    return options


# -- running ----------------------------------------------------------------


async def run_job(ctx: JobContext) -> Any:
    """The processor of every catalog job: validate, run, then enqueue follow-ups."""
    job = catalog.get(ctx.queue, ctx.name)
    if job is None:
        raise UnrecoverableError(_unknown(ctx.queue, ctx.name))
    payload = parse_payload(job, ctx.data, UnrecoverableError)
    task: Task[Any] = Task(payload=payload, context=ctx, services=current_services())
    if job.is_async:
        result = await job.function(task)
    else:
        result = await asyncio.to_thread(job.function, task)
    await task.send_follow_ups()
    return result
