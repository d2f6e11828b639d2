"""The worker's background duties, each a small loop of its own:

- :class:`Wakeups`: while the main loop waits with free slots, block on the
  queues' wake-up markers (``BZPOPMIN``) with a timeout no later than the
  next delayed job, so a new job starts within milliseconds and nothing polls;
- :class:`Heartbeat`: extend all of this worker's leases in one call per
  queue, learn which jobs were cancelled or lost, and keep the worker's
  entry in the registry of workers;
- :class:`Sweeper`: recover the jobs of dead workers and trim finished
  ones (throttled in Redis, so one worker does it per interval);
- :class:`CancelListener`: hear at once when an operator cancels a job, or
  sends this worker a command (:mod:`engine.worker.control`).

Each runs until its ``closed`` flag is set (see :meth:`Duty.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from engine.cluster import is_cluster
from engine.contracts.base import call_own_keys
from engine.contracts.worker import (
    HeartbeatReply,
    HeartbeatRequest,
    HeldLease,
    SweepReply,
    SweepRequest,
    WorkerBeatRequest,
    WorkerDetail,
)
from engine.keys import worker_key
from engine.options import Keep
from engine.outbox import deliver_outbox
from engine.scripts import scripts
from engine.wire import WireChannel
from engine.worker.control import CONTROL_FIELD
from engine.worker.exchange import IDLE_RECHECK_S, Exchange, QueueState
from engine.worker.faults import REDIS_ERRORS, FailureLog
from engine.worker.slots import Slots

log = logging.getLogger("engine.worker")

StopJob = Callable[[str, str, str], None]
"""``stop_job(queue, job_id, reason)``, reason "operator" or "lease-lost"."""
Controlled = Callable[[str], None]
"""``controlled(message)``: a command addressed to this worker arrived (raw)."""


class Wakeup:
    """A flag the main loop waits on with a timeout: set, clear, wait(seconds).

    Cheaper than ``asyncio.wait_for(event.wait(), t)``, which creates a task
    for every wait (the main loop waits once per job at concurrency 1)."""

    __slots__ = ("_is_set", "_waiter")

    def __init__(self) -> None:
        self._is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._is_set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self, seconds: float) -> None:
        """Until set, or ``seconds`` passed."""
        if self._is_set:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Duty:
    """A background loop of the worker."""

    name = "duty"

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        """End the loop at its next turn. The client library can swallow a
        cancellation that lands inside a blocking command, so the loops
        watch this flag as well as being cancelled."""
        self.closed = True

    async def run(self) -> None:
        raise NotImplementedError


class Wakeups(Duty):
    """Blocks on the wake-up markers whenever the main loop is hungry.

    A worker of one queue on a single server (or under Sentinel) with the
    engine's own connection waits through :meth:`Exchange.fetch_when_woken`
    on a connection of its own (``waiter``): the wait and a fetch pipelined
    behind it, so a job added to an idle worker's queue is leased in the
    same turn of Redis's loop as the add. :meth:`interrupt` ends such a wait
    at once (``CLIENT UNBLOCK``) when the worker stops or pauses."""

    name = "wake"

    def __init__(
        self,
        redis: Redis,
        queues: list[QueueState],
        changed: Wakeup,
        free_slots: Callable[[], int],
        worker_id: str,
        exchange: Exchange | None = None,
        waiter: WireChannel | None = None,
    ) -> None:
        super().__init__()
        self.redis = redis
        self._failures = FailureLog(worker_id, "wake-up wait")
        self.queues = queues
        self.changed = changed
        self.free_slots = free_slots
        self.hungry = asyncio.Event()
        """Set while the main loop waits with free slots."""
        self._by_marker = {state.keys.marker: state for state in queues}
        self._exchange = exchange
        self._waiter = waiter if exchange is not None and len(queues) == 1 else None
        self._waiting_on: int | None = None
        """The waiter connection's CLIENT ID while a wait-and-fetch is out."""
        self._unblocks: set[asyncio.Task[None]] = set()
        self._unblock_refused = False

    def close(self) -> None:
        super().close()
        self.hungry.set()
        self.interrupt()

    def interrupt(self) -> None:
        """End a wait-and-fetch now (the fetch behind it runs: its jobs are
        handed back if the worker stops or pauses); no-op otherwise."""
        client_id = self._waiting_on
        if client_id is None or self._unblock_refused:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the worker's loop: the wait ends at its timeout
            return
        task = loop.create_task(self._unblock(client_id))
        self._unblocks.add(task)
        task.add_done_callback(self._unblocks.discard)

    async def _unblock(self, client_id: int) -> None:
        try:
            await self.redis.client_unblock(client_id)
        except NoPermissionError:
            # an ACL without CLIENT UNBLOCK: the wait ends at its timeout
            self._unblock_refused = True
        except REDIS_ERRORS as exc:
            log.debug("could not end the wake-up wait at once: %r", exc)

    async def _wait_and_fetch(self, waiter: WireChannel, wait_s: float) -> bool:
        """One wait-and-fetch; False when there was no room to fetch into."""
        assert self._exchange is not None
        self._waiting_on = await waiter.client_id()
        try:
            return await self._exchange.fetch_when_woken(self.queues[0], wait_s, waiter)
        finally:
            self._waiting_on = None

    async def run(self) -> None:
        markers = list(self._by_marker)
        # On a Redis Cluster each queue's marker is in a slot of its own: one
        # wait per queue, the first to wake wins (see _wait_any).
        split = is_cluster(self.redis) and len(markers) > 1
        while not self.closed:
            await self.hungry.wait()
            if self.closed:
                return
            timeout = IDLE_RECHECK_S
            now = time.monotonic()
            for state in self.queues:
                if state.next_check:
                    timeout = min(timeout, max(state.next_check - now, 0.001))
            if self._waiter is not None:
                try:
                    await self._wait_and_fetch(self._waiter, timeout)
                    self._failures.succeeded()
                except REDIS_ERRORS as exc:
                    await asyncio.sleep(self._failures.failed(exc))
                    continue
                except Exception:
                    # a bug, not Redis: wait on the marker alone from now on
                    # rather than end this loop (the worker would never wake)
                    log.exception("wake-up wait with a fetch failed; waiting on the marker alone")
                    self._waiter = None
                    for state in self.queues:
                        state.maybe_has_work = True
                self.hungry.clear()
                self.changed.set()
                continue
            try:
                if split:
                    popped = await _wait_any(self.redis, markers, timeout)
                    if popped:
                        for state in self.queues:  # a cancelled wait may have taken its marker
                            state.maybe_has_work = True
                else:
                    popped = await self.redis.bzpopmin(markers, timeout=timeout)
                if popped and self.free_slots() <= 0:
                    # not hungry any more: leave the wake-up for another worker
                    await self.redis.zadd(str(popped[0]), {"1": 0})
                self._failures.succeeded()
            except REDIS_ERRORS as exc:
                # the main loop still looks at its queues every IDLE_RECHECK_S
                await asyncio.sleep(self._failures.failed(exc))
                continue
            if popped:
                self._by_marker[str(popped[0])].maybe_has_work = True
            else:
                for state in self.queues:
                    state.maybe_has_work = True
            self.hungry.clear()
            self.changed.set()


