"""Waiting for a job to finish, on the queue's event stream (no polling).

The newest event id is read before the job's state, so an event written
between the two reads is still seen: the wait reads the stream from that id
and reads the job again only when an event about it arrives. A stream that
is quiet for :data:`RECHECK_S` also triggers a read, so a job deleted
without an event of its own (clean, obliterate) ends the wait too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import JobFailedError, JobNotFoundError, WaitTimeoutError
from engine.job import Job

if TYPE_CHECKING:
    from engine.queue import Queue

FINISHED = frozenset({"completed", "failed"})
RECHECK_S = 5.0
"""The longest one blocking read of the stream before the job is read again."""
EVENT_BATCH = 500
WATCHED_EVENTS = frozenset(
    {"job:completed", "job:failed", "job:removed", "job:cancelled", "job:progress"}
)


async def wait_for_job(
    queue: Queue,
    job_id: str,
    timeout_s: float | None = None,
    on_change: Callable[[Job], None] | None = None,
) -> Job:
    """Wait until the job completes and return it.

    Raises JobFailedError when it failed or was cancelled, WaitTimeoutError
    when ``timeout_s`` passed first (None: wait for ever), JobNotFoundError
    when it does not exist or was removed. ``on_change`` is called with the
    job each time it is read again (after a progress event, say).
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    events = queue.keys.events
    position = await _newest_event_id(queue, events)
    job = await queue.require_job(job_id)
    while job.state not in FINISHED:
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            raise WaitTimeoutError(job, timeout_s or 0.0)
        block_s = RECHECK_S if remaining is None else min(remaining, RECHECK_S)
        reply: Any = await queue.redis.xread(
            {events: position}, count=EVENT_BATCH, block=max(int(block_s * 1000), 1)
        )
        entries = reply[0][1] if reply else []
        if entries:
            position = entries[-1][0]
        about_job = any(
            raw.get("id") == job_id and raw.get("ev") in WATCHED_EVENTS for _, raw in entries
        )
        # a quiet stream, or a full batch that may hide trimmed entries: read the job anyway
        if about_job or not entries or len(entries) >= EVENT_BATCH:
            current = await queue.get_job(job_id)
            if current is None:
                raise JobNotFoundError(queue.name, job_id)
            job = current
            if on_change is not None:
                on_change(job)
    if job.state == "failed":
        raise JobFailedError(job)
    return job


async def _newest_event_id(queue: Queue, events: str) -> str:
    newest: Any = await queue.redis.xrevrange(events, "+", "-", count=1)
    return str(newest[0][0]) if newest else "0-0"
