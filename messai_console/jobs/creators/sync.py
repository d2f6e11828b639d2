"""The creators in blocking form, for scripts and synchronous web apps::

    from messai_console.jobs import creators
    job = creators.sync.process_paper("paper-123", "extract_pdf", priority=2)

Queues are opened on first use (one :class:`engine.sync.SyncQueue` per queue
and Redis URL) and kept until :func:`close` or the end of the process; the
pipelines (engine chains) connect for each call. Call them from plain code,
not from inside a running event loop (use the async creators there).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from engine.job import Job
from engine.settings import RedisSettings
from engine.sync import SyncQueue
from messai_console.jobs.catalog import job_options, validate_job
from messai_console.jobs.creators import payloads

_queues: dict[tuple[str, str | None, str], SyncQueue] = {}
_lock = threading.Lock()


def _queue(name: str, url: str | None, prefix: str) -> SyncQueue:
    with _lock:
        key = (name, url, prefix)
        if key not in _queues:
            _queues[key] = SyncQueue(name, url, prefix=prefix)
        return _queues[key]


def close() -> None:
    """Close every queue opened by the sync creators."""
    with _lock:
        queues = list(_queues.values())
        _queues.clear()
    for queue in queues:
        queue.close()


atexit.register(close)


def enqueue(
    queue: str,
    name: str,
    data: Any,
    *,
    url: str | None = None,
    prefix: str | None = None,
    **options: Any,
) -> Job:
    normalised = validate_job(queue, name, data)
    merged = {**job_options(queue, name, normalised), **options}
    return _queue(queue, url, prefix or RedisSettings().messai_prefix).add(name, normalised, merged)


def process_paper(
    paper_id: str, step: str = "extract_pdf", *, url: str | None = None, **options: Any
) -> Job:
    return enqueue(*payloads.paper(paper_id, step), url=url, **options)


def paper_pipeline(
    paper_id: str,
    steps: Sequence[str] = ("extract_pdf", "analyze_content"),
    *,
    notify: str | None = None,
    url: str | None = None,
    **options: Any,
) -> list[Job]:
    from messai_console.jobs import creators

    return asyncio.run(creators.paper_pipeline(paper_id, steps, notify=notify, url=url, **options))


def send_email(
    to: str,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    priority: str = "normal",
    url: str | None = None,
    **options: Any,
) -> Job:
    return enqueue(*payloads.email(to, template, context, priority), url=url, **options)


def send_batch(
    template: str,
    recipients: Sequence[str | Mapping[str, Any]],
    context: Mapping[str, Any] | None = None,
    *,
    rate_per_second: float | None = None,
    url: str | None = None,
    **options: Any,
) -> Job:
    return enqueue(
        *payloads.batch(template, recipients, context, rate_per_second), url=url, **options
    )


def process_experiment(
    experiment_id: str,
    step: str = "process_results",
    *,
    user_id: str | None = None,
    url: str | None = None,
    **options: Any,
) -> Job:
    return enqueue(*payloads.experiment(experiment_id, step, user_id), url=url, **options)


def experiment_pipeline(
    experiment_id: str,
    steps: Sequence[str] = ("process_results", "calculate_metrics", "generate_report"),
    *,
    user_id: str | None = None,
    notify: str | None = None,
    url: str | None = None,
    **options: Any,
) -> list[Job]:
    from messai_console.jobs import creators

    return asyncio.run(
        creators.experiment_pipeline(
            experiment_id, steps, user_id=user_id, notify=notify, url=url, **options
        )
    )


def export_data(
    kind: str,
    format: str = "json",
    *,
    email_to: str | None = None,
    url: str | None = None,
    **options: Any,
) -> Job:
    return enqueue(*payloads.export(kind, format, email_to), url=url, **options)


def train_model(
    kind: str,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    **options: Any,
) -> Job:
    return enqueue(*payloads.training(kind, hyperparameters), url=url, **options)


def cleanup(
    task: str, settings: Mapping[str, Any] | None = None, *, url: str | None = None, **options: Any
) -> Job:
    return enqueue(*payloads.cleanup(task, settings), url=url, **options)
