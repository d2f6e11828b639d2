"""Follow one job or one queue as it changes: async iterators over the events stream.

They only read (``XREAD``, ``XRANGE``, counts, the job hash) and mirror the
old platform's web hooks::

    async for update in watch_job(queue, job_id):
        print(update.state, update.progress)   # ends when the job has ended

    async for item in watch_queue(queue):
        if isinstance(item, QueueCounts): ...  # about once a second
        else: ...                              # an Event, as it happens
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from engine.codec import loads
from engine.events import Event, parse_event
from engine.job import Job
from engine.queue import COUNT_REPLIES, Queue, pipe_counts, read_counts

FINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "removed"})
"""States after which a job changes no more (a retried failed job comes back
with a ``job:retried`` event, which a watcher that stopped will not see)."""

_STATE_AFTER: dict[str, str] = {
    "job:waiting": "waiting",
    "job:delayed": "delayed",
    "job:pending": "pending",
    "job:active": "active",
    "job:progress": "active",
    "job:cancel-requested": "active",
    "job:completed": "completed",
    "job:failed": "failed",
    "job:retried": "waiting",
    "job:stalled": "waiting",
    "job:removed": "removed",
}


def state_after(event: Event) -> str | None:
    """The state a job is in right after ``event`` (``removed`` once it is gone);
    None for queue events."""
    if event.name in ("job:added", "job:changed"):
        return event.fields.get("state", "waiting")
    if event.name == "job:retrying":
        return "delayed" if int(event.fields.get("delay", "0") or 0) > 0 else "waiting"
    if event.name == "job:cancelled":
        # A job cancelled before it started is deleted; a running one ends failed.
        return "removed" if "state" in event.fields else "failed"
    return _STATE_AFTER.get(event.name)


@dataclass(frozen=True)
class JobUpdate:
    """Where a watched job is now: its state and progress, and what changed it."""

    job_id: str
    state: str
    progress: Any = None
    event: Event | None = None
    """The event behind this update; None for the first one, read from the job itself."""
    job: Job | None = None
    """The whole job for the first update and the last one (None once it is removed)."""

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class QueueCounts:
    """Jobs per state and ``paused``, read in one round trip."""

    queue: str
    counts: dict[str, int]
    paused: bool
    at_ms: int
    """When they were read (this process's clock, epoch ms)."""

    def to_dict(self) -> dict[str, object]:
        return {"queue": self.queue, "counts": self.counts, "paused": self.paused, "ts": self.at_ms}


async def _pin(queue: Queue) -> str:
    """The id of the newest event now, so that nothing written after it is missed."""
    if not await queue.redis.exists(queue.keys.events):
        return "0-0"
    info: Any = await queue.redis.xinfo_stream(queue.keys.events)
    return str(info["last-generated-id"])


async def _read(queue: Queue, position: str, block_ms: int, count: int) -> list[Event]:
    reply: Any = await queue.redis.xread(
        {queue.keys.events: position}, count=count, block=max(block_ms, 1)
    )
    return [
        parse_event(queue.name, stream_id, raw)
        for _key, entries in reply or []
        for stream_id, raw in entries
    ]


async def watch_job(
    queue: Queue, job_id: str, *, block_ms: int = 5000, count: int = 500
) -> AsyncIterator[JobUpdate]:
    """Yield the job's state now, then every change of state or progress, until it ends.

    The first update carries the job as read; the last one (completed,
    failed, or removed) carries it again when it still exists. Raises
    :class:`engine.JobNotFoundError` when there is no such job.
    """
    position = await _pin(queue)  # before reading the job: no change falls between
    job = await queue.require_job(job_id)
    yield JobUpdate(job_id, job.state, job.progress, None, job)
    if job.state in FINAL_STATES:
        return
    progress = job.progress
    while True:
        for event in await _read(queue, position, block_ms, count):
            position = event.stream_id
            if event.job_id != job_id:
                continue
            state = state_after(event)
            if state is None:
                continue
            if event.name == "job:progress":
                progress = _progress_value(event)
            if state in FINAL_STATES:
                final = await queue.get_job(job_id)
                yield JobUpdate(
                    job_id,
                    final.state if final else state,
                    final.progress if final else progress,
                    event,
                    final,
                )
                return
            yield JobUpdate(job_id, state, progress, event)


def _progress_value(event: Event) -> Any:
    raw = event.fields.get("p")
    try:
        return loads(raw)
    except ValueError:
        return raw


async def read_queue_counts(queue: Queue) -> QueueCounts:
    """The queue's counts and pause flag, in one round trip."""
    async with queue.redis.pipeline(transaction=False) as pipe:
        pipe_counts(pipe, queue.keys)
        pipe.hexists(queue.keys.meta, "paused")
        values = await pipe.execute()
    return QueueCounts(
        queue.name,
        read_counts(values[:COUNT_REPLIES]),
        bool(values[-1]),
        int(time.time() * 1000),
    )


async def watch_queue(
    queue: Queue,
    *,
    since: str = "$",
    counts_every_s: float = 1.0,
    count: int = 500,
) -> AsyncIterator[Event | QueueCounts]:
    """Yield the queue's counts at once and then every ``counts_every_s`` seconds,
    and each of its events as it is written, until the caller stops.

    ``since`` is a stream id to resume after (``0``: every event kept), or
    ``$`` for events written from the first counts on. Counts come on time
    even while events pour in: one read returns at most ``count`` events.
    """
    position = await _pin(queue) if since == "$" else since
    yield await read_queue_counts(queue)
    next_counts = time.monotonic() + counts_every_s
    while True:
        wait_ms = int((next_counts - time.monotonic()) * 1000)
        if wait_ms > 0:
            for event in await _read(queue, position, wait_ms, count):
                position = event.stream_id
                yield event
        if time.monotonic() >= next_counts:
            yield await read_queue_counts(queue)
            next_counts = time.monotonic() + counts_every_s
