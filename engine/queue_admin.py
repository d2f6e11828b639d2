"""The operator's side of a queue: pause, limits, drain, clean, obliterate,
retry, cancel, remove, promote and changes to a job not started yet.

:class:`QueueAdmin` is mixed into :class:`engine.queue.Queue`; use it from
there (``Queue(name, redis).drain()``).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.cluster import is_cluster
from engine.codec import dumps
from engine.contracts.admin import (
    CancelReply,
    CancelRequest,
    ChangeReply,
    ChangeRequest,
    CleanReply,
    CleanRequest,
    DrainReply,
    DrainRequest,
    JobChange,
    ObliterateReply,
    ObliterateRequest,
    PauseRequest,
    PromoteRequest,
    RemoveReply,
    RemoveRequest,
    RetryReply,
    RetryRequest,
)
from engine.contracts.base import Refusal, call
from engine.errors import InvalidJobError, InvalidStateError, JobNotFoundError
from engine.jobhash import JobField
from engine.keys import QueueKeys
from engine.limits import QueueLimits, pipe_limits, read_limits
from engine.metrics import METRICS_TTL_S
from engine.options import checked_priority
from engine.outbox import deliver_outbox
from engine.schedules import Schedules

PAGE = 1000
"""Jobs per script call for drain, clean, obliterate and retry-all."""


MAX_DESCENDANTS = 10_000
"""Jobs a remove reads on a Redis Cluster to find a running descendant."""


class QueueAdmin:
    """Operators' actions on one queue (see :class:`engine.queue.Queue`)."""

    name: str
    redis: Redis
    keys: QueueKeys
    _registered_at: float

    if TYPE_CHECKING:

        async def counts(self) -> dict[str, int]: ...

        async def exists(self) -> bool: ...

    async def pause(self) -> None:
        await call(self.redis, self.keys, PauseRequest(paused=True, queue_name=self.name))

    async def resume(self) -> None:
        await call(self.redis, self.keys, PauseRequest(paused=False, queue_name=self.name))

    async def is_paused(self) -> bool:
        return bool(await self.redis.hexists(self.keys.meta, "paused"))

    async def set_rate_limit(self, max_starts: int | None, duration_ms: int = 1000) -> None:
        """At most ``max_starts`` job starts per ``duration_ms`` across all workers (None: no limit)."""
        if max_starts is None:
            await self.redis.hdel(self.keys.meta, "rl_max", "rl_ms")
            return
        if max_starts < 1 or duration_ms < 1:
            raise ValueError("rate limit needs max_starts >= 1 and duration_ms >= 1")
        await self.redis.hset(self.keys.meta, mapping={"rl_max": max_starts, "rl_ms": duration_ms})

    async def set_global_concurrency(self, limit: int | None) -> None:
        """At most ``limit`` active jobs across all workers (None: no cap).

        Wakes the workers: one that waits for a slot of a lower cap starts
        a job at once (each woken worker wakes the next while work is left).
        """
        if limit is not None and limit < 1:
            raise ValueError("global concurrency must be >= 1")
        async with self.redis.pipeline(transaction=True) as pipe:
            if limit is None:
                pipe.hdel(self.keys.meta, "conc")
            else:
                pipe.hset(self.keys.meta, "conc", limit)
            pipe.zadd(self.keys.marker, {"1": 0})
            await pipe.execute()

    async def limits(self) -> QueueLimits:
        """The rate limit and global concurrency cap in force (None where unset)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe_limits(pipe, self.keys)
            [reply] = await pipe.execute()
        return read_limits(reply)

    async def drain(self) -> int:
        """Remove every waiting and delayed job (active ones run on). Returns how many."""
        total = 0
        while True:
            reply = DrainReply.parse(await call(self.redis, self.keys, DrainRequest(PAGE)))
            total += reply.removed
            if reply.remaining == 0:
                await self._deliver()
                return total

    async def clean(self, state: str, grace_ms: int = 0, limit: int = 0) -> int:
        """Delete up to ``limit`` (0: all) jobs in ``state`` older than ``grace_ms``."""
        if state not in ("waiting", "delayed", "completed", "failed"):
            raise ValueError(
                f"cannot clean {state!r}; choose waiting, delayed, completed or failed"
            )
        total, offset = 0, 0
        while limit <= 0 or total < limit:
            page = PAGE if limit <= 0 else min(PAGE, limit - total)
            request = CleanRequest(state, grace_ms, page, offset)
            reply = CleanReply.parse(await call(self.redis, self.keys, request))
            total += reply.removed
            if reply.done:
                break
            offset = reply.next_offset
        await self._deliver()
        return total

    async def obliterate(self, force: bool = False) -> int:
        """Delete every key of the queue and the schedules that feed it.

        Refuses while jobs run unless ``force``. Returns how many schedules
        were removed."""
        await self._obliterate_keys(force)
        removed = await Schedules(self.redis, self.keys.prefix).remove_for_queue(self.name)
        if removed and await self.exists():
            # a schedule fired between the two steps and re-created the queue
            await self._obliterate_keys(force)
        return len(removed)

    async def _obliterate_keys(self, force: bool) -> None:
        # every day whose metrics hash may still exist (a day's hash lives
        # METRICS_TTL_S after its last write), and tomorrow for clocks ahead
        today = int(time.time() // 86400)
        days = tuple(range(today - METRICS_TTL_S // 86400 - 1, today + 2))
        request = ObliterateRequest(force, PAGE, self.name, days)
        while True:
            try:
                reply = ObliterateReply.parse(await call(self.redis, self.keys, request))
                self._registered_at = -math.inf
            except ResponseError as exc:
                refusal = Refusal.parse(exc)
                if refusal.reason == "active":
                    raise InvalidStateError(
                        f"queue {self.name!r} has {refusal.detail} active jobs; stop its workers or force"
                    ) from None
                raise
            if reply.left == 0:
                await self._deliver()
                return

    async def retry_job(self, job_id: str) -> None:
        """Send a failed job back to waiting with fresh attempts; its logs keep the old errors."""
        try:
            await call(self.redis, self.keys, RetryRequest.one(job_id))
        except ResponseError as exc:
            raise self._job_error(exc, job_id, "retry") from None
        await self._deliver()

    async def retry_failed(self, limit: int = 0) -> int:
        """Retry failed jobs, oldest first (all of them when ``limit`` is 0)."""
        total = 0
        initial = (await self.counts())["failed"]
        budget = initial if limit <= 0 else min(limit, initial)
        while total < budget:
            request = RetryRequest.oldest(min(PAGE, budget - total))
            moved = RetryReply.parse(await call(self.redis, self.keys, request)).retried
            if moved == 0:
                break
            total += moved
        await self._deliver()
        return total

    async def cancel(self, job_id: str) -> str:
        """Cancel a job: "removed" if it had not started, "requested" if its worker was told."""
        try:
            request = CancelRequest(job_id, self.keys.cancel_channel)
            reply = CancelReply.parse(await call(self.redis, self.keys, request))
        except ResponseError as exc:
            raise self._job_error(exc, job_id, "cancel") from None
        await self._deliver()
        return reply.value

    async def remove(self, job_id: str) -> str:
        """Delete a job that is not running (see :meth:`remove_job`). Returns
        the state it was in."""
        return (await self.remove_job(job_id)).state

    async def remove_job(self, job_id: str) -> RemoveReply:
        """Delete a job that is not running, with its logs, and the jobs it
        waits for that have not run, however deep and in whichever queue (a
        flow's descendants; a chain's earlier steps). Finished ones stay.
        Refused (``InvalidStateError``) while the job or one of those runs.
        Returns the state it was in and how many went with it."""
        if is_cluster(self.redis):
            await self._check_descendants_elsewhere(job_id)
        try:
            reply = RemoveReply.parse(await call(self.redis, self.keys, RemoveRequest(job_id)))
        except ResponseError as exc:
            raise self._job_error(exc, job_id, "remove") from None
        await self._deliver()
        # On a Redis Cluster descendants in other queues go in calls on their
        # queues (one that started meanwhile runs on; a missing one was removed).
        removed = reply.descendants
        for queue, child in reply.elsewhere:
            other = type(self)(queue, self.redis, prefix=self.keys.prefix)  # type: ignore[call-arg]
            with contextlib.suppress(InvalidStateError, JobNotFoundError):
                removed += 1 + (await other.remove_job(child)).descendants
        return RemoveReply(reply.state, removed)

    async def _check_descendants_elsewhere(self, job_id: str) -> None:
        """On a Redis Cluster, the remove script sees only this queue: refuse
        here when a descendant in another queue runs (read before the
        script; one that starts between the two runs on)."""
        work = [(self.keys, job_id)]
        seen = 0
        while work and seen < MAX_DESCENDANTS:
            keys, current = work.pop()
            seen += 1
            raw = await self.redis.hget(keys.job(current), JobField.CHILDREN)
            for entry in str(raw or "").splitlines():
                queue, _, child = entry.partition("|")
                try:
                    child_keys = QueueKeys(queue, self.keys.prefix)
                except ValueError:
                    continue
                if await self.redis.zscore(child_keys.active, child):
                    raise self._job_error(
                        ResponseError(f"descendant-active:{queue}:{child}"), job_id, "remove"
                    )
                work.append((child_keys, child))

    async def _deliver(self) -> None:
        """On a Redis Cluster: hand over what the call's jobs owe jobs of
        other queues (``engine.outbox``); nothing on a single server."""
        await deliver_outbox(self.redis, self.name, self.keys.prefix)

    async def promote(self, job_id: str) -> None:
        """Move a delayed job to waiting now."""
        try:
            await call(self.redis, self.keys, PromoteRequest(job_id))
        except ResponseError as exc:
            raise self._job_error(exc, job_id, "promote") from None

    async def change_priority(self, job_id: str, priority: int | str) -> str:
        """Give a job that has not started (waiting or delayed) another priority
        (0 runs first; or high, normal, low). A waiting job moves behind the
        jobs of its new priority. Returns its state; InvalidStateError when it
        has started, finished or waits for dependencies."""
        value = checked_priority(priority)
        return await self._change(job_id, JobChange.PRIORITY, str(value), "change the priority of")

    async def change_delay(self, job_id: str, delay_ms: int) -> str:
        """Make a job that has not started due ``delay_ms`` from now (0: waiting
        now, behind the jobs of its priority). Returns its state (delayed, or
        waiting for 0); InvalidStateError when it has started or finished."""
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
            raise InvalidJobError(f"delay_ms must be an integer >= 0 (got {delay_ms!r})")
        return await self._change(job_id, JobChange.DELAY, str(delay_ms), "change the delay of")

    async def update_data(self, job_id: str, data: Any) -> str:
        """Replace the data of a job that has not started (waiting or delayed).
        Returns its state; InvalidStateError when it has started or finished."""
        return await self._change(job_id, JobChange.DATA, dumps(data), "update the data of")

    async def _change(self, job_id: str, change: JobChange, value: str, action: str) -> str:
        try:
            reply = await call(self.redis, self.keys, ChangeRequest(job_id, change, value))
        except ResponseError as exc:
            raise self._job_error(exc, job_id, action) from None
        return ChangeReply.parse(reply).state

    def _job_error(self, exc: ResponseError, job_id: str, action: str) -> Exception:
        refusal = Refusal.parse(exc)
        if refusal.reason == "missing":
            return JobNotFoundError(self.name, job_id)
        if refusal.reason == "active":
            return InvalidStateError(f"job {job_id!r} is running; cancel it instead of removing it")
        if refusal.reason == "descendant-active":
            return InvalidStateError(
                f"cannot {action} job {job_id!r}: job {refusal.detail} is running and it"
                " waits for that job; wait for it to end or cancel it"
            )
        if refusal.reason == "corrupt":
            return InvalidStateError(f"cannot {action} job {job_id!r}: {refusal.detail}")
        if refusal.reason == "finished":
            return InvalidStateError(f"job {job_id!r} has already finished; nothing to {action}")
        if refusal.detail:
            expected = {
                "not-failed": "failed",
                "not-delayed": "delayed",
                "not-changeable": "waiting or delayed",
            }.get(refusal.reason, refusal.reason)
            detail = "in no state" if refusal.detail == "unknown" else refusal.detail
            return InvalidStateError(
                f"cannot {action} job {job_id!r}: it is {detail}, not {expected}"
            )
        return exc