async def _wait_any(redis: Redis, markers: list[str], block_s: float) -> Any:
    """BZPOPMIN on each of ``markers`` at once (they are in different slots of
    a cluster); the first marker popped, or None after ``block_s``. The other
    waits are cancelled (their connections dropped); one may have popped its
    marker meanwhile, so the caller looks at every queue."""
    waits = [asyncio.ensure_future(redis.bzpopmin([marker], timeout=block_s)) for marker in markers]
    try:
        pending = set(waits)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for wait in done:
                popped = wait.result()
                if popped:
                    return popped
        return None
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


class Heartbeat(Duty):
    """Extends this worker's leases and keeps its entry in the worker registry."""

    name = "heartbeat"

    def __init__(
        self,
        redis: Redis,
        *,
        worker_id: str,
        prefix: str,
        lease_ms: int,
        heartbeat_ms: int,
        queues: list[QueueState],
        slots: Slots,
        stop_job: StopJob,
        describe: Callable[[], dict[str, str | int]],
        controlled: Controlled,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.controlled = controlled
        self.worker_id = worker_id
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms
        self.queues = {state.keys.name: state for state in queues}
        self.slots = slots
        self.stop_job = stop_job
        self.describe = describe
        self._scripts = scripts()

    async def run(self) -> None:
        # Each call fails on its own: a full server refuses the registry beat
        # but may still extend leases, and the other way round.
        leases = FailureLog(self.worker_id, "heartbeat")
        registry = FailureLog(self.worker_id, "worker registry beat")
        while not self.closed:
            await asyncio.sleep(self.heartbeat_ms / 1000)
            try:
                await self.extend_leases()
                leases.succeeded()
            except REDIS_ERRORS as exc:
                leases.failed(exc)
            try:
                await self.beat()
                await self.read_command()
                registry.succeeded()
            except REDIS_ERRORS as exc:
                registry.failed(exc)

    async def extend_leases(self) -> None:
        by_queue: dict[str, list[HeldLease]] = {}
        # an ended job keeps its lease until Redis has its outcome: else a
        # sweep could run it again while a full server refuses the outcome
        held = [job for job in self.slots.held() if job.stop_reason is None]
        for job in held + self.slots.reported():
            by_queue.setdefault(job.queue.name, []).append(HeldLease(job.job_id, job.token))
        for name, leases in by_queue.items():
            keys = self.queues[name].keys
            request = HeartbeatRequest(self.lease_ms, tuple(leases))
            reply = HeartbeatReply.parse(
                await self._scripts.heartbeat(
                    self.redis,
                    keys.script_keys_on(is_cluster(self.redis)),
                    request.full_argv(keys.base),
                )
            )
            for job_id in reply.lost:
                self.stop_job(name, job_id, "lease-lost")
            for job_id in reply.cancelled:
                self.stop_job(name, job_id, "operator")

    async def read_command(self) -> None:
        """The last command sent to this worker (a published one may have been
        missed while disconnected; the worker applies each command once)."""
        raw = await self.redis.hget(worker_key(self.worker_id, self.prefix), CONTROL_FIELD)
        if raw:
            self.controlled(str(raw))

    async def beat(self, gone: bool = False) -> None:
        """Record this worker in the registry (or remove it: ``gone``)."""
        details = () if gone else tuple(WorkerDetail(k, v) for k, v in self.describe().items())
        request = WorkerBeatRequest(
            gone, max(self.heartbeat_ms * 3 // 1000, 5), self.worker_id, details
        )
        await call_own_keys(self.redis, self.prefix, request)


class Sweeper(Duty):
    """Recovers abandoned jobs and trims finished ones, every stall interval."""

    name = "sweep"

    def __init__(
        self,
        redis: Redis,
        *,
        worker_id: str,
        queues: list[QueueState],
        stall_interval_ms: int,
        max_stalled: int,
        keep_completed: Keep,
        keep_failed: Keep,
        recovered: Callable[[], None],
    ) -> None:
        super().__init__()
        self.redis = redis
        self.worker_id = worker_id
        self.queues = queues
        self.stall_interval_ms = stall_interval_ms
        self.max_stalled = max_stalled
        self.keep_completed = keep_completed
        self.keep_failed = keep_failed
        self.recovered = recovered
        self._scripts = scripts()

    async def run(self) -> None:
        failures = FailureLog(self.worker_id, "sweep")
        while not self.closed:
            try:
                await self.sweep()
                failures.succeeded()
            except REDIS_ERRORS as exc:
                failures.failed(exc)
            await asyncio.sleep(self.stall_interval_ms / 1000)

    async def sweep(self, force: bool = False) -> dict[str, int]:
        """Recover abandoned jobs and trim finished ones (if no other worker just did)."""
        totals = {"requeued": 0, "failed": 0, "trimmed": 0}
        request = SweepRequest(
            self.stall_interval_ms,
            self.max_stalled,
            self.keep_completed.count,
            self.keep_completed.age_ms,
            self.keep_failed.count,
            self.keep_failed.age_ms,
            force,
        )
        for state in self.queues:
            keys = state.keys
            reply = SweepReply.parse(
                await self._scripts.sweep(
                    self.redis,
                    keys.script_keys_on(is_cluster(self.redis)),
                    request.full_argv(keys.base),
                )
            )
            if is_cluster(self.redis):
                # what a crashed worker (or deliverer) left in the outbox
                await deliver_outbox(self.redis, keys.name, keys.prefix)
            totals["requeued"] += reply.requeued
            totals["failed"] += reply.failed
            totals["trimmed"] += reply.trimmed
            if reply.requeued or reply.failed:
                log.warning(
                    "queue %s: recovered %d abandoned jobs, failed %d that stalled too often",
                    keys.name,
                    reply.requeued,
                    reply.failed,
                )
                state.maybe_has_work = True
                self.recovered()
        return totals


class CancelListener(Duty):
    """Learns at once when an operator cancels one of this worker's jobs, or
    sends this worker a command (one subscription for both).

    The heartbeat also reports cancellations and reads the last command, so
    a message missed while disconnected is only late, not lost.
    """

    name = "cancel-listener"

    def __init__(
        self,
        redis: Redis,
        queues: list[QueueState],
        stop_job: StopJob,
        worker_id: str,
        control_channel: str,
        controlled: Controlled,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.stop_job = stop_job
        self.control_channel = control_channel
        self.controlled = controlled
        self._by_channel = {state.keys.cancel_channel: state for state in queues}
        self._failures = FailureLog(worker_id, "cancel listener")
        self.subscribed = asyncio.Event()
        """Set once the first subscription holds: a cancel published before it
        would reach this worker only with the next heartbeat."""

    async def run(self) -> None:
        while not self.closed:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(*self._by_channel, self.control_channel)
                self.subscribed.set()
                self._failures.succeeded()
                async for message in pubsub.listen():
                    self._heard(message)
            except REDIS_ERRORS as exc:
                await asyncio.sleep(self._failures.failed(exc))
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _heard(self, message: dict[str, Any]) -> None:
        if message.get("type") == "message":
            if message["channel"] == self.control_channel:
                self.controlled(str(message["data"]))
                return
            state = self._by_channel.get(message["channel"])
            if state is not None:
                self.stop_job(state.keys.name, str(message["data"]), "operator")


async def stop_duties(
    worker_id: str, duties: list[Duty], helpers: list[asyncio.Task[None]]
) -> None:
    """Close ``duties`` and wait for their tasks (``helpers``) to end."""
    # The client library can swallow a cancellation that lands inside a
    # blocking command, so the loops also watch their closed flag and the
    # cancel is repeated until every duty has ended.
    for duty in duties:
        duty.close()
    for _ in range(100):
        pending = [task for task in helpers if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    for task in helpers:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("worker %s: %s ended with %r", worker_id, task.get_name(), task.exception())
