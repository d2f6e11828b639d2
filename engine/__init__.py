"""messai engine: a small, fast, crash-safe job queue on Redis.

A producer needs only this package (no console, no CLI)::

    from engine import Queue, connect
    queue = Queue("paper-processing", connect(url))  # or connect(): REDIS_URL
    await queue.add("extract_pdf", {"paper_id": "p-1"}, attempts=3)
"""

from engine.backoff import BackoffStrategy
from engine.connection import RedisNotConfigured, RedisUnavailable, connect
from engine.context import JobContext
from engine.errors import (
    BulkAddError,
    EngineError,
    InvalidJobError,
    InvalidStateError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    LeaseLostError,
    QueueNotFoundError,
    RateLimitedError,
    UnknownProcessorError,
    UnrecoverableError,
    WaitTimeoutError,
    WorkerNotFoundError,
)
from engine.events import EVENT_NAMES, Event, read_events
from engine.flows import FlowJob, JobChain, add_flow
from engine.job import Job
from engine.keys import STATES, QueueKeys
from engine.options import Backoff, Dedup, JobOptions, Keep
from engine.processors import ProcessorRegistry, diagnostic_processors
from engine.queue import BulkJob, Queue, list_queues
from engine.schedules import Scheduler, Schedules, ScheduleSpec, parse_spec
from engine.sharded import ShardedQueue, ShardingError, expand_queue_names
from engine.watch import JobUpdate, QueueCounts, watch_job, watch_queue
from engine.worker import Worker
from engine.worker.control import pause_worker, resume_worker

__all__ = [
    "EVENT_NAMES",
    "STATES",
    "Backoff",
    "BackoffStrategy",
    "BulkAddError",
    "BulkJob",
    "Dedup",
    "EngineError",
    "Event",
    "FlowJob",
    "InvalidJobError",
    "InvalidStateError",
    "Job",
    "JobCancelledError",
    "JobChain",
    "JobContext",
    "JobFailedError",
    "JobNotFoundError",
    "JobOptions",
    "JobTimeoutError",
    "JobUpdate",
    "Keep",
    "LeaseLostError",
    "ProcessorRegistry",
    "Queue",
    "QueueCounts",
    "QueueKeys",
    "QueueNotFoundError",
    "RateLimitedError",
    "RedisNotConfigured",
    "RedisUnavailable",
    "ScheduleSpec",
    "Scheduler",
    "Schedules",
    "ShardedQueue",
    "ShardingError",
    "UnknownProcessorError",
    "UnrecoverableError",
    "WaitTimeoutError",
    "Worker",
    "WorkerNotFoundError",
    "add_flow",
    "connect",
    "diagnostic_processors",
    "expand_queue_names",
    "list_queues",
    "parse_spec",
    "pause_worker",
    "read_events",
    "resume_worker",
    "watch_job",
    "watch_queue",
]
