"""``/api/jobs``: the old platform's endpoints, same paths and parameters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from redis.asyncio import Redis

from engine.errors import QueueNotFoundError
from engine.keys import STATES, validate_queue_name
from engine.monitor import all_queue_stats
from engine.queue import Queue, list_queues
from messai_console.api.auth import Principal
from messai_console.api.job_types import JobRequestError, prepare
from messai_console.api.models import (
    ErrorModel,
    JobAction,
    JobActionResult,
    JobDetail,
    JobModel,
    JobPage,
    NewJob,
    Overview,
    Performance,
    QueueAction,
    QueueActionResult,
    QueueStatsModel,
    QueueSummary,
)
from messai_console.api.security import require
from messai_console.cli.monitor.overview import gather_overview
from messai_console.cli.monitor.performance import gather_performance

MAX_LIMIT = 1000

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorModel, "description": "No token, or a token that is not known."},
    403: {"model": ErrorModel, "description": "The token lacks the scope this needs."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorModel, "description": "No such queue or job."}
}


def redis_of(request: Request) -> Redis:
    client: Redis = request.app.state.redis
    return client


def prefix_of(request: Request) -> str:
    prefix: str = request.app.state.prefix
    return prefix


async def existing_queue(request: Request, queue: str) -> Queue:
    """The queue named in the path; 404 when it is not in the registry (nothing created)."""
    try:
        validate_queue_name(queue)
    except ValueError:
        raise QueueNotFoundError(queue) from None
    target = Queue(queue, redis_of(request), prefix=prefix_of(request))
    await target.require_exists()
    return target


Reader = Annotated[Principal, Depends(require("read"))]
Enqueuer = Annotated[Principal, Depends(require("enqueue"))]
Operator = Annotated[Principal, Depends(require("operate"))]


@router.get(
    "",
    response_model=Overview | list[QueueSummary] | Performance,
    responses=ERRORS,
    summary="Overview, queues or performance",
)
async def jobs_root(
    request: Request,
    _who: Reader,
    view: Annotated[
        Literal["overview", "queues", "performance"],
        Query(description="overview: totals; queues: every queue; performance: run figures."),
    ] = "overview",
    time_range: Annotated[
        Literal["hour", "day", "week"],
        Query(alias="timeRange", description="For view=performance: how far back."),
    ] = "hour",
) -> Any:
    """Totals over every queue with workers and Redis (`overview`), each queue's counts
    (`queues`), or finished jobs, throughput and run times (`performance`)."""
    redis, prefix = redis_of(request), prefix_of(request)
    if view == "overview":
        return await gather_overview(redis, prefix, request.app.state.url)
    if view == "queues":
        stats = await all_queue_stats(redis, prefix)
        return [{"name": name, **values} for name, values in sorted(stats.items())]
    return await gather_performance(redis, prefix, await list_queues(redis, prefix), time_range)


@router.get(
    "/{queue}",
    response_model=JobPage | QueueStatsModel,
    responses={**ERRORS, **NOT_FOUND},
    summary="A page of one queue's jobs",
)
async def queue_jobs(
    request: Request,
    queue: str,
    _who: Reader,
    view: Annotated[
        Literal["jobs", "stats"],
        Query(description="jobs: a page of jobs in one state; stats: counts and paused."),
    ] = "jobs",
    status: Annotated[
        Literal["waiting", "active", "delayed", "completed", "failed", "pending"],
        Query(description="The state to list."),
    ] = "waiting",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Jobs at most.")] = 20,
    offset: Annotated[int, Query(ge=0, description="Jobs to skip first.")] = 0,
) -> Any:
    """Jobs in one state, paged on the server (waiting in run order, delayed by due
    time, finished newest first), or with `view=stats` the queue's counts."""
    target = await existing_queue(request, queue)
    if view == "stats":
        return await target.stats()
    assert status in STATES
    total = (await target.counts())[status]
    jobs = await target.get_jobs(status, offset, offset + limit - 1)
    return {
        "queue": queue,
        "status": status,
        "total": total,
        "offset": offset,
        "limit": limit,
        "jobs": [job.to_dict() for job in jobs],
    }


@router.get(
    "/{queue}/{job_id}",
    response_model=JobDetail,
    responses={**ERRORS, **NOT_FOUND},
    summary="One job, with its logs",
)
async def job_detail(request: Request, queue: str, job_id: str, _who: Reader) -> Any:
    """The job's state, data, attempts, progress, result or error, and its log lines."""
    target = await existing_queue(request, queue)
    job = await target.require_job(job_id)
    return {**job.to_dict(), "logs": await target.get_logs(job_id)}


@router.post(
    "",
    status_code=201,
    response_model=JobModel,
    responses={
        **ERRORS,
        422: {"model": ErrorModel, "description": "One entry per bad field; nothing written."},
    },
    summary="Add a job of the catalog",
)
async def add_job(request: Request, body: NewJob, _who: Enqueuer) -> Any:
    """Validate the payload with the job type's model and the options with the engine's,
    then add the job. An existing `options.job_id` returns that job."""
    try:
        prepared = prepare(body.type, body.data, body.options)
    except JobRequestError as exc:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError(exc.problems) from None
    target = Queue(prepared.queue, redis_of(request), prefix=prefix_of(request))
    job = await target.add(prepared.name, prepared.data, prepared.options)
    return job.to_dict()


@router.post(
    "/{queue}",
    response_model=QueueActionResult,
    responses={**ERRORS, **NOT_FOUND},
    summary="Pause, resume or drain a queue",
)
async def queue_action(request: Request, queue: str, body: QueueAction, _who: Operator) -> Any:
    """`pause` stops job starts (running jobs finish), `resume` restarts them, `drain`
    removes every waiting and delayed job."""
    target = await existing_queue(request, queue)
    if body.action == "pause":
        await target.pause()
        return {"queue": queue, "action": "pause"}
    if body.action == "resume":
        await target.resume()
        return {"queue": queue, "action": "resume"}
    return {"queue": queue, "action": "drain", "removed": await target.drain()}


@router.post(
    "/{queue}/{job_id}",
    response_model=JobActionResult,
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {"model": ErrorModel, "description": "The job is not in a state for this."},
    },
    summary="Retry, cancel, remove or promote a job",
)
async def job_action(
    request: Request, queue: str, job_id: str, body: JobAction, _who: Operator
) -> Any:
    """`retry` a failed job, `cancel` (a job not started is removed; a running one is
    stopped by its worker), `remove` a job that is not running, `promote` a delayed one."""
    target = await existing_queue(request, queue)
    outcome: str
    if body.action == "retry":
        await target.retry_job(job_id)
        outcome = "retried"
    elif body.action == "cancel":
        outcome = await target.cancel(job_id)
    elif body.action == "remove":
        outcome = await target.remove(job_id)
    else:
        await target.promote(job_id)
        outcome = "promoted"
    return {"queue": queue, "id": job_id, "action": body.action, "outcome": outcome}
