"""One-line producers for the catalog's jobs (async; ``creators.sync`` blocks).

Each validates the payload with its model (``engine.InvalidJobError`` naming
each bad field; nothing is enqueued), applies the job type's default options
(attempts, backoff, priority) and then the caller's keywords, which are
engine job options (``priority``, ``delay_ms``, ``attempts``, ``job_id``...)::

    job = await creators.process_paper("paper-123", "extract_pdf", priority=2)
    await creators.send_email("user@example.com", "welcome", {"name": "John Doe"})

Pass ``redis=`` (an asyncio client with decoded responses) to reuse a
connection; without it each call connects to the configured Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from engine.job import Job
from engine.queue import Queue
from engine.settings import RedisSettings
from messai_console.jobs.catalog import job_options, validate_job
from messai_console.jobs.creators import payloads
from messai_console.jobs.creators import sync as sync

__all__ = [
    "cleanup",
    "enqueue",
    "export_data",
    "process_experiment",
    "process_paper",
    "send_batch",
    "send_email",
    "sync",
    "train_model",
]


async def enqueue(
    queue: str,
    name: str,
    data: Any,
    *,
    redis: Redis | None = None,
    prefix: str | None = None,
    **options: Any,
) -> Job:
    """Validate and add any catalog job; the other creators call this."""
    normalised = validate_job(queue, name, data)
    merged = {**job_options(queue, name, normalised), **options}
    prefix = prefix or RedisSettings().messai_prefix
    if redis is not None:
        return await Queue(queue, redis, prefix=prefix).add(name, normalised, merged)
    from engine.connection import connect, resolve_redis_url

    client = connect(resolve_redis_url())
    try:
        return await Queue(queue, client, prefix=prefix).add(name, normalised, merged)
    finally:
        await client.aclose()


async def process_paper(
    paper_id: str,
    step: str = "extract_pdf",
    *,
    then: Sequence[str] = (),
    notify: str | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """A paper-processing step (extract_pdf, analyze_content, generate_embeddings,
    extract_parameters), optionally followed by others and an email."""
    return await enqueue(*payloads.paper(paper_id, step, then, notify), redis=redis, **options)


async def send_email(
    to: str,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    priority: str = "normal",
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """An email from a template (welcome, experiment_complete, paper_processed,
    error_notification, export_ready, report); ``priority`` is high, normal or low."""
    return await enqueue(*payloads.email(to, template, context, priority), redis=redis, **options)


async def send_batch(
    template: str,
    recipients: Sequence[str | Mapping[str, Any]],
    context: Mapping[str, Any] | None = None,
    *,
    rate_per_second: float | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """One template to many recipients over one connection, rate limited."""
    data = payloads.batch(template, recipients, context, rate_per_second)
    return await enqueue(*data, redis=redis, **options)


async def process_experiment(
    experiment_id: str,
    step: str = "process_results",
    *,
    user_id: str | None = None,
    then: Sequence[str] = (),
    notify: str | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """An experiment-data step (process_results, calculate_metrics, generate_report)."""
    data = payloads.experiment(experiment_id, step, user_id, then, notify)
    return await enqueue(*data, redis=redis, **options)


async def export_data(
    kind: str,
    format: str = "json",
    *,
    email_to: str | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """An export (papers, experiments, parameters, full_backup) as json, csv or excel."""
    return await enqueue(*payloads.export(kind, format, email_to), redis=redis, **options)


async def train_model(
    kind: str,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """Train a model (prediction, classification, parameter_extraction); low priority."""
    return await enqueue(*payloads.training(kind, hyperparameters), redis=redis, **options)


async def cleanup(
    task: str,
    settings: Mapping[str, Any] | None = None,
    *,
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """A cleanup (remove_orphaned_files, clean_temp_data, archive_old_data, optimize_indexes)."""
    return await enqueue(*payloads.cleanup(task, settings), redis=redis, **options)
