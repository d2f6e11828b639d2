"""The API's request and response shapes, documented field by field (they make /docs).

Response shapes are the CLI's ``--json`` shapes (README, "JSON output"):
keys may be added, never renamed or removed. Times are epoch milliseconds
from Redis's clock.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _field(description: str, **kwargs: Any) -> Any:
    return Field(description=description, **kwargs)


class QueueCountsModel(BaseModel):
    waiting: int = _field("Jobs ready to run (both the priority set and the list).")
    active: int = _field("Jobs leased by a worker and running.")
    delayed: int = _field("Jobs waiting for their due time (delays and retry backoff).")
    completed: int = _field("Completed jobs still kept by retention.")
    failed: int = _field("Jobs failed for good (or cancelled) still kept by retention.")
    pending: int = _field("Jobs waiting for the jobs they depend on (chains, flows).")


class QueueStatsModel(QueueCountsModel):
    paused: bool = _field("Whether job starts are paused (running jobs finish).")


class QueueSummary(QueueStatsModel):
    name: str = _field("The queue's name.")


class WorkersSummary(BaseModel):
    online: int = _field("Workers that beat within three heartbeat intervals.")
    silent: int = _field("Workers registered but silent for longer: gone or stuck.")
    running: int = _field("Jobs running on the online workers.")
    concurrency: int = _field("Job slots of the online workers.")


class RedisSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: str = _field("The Redis the server uses, password masked.")
    version: str = _field("Redis server version.")
    mode: str = _field("standalone, sentinel or cluster.")
    uptime_s: int = _field("Seconds since the Redis server started.")
    used_memory: int = _field("Bytes of memory Redis uses.")
    used_memory_human: str = _field("The same, for people.")
    maxmemory: int = _field("Memory limit in bytes (0: none).")
    connected_clients: int = _field("Client connections.")
    ops_per_sec: int = _field("Commands per second, as Redis measures it.")
    persistence: str = _field("none, rdb, or aof (fsync policy).")
    maxmemory_policy: str = _field("Eviction policy; noeviction keeps jobs safe.")
    warnings: list[str] = _field("Settings that put jobs at risk.")


class Overview(BaseModel):
    """``view=overview``: totals over every queue, workers and the Redis server."""

    queues: int = _field("Queues in the registry.")
    paused_queues: int = _field("How many of them are paused.")
    jobs: QueueCountsModel = _field("Jobs per state over every queue.")
    workers: WorkersSummary = _field("Worker processes.")
    redis: RedisSummary = _field("The Redis server's health.")


class PerformanceRow(BaseModel):
    queue: str | None = _field("The queue (absent in the total).", default=None)
    completed: int = _field("Jobs completed in the range (per-minute metrics).")
    failed: int = _field("Jobs failed for good in the range.")
    throughput_per_min: float = _field("Finished jobs (completed + failed) per minute.")
    mean_run_time_ms: float | None = _field("Mean run time; null when none finished.")
    p95_run_time_ms: int | None = _field("95th percentile run time of the kept finished jobs.")
    p95_sample: int = _field("How many kept jobs the p95 is based on.")


class PerformancePoint(BaseModel):
    minute: int = _field("Start of the minute.")
    completed: int = _field("Jobs completed in that minute.")
    failed: int = _field("Jobs failed for good in that minute.")
    run_time_ms: int = _field("Summed run time of the jobs finished in that minute.")


class Performance(BaseModel):
    """``view=performance``: finished jobs, throughput and run times over a range."""

    range: Literal["hour", "day", "week"] = _field("The time range asked for.")
    minutes: int = _field("Minutes in the range.")
    since_ms: int = _field("Start of the range.")
    until_ms: int = _field("End of the range (now).")
    queues: list[PerformanceRow] = _field("One row per queue.")
    total: PerformanceRow = _field("Every queue together.")
    series: list[PerformancePoint] = _field("One point per minute over every queue.")


class JobModel(BaseModel):
    """A job as stored: definition, state and run history."""

    id: str = _field("The job's id (its own or one the queue gave it).")
    queue: str = _field("The queue it is on.")
    name: str = _field("Job name: the processor that runs it.")
    state: str = _field("waiting, active, delayed, completed, failed or pending.")
    data: Any = _field("The job's data (payload), as JSON.")
    options: dict[str, Any] = _field("Job options that differ from the defaults.")
    attempts_made: int = _field("Runs so far.")
    stalls: int = _field("Times its worker vanished while running it.")
    manual_retries: int = _field("Times an operator retried it.")
    progress: Any = _field("The last progress reported ({pct, msg?}), or null.")
    result: Any = _field("What the processor returned, once completed.")
    error: str | None = _field("The last error message.")
    stack: str | None = _field("The last error's traceback.")
    created_ms: int = _field("When it was added.")
    started_ms: int | None = _field("When its last run started.")
    finished_ms: int | None = _field("When it finished.")
    run_time_ms: int | None = _field("How long its last run took.")
    worker: str | None = _field("The worker that ran it last.")
    cancelled: bool = _field("Whether it ended because it was cancelled.")


class JobDetail(JobModel):
    logs: list[str] = _field("Its log lines, oldest first (processor lines, failed attempts).")


class JobPage(BaseModel):
    """``view=jobs``: a page of one queue's jobs in one state."""

    queue: str = _field("The queue.")
    status: str = _field("The state listed.")
    total: int = _field("Jobs in that state.")
    offset: int = _field("Jobs skipped.")
    limit: int = _field("Jobs asked for at most.")
    jobs: list[JobModel] = _field(
        "Waiting jobs in run order, delayed by due time, finished ones newest first."
    )


class JobTypeRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = _field("The queue, e.g. paper-processing.")
    name: str = _field("The job type on that queue, e.g. extract_pdf.")


class NewJob(BaseModel):
    """``POST /api/jobs``: a job of the catalog, checked before anything is written."""

    model_config = ConfigDict(extra="forbid")

    type: str | JobTypeRef = _field(
        "A catalog job type: `paper.extract_pdf`, `email.welcome`, `paper-processing.extract_pdf`"
        " or {queue, name}. Short queue names: paper, experiment, email, export, ml, cleanup,"
        " scheduled.",
        examples=["paper.extract_pdf"],
    )
    data: Any = _field(
        "The job's payload, validated by the job type's model.",
        default=None,
        examples=[{"paper_id": "paper-123"}],
    )
    options: dict[str, Any] | None = _field(
        "Engine job options over the job type's defaults: priority, delay_ms, attempts,"
        " backoff, timeout_ms, job_id...",
        default=None,
    )


class QueueAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["pause", "resume", "drain"] = _field("What to do with the queue.")


class QueueActionResult(BaseModel):
    queue: str = _field("The queue.")
    action: str = _field("What was done.")
    removed: int | None = _field("Jobs removed (drain).", default=None)


class JobAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "cancel", "remove", "promote"] = _field("What to do with the job.")


class JobActionResult(BaseModel):
    queue: str = _field("The queue.")
    id: str = _field("The job.")
    action: str = _field("What was done.")
    outcome: str = _field(
        "retry: retried; cancel: removed (not started) or requested (its worker is told);"
        " remove: the state it was in; promote: promoted."
    )


class ErrorModel(BaseModel):
    detail: Any = _field("What was wrong: a message, or one entry per bad field (422).")
