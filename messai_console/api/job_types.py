"""``POST /api/jobs``'s ``type``: which catalog job it names, and its payload checked.

Every problem is reported like FastAPI's own 422 entries (``loc``, ``msg``,
``type``), one per bad field, so a client fixes its request in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from engine.options import JobOptions
from messai_console.api.models import JobTypeRef
from messai_console.jobs.catalog import DIAGNOSTIC_JOBS, catalog, job_options

SHORT_QUEUE_NAMES: dict[str, str] = {
    "paper": "paper-processing",
    "experiment": "experiment-data",
    "email": "email-notifications",
    "export": "data-export",
    "ml": "ml-training",
    "cleanup": "database-cleanup",
    "scheduled": "scheduled-tasks",
}
"""The platform's short names (``email.welcome``); a queue's full name works too."""

Problem = dict[str, Any]


class JobRequestError(Exception):
    """The request names no known job type or its payload or options are invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem["msg"]) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class PreparedJob:
    queue: str
    name: str
    data: Any
    options: JobOptions


def resolve_type(job_type: str | JobTypeRef) -> tuple[str, str]:
    """(queue, name) of a catalog job type, or JobRequestError naming the known ones."""
    if isinstance(job_type, JobTypeRef):
        queue, name = job_type.queue, job_type.name
    else:
        prefix, dot, name = job_type.rpartition(".")
        if not dot or not prefix or not name:
            raise JobRequestError(
                [_problem(("body", "type"), "expected queue.name, e.g. paper.extract_pdf")]
            )
        queue = SHORT_QUEUE_NAMES.get(prefix, prefix)
    if queue not in catalog.queues():
        known = ", ".join(sorted({*SHORT_QUEUE_NAMES, *catalog.queues()}))
        raise JobRequestError(
            [_problem(("body", "type"), f"unknown queue {queue!r}; known: {known}")]
        )
    if name not in DIAGNOSTIC_JOBS and catalog.get(queue, name) is None:
        known = ", ".join([*catalog.names(queue), *DIAGNOSTIC_JOBS])
        raise JobRequestError(
            [_problem(("body", "type"), f"unknown job type {name!r} on {queue}; known: {known}")]
        )
    return queue, name


def prepare(job_type: str | JobTypeRef, data: Any, options: dict[str, Any] | None) -> PreparedJob:
    """Everything checked (type, every payload field, every option) before any write."""
    queue, name = resolve_type(job_type)
    problems: list[Problem] = []
    payload = data
    definition = catalog.get(queue, name)
    if definition is not None:
        try:
            model = definition.payload.model_validate({} if data is None else data)
            payload = model.model_dump(mode="json", exclude_defaults=True)
        except ValidationError as exc:
            problems.extend(_problems(exc, ("body", "data")))
    merged = {**job_options(queue, name, payload), **(options or {})}
    parsed: JobOptions | None = None
    try:
        parsed = JobOptions.model_validate(merged)
    except ValidationError as exc:
        problems.extend(_problems(exc, ("body", "options")))
    if problems or parsed is None:
        raise JobRequestError(problems)
    return PreparedJob(queue, name, payload, parsed)


def _problem(loc: tuple[str, ...], msg: str, kind: str = "value_error") -> Problem:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _problems(exc: ValidationError, prefix: tuple[str, ...]) -> list[Problem]:
    return [
        {
            "loc": [*prefix, *(str(part) for part in error["loc"])],
            "msg": str(error["msg"]),
            "type": str(error["type"]),
        }
        for error in exc.errors(include_url=False)
    ]
