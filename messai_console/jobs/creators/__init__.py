"""One-line producers for the catalog's jobs (async; ``creators.sync`` blocks).

Each validates the payload with its model (``engine.InvalidJobError`` naming
each bad field; nothing is enqueued), applies the job type's default options
(attempts, backoff, priority) and then the caller's keywords, which are
engine job options (``priority``, ``delay_ms``, ``attempts``, ``job_id``...)::

    job = await creators.process_paper("paper-123", "extract_pdf", priority=2)
    await creators.send_email("user@example.com", "welcome", {"name": "John Doe"})

Pass ``redis=`` (an asyncio client with decoded responses) to reuse a
connection, or ``url=``; without either each call connects to the configured
Redis (``REDIS_URL``, or ``REDIS_HOST``...). Producers never start an
embedded server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from engine.flows import JobChain
from engine.job import Job
from engine.queue import Queue
from messai_console.jobs.catalog import job_options, validate_job
from messai_console.jobs.creators import payloads
from messai_console.settings import settings

__all__ = [
    "EXPERIMENT_STEPS",
    "cleanup",
    "enqueue",
    "enqueue_chain",
    "experiment_pipeline",
    "export_data",
    "paper_pipeline",
    "process_experiment",
    "process_paper",
    "send_batch",
    "send_email",
    "sync",
    "train_model",
]

EXPERIMENT_STEPS = ("process_results", "calculate_metrics", "generate_report")


def _prepared(
    queue: str, name: str, data: Any, options: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    normalised = validate_job(queue, name, data)
    return normalised, {**job_options(queue, name, normalised), **options}


async def _with_client(redis: Redis | None, url: str | None, action: Any) -> Any:
    if redis is not None:
        return await action(redis)
    from engine.connection import connect

    client = connect(url)  # None: REDIS_URL or REDIS_HOST...; never an embedded server
    try:
        return await action(client)
    finally:
        await client.aclose()


async def enqueue(
    queue: str,
    name: str,
    data: Any,
    *,
    redis: Redis | None = None,
    url: str | None = None,
    prefix: str | None = None,
    **options: Any,
) -> Job:
    """Validate and add any catalog job; the other creators call this."""
    normalised, merged = _prepared(queue, name, data, options)
    prefix = prefix or settings().data.prefix

    async def add(client: Redis) -> Job:
        return await Queue(queue, client, prefix=prefix).add(name, normalised, merged)

    job: Job = await _with_client(redis, url, add)
    return job


async def enqueue_chain(
    steps: Sequence[payloads.JobSpec],
    *,
    redis: Redis | None = None,
    url: str | None = None,
    prefix: str | None = None,
    **options: Any,
) -> list[Job]:
    """Validate every step, then create them as one engine chain (all or none):
    each starts when the one before has completed; ``options`` apply to every step."""
    chain = JobChain(prefix=prefix or settings().data.prefix)
    for queue, name, data in steps:
        normalised, merged = _prepared(queue, name, data, options)
        chain.add(queue, name, normalised, merged)
    jobs: list[Job] = await _with_client(redis, url, chain.execute)
    return jobs


async def process_paper(
    paper_id: str, step: str = "extract_pdf", *, redis: Redis | None = None, **options: Any
) -> Job:
    """One paper-processing step: extract_pdf, analyze_content, generate_embeddings or
    extract_parameters."""
    return await enqueue(*payloads.paper(paper_id, step), redis=redis, **options)


async def paper_pipeline(
    paper_id: str,
    steps: Sequence[str] = ("extract_pdf", "analyze_content"),
    *,
    notify: str | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> list[Job]:
    """Paper steps as a chain, ending with a paper_processed email to ``notify``."""
    chain = [payloads.paper(paper_id, step) for step in steps]
    if notify:
        chain.append(payloads.email(notify, "paper_processed", {"paper_id": paper_id}, "normal"))
    return await enqueue_chain(chain, redis=redis, **options)


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
    redis: Redis | None = None,
    **options: Any,
) -> Job:
    """One experiment-data step: process_results, calculate_metrics or generate_report,
    done for ``user_id`` (who must own the experiment, or be an admin)."""
    return await enqueue(*payloads.experiment(experiment_id, step, user_id), redis=redis, **options)


async def experiment_pipeline(
    experiment_id: str,
    steps: Sequence[str] = EXPERIMENT_STEPS,
    *,
    user_id: str | None = None,
    notify: str | None = None,
    redis: Redis | None = None,
    **options: Any,
) -> list[Job]:
    """Experiment steps as a chain, ending with an experiment_complete email to ``notify``."""
    chain = [payloads.experiment(experiment_id, step, user_id) for step in steps]
    if notify:
        chain.append(
            payloads.email(
                notify, "experiment_complete", {"experiment_id": experiment_id}, "normal"
            )
        )
    return await enqueue_chain(chain, redis=redis, **options)


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


# Last: the blocking forms are built from the functions above.
from messai_console.jobs.creators import sync as sync  # noqa: E402
