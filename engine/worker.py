"""The worker: leases jobs, runs their processors, reports the outcomes.

One asyncio loop per process drives everything:

- the main loop sends finished outcomes and fetches replacements in one
  script call per queue (``finish``), so a busy worker pays one round trip
  per batch of jobs, not several per job;
- an idle worker blocks on the queues' wake-up markers (``BZPOPMIN``) with
  a timeout no later than the next delayed job, so a new job starts within
  milliseconds and nothing polls;
- a heartbeat extends all of this worker's leases in one call per queue and
  learns which jobs were cancelled or lost;
- a sweep (throttled in Redis, so one worker does it per interval)
  re-queues the jobs of dead workers and trims finished jobs.

Shutdown: the first :meth:`Worker.request_stop` stops fetching and lets
running jobs finish until ``shutdown_grace_ms``; jobs still running then go
back to ``waiting`` without spending an attempt.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.batching import Batcher
from engine.codec import dumps, loads
from engine.context import JobContext
from engine.errors import (
    InvalidJobError,
    JobTimeoutError,
    LeaseLostError,
    RateLimitedError,
    UnknownProcessorError,
    UnrecoverableError,
)
from engine.keys import DEFAULT_PREFIX, QueueKeys, worker_key, worker_registry_key
from engine.options import (
    DEFAULT_KEEP_COMPLETED,
    DEFAULT_KEEP_FAILED,
    DEFAULT_OPTIONS,
    Backoff,
    JobOptions,
    Keep,
)
from engine.processors import Processor, ProcessorRegistry, ProcessorSpec, diagnostic_processors
from engine.scripts import BoundScript, scripts
from engine.wire import Channel

log = logging.getLogger("engine.worker")

DEFAULT_BACKOFF = Backoff(type="exponential", delay_ms=1000)
MAX_ERROR_CHARS = 4000
MAX_STACK_CHARS = 16000
AUTO_PREFETCH_MAX_MS = 10.0
"""Auto prefetch works while jobs take less than this on average: beyond
it a round trip is a small part of a job, and a prefetched job waits long."""
PREFETCH_HOLD_MS = 100.0
"""Auto prefetch: a prefetched job not started within this goes back to waiting."""
MAX_IN_FLIGHT = 2
"""Exchanges one worker may have in flight: while Redis runs one, this
process starts the jobs the other brought and collects their outcomes."""
IDLE_RECHECK_S = 2.0
"""An idle worker looks at its queues at least this often, even without a wake-up."""
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

JobListener = Callable[[str, "RunningJob", dict[str, Any]], None]
"""Called as ``listener(event, job, details)`` on every state change this worker causes."""


@dataclass(eq=False)
class RunningJob:
    """A job this worker holds the lease of."""

    queue: QueueKeys
    job_id: str
    token: str
    name: str
    options: JobOptions
    attempt: int
    context: JobContext
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    """Why the worker cancelled the task: "operator", "lease-lost" or "shutdown"."""
    has_dependents: bool = False
    """Other jobs wait for this one (chains, flows): its outcome releases them."""
    bad_data: Exception | None = None
    """Why its stored data or options could not be read (it fails at once)."""
    reserved: bool = False
    """Leased as prefetched: Redis holds it as not started until told otherwise."""


@dataclass(frozen=True)
class Outcome:
    """The end of one run, waiting to be reported in the next round trip."""

    job: RunningJob
    kind: str
    """c completed, f failed, r retry, x cancelled, h handed back, l rate limited."""
    value: str = ""
    stack: str = ""
    runtime_ms: int = 0
    delay_ms: int = 0

    def script_args(self) -> list[Any]:
        options = self.job.options
        keep: Keep = options.keep_completed if self.kind == "c" else options.keep_failed
        return [
            self.job.job_id,
            self.job.token,
            self.kind,
            self.value,
            self.stack,
            self.runtime_ms,
            self.delay_ms,
            keep.count,
            options.keep_logs,
            self.job.attempt,
            "1" if self.job.has_dependents else "",
        ]


class _Wakeup:
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


@dataclass
class _QueueState:
    keys: QueueKeys
    finish: BoundScript
    fetch: BoundScript
    maybe_has_work: bool = True
    next_check: float = 0.0
    """Monotonic time when a delayed job falls due or a rate limit window ends."""


class Worker:
    """Runs jobs from one or more queues.

    Args:
        queues: names of the queues to serve.
        redis: an asyncio Redis client (``decode_responses=True``).
        processors: the processors by job name; the diagnostic ones (noop,
            sleep, echo, fail) are always there too.
        concurrency: jobs run at once by this process, across its queues.
        prefix: key prefix of the deployment.
        lease_ms: how long a lease lasts without a heartbeat; a job whose
            lease runs out is taken to be abandoned and runs again.
        heartbeat_ms: how often leases are extended (default lease_ms / 3).
        stall_interval_ms: how often some worker sweeps for abandoned jobs.
        max_stalled: how many times a job may be abandoned before it fails.
        shutdown_grace_ms: how long running jobs may finish after a stop
            request before they are handed back to ``waiting``.
        prefetch: jobs leased beyond ``concurrency``, so that the next job
            starts the moment one finishes instead of a round trip later.
            They count as active in Redis; a stop hands them back at once,
            and if the process dies they go back to waiting without
            counting a stall (they never ran). None (the default) is auto:
            as many as ``concurrency`` while this worker's jobs are short
            (a recent mean run time under AUTO_PREFETCH_MAX_MS), none
            otherwise; and a prefetched job not started within
            PREFETCH_HOLD_MS goes back to waiting, so that a job that turns
            out long holds up nothing behind it while other workers idle.
        thread_pool_size: threads for plain-function processors (default:
            concurrency).
        keep_completed, keep_failed: retention that the background sweep
            enforces (jobs can ask for less with their own options).
        worker_id: a name for this worker (default host:pid:random).
        listener: called on every job state change (for log lines).
    """

    def __init__(
        self,
        queues: Sequence[str] | str,
        redis: Redis,
        processors: ProcessorRegistry | Mapping[str, Processor] | None = None,
        *,
        concurrency: int = 1,
        prefix: str = DEFAULT_PREFIX,
        lease_ms: int = 30_000,
        heartbeat_ms: int | None = None,
        stall_interval_ms: int = 5_000,
        max_stalled: int = 1,
        shutdown_grace_ms: int = 30_000,
        prefetch: int | None = None,
        thread_pool_size: int | None = None,
        keep_completed: Keep = DEFAULT_KEEP_COMPLETED,
        keep_failed: Keep = DEFAULT_KEEP_FAILED,
        worker_id: str | None = None,
        listener: JobListener | None = None,
    ) -> None:
        names = [queues] if isinstance(queues, str) else list(queues)
        if not names:
            raise ValueError("a worker needs at least one queue")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if lease_ms < 100:
            raise ValueError("lease_ms must be >= 100")
        if prefetch is not None and prefetch < 0:
            raise ValueError("prefetch must be >= 0 (or None: auto)")
        self.redis = redis
        self.prefix = prefix
        self.concurrency = concurrency
        self.prefetch = prefetch
        """As configured: a number of jobs, or None (auto)."""
        self._run_time_mean: float | None = None
        """Recent mean run time of this worker's jobs, in seconds (auto prefetch)."""
        self._held_back = False
        """Auto prefetch handed a job back for waiting too long; off until a job ends."""
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms or max(lease_ms // 3, 50)
        self.stall_interval_ms = stall_interval_ms
        self.max_stalled = max_stalled
        self.shutdown_grace_ms = shutdown_grace_ms
        self.keep_completed = keep_completed
        self.keep_failed = keep_failed
        self.listener = listener
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        registry = (
            processors
            if isinstance(processors, ProcessorRegistry)
            else ProcessorRegistry(processors)
        )
        self.processors = diagnostic_processors().merged(registry)
        self._scripts = scripts()
        self._queues = {
            name: self._queue_state(QueueKeys(name, prefix)) for name in dict.fromkeys(names)
        }
        self._by_marker = {state.keys.marker: state for state in self._queues.values()}
        self._by_channel = {state.keys.cancel_channel: state for state in self._queues.values()}
        self._channel = Channel(redis)
        """The hot path's own pipelined connection (finish and fetch)."""
        self._pool = ThreadPoolExecutor(
            max_workers=thread_pool_size or concurrency, thread_name_prefix="messai-job"
        )
        self._running: dict[tuple[str, str], RunningJob] = {}
        """Every job this worker holds a lease on: started or waiting in _buffer."""
        self._buffer: collections.deque[RunningJob] = collections.deque()
        """Leased (prefetched) jobs not started yet."""
        self._active = 0
        """Jobs whose task runs now (at most concurrency)."""
        self._batchers: dict[str, Batcher] = {}
        self._outcomes: list[Outcome] = []
        self._changed = _Wakeup()
        """Set when a job finished, a wake-up arrived or a stop was requested."""
        self._hungry = asyncio.Event()
        """Set while the main loop waits with free slots: the wake loop then blocks on the markers."""
        self._stopping = False
        self._closed = False
        self._stop_deadline = 0.0
        self._fetch_counter = 0
        self._token_base = uuid.uuid4().hex[:12]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0
        self._done = 0
        self._failed = 0
        self._signal_count = 0
        self._rotation = 0
        self._states = list(self._queues.values())
        self._in_flight = 0
        """Exchanges sent whose replies have not been handled yet (at most MAX_IN_FLIGHT)."""
        self._reserved = 0
        """Jobs asked for by the fetches in flight."""
        self._starting = 0
        """Jobs the fetches in flight asked to start at once (the rest are prefetched)."""
        self._notices: dict[str, list[RunningJob]] = {}
        """Prefetched jobs started since the last exchange, by queue: Redis
        learns with the next call that they run (a stall now counts)."""
        self._exchange_error: BaseException | None = None
        self._failures = 0
        """Exchanges failed in a row (Redis unreachable): sets the back-off."""
        self._exchanges: set[asyncio.Task[None]] = set()

    def _queue_state(self, keys: QueueKeys) -> _QueueState:
        return _QueueState(
            keys,
            finish=BoundScript(self._scripts.finish, keys.script_keys),
            fetch=BoundScript(self._scripts.fetch, keys.script_keys),
        )

    # -- public ---------------------------------------------------------------

    @property
    def queue_names(self) -> list[str]:
        return list(self._queues)

    @property
    def running_count(self) -> int:
        """Jobs running now (prefetched ones not included)."""
        return self._active

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request_stop(self) -> None:
        """Stop fetching; let running jobs finish within the grace period."""
        if not self._stopping:
            self._stopping = True
            self._stop_deadline = time.monotonic() + self.shutdown_grace_ms / 1000
            log.info("worker %s stopping: %d jobs running", self.id, self._active)
            self._hand_back_buffer()
        self._changed.set()

    def _hand_back_buffer(self) -> None:
        """Prefetched jobs that never started go back to waiting at once."""
        while self._buffer:
            job = self._buffer.popleft()
            self._running.pop((job.queue.name, job.job_id), None)
            self._outcomes.append(Outcome(job, "h"))

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: graceful stop. Second: exit at once (leases
        expire and another worker's sweep recovers the jobs)."""
        loop = asyncio.get_running_loop()

        def handle(signum: int) -> None:
            self._signal_count += 1
            if self._signal_count == 1:
                log.warning(
                    "received %s: finishing running jobs (up to %d ms); send again to exit at once",
                    signal.Signals(signum).name,
                    self.shutdown_grace_ms,
                )
                self.request_stop()
            else:
                log.warning("received %s again: exiting now", signal.Signals(signum).name)
                logging.shutdown()
                os._exit(130)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, handle, signum)

    async def run(self) -> None:
        """Serve the queues until :meth:`request_stop` (or a signal) and a clean stop."""
        self._loop = asyncio.get_running_loop()
        self._started_at = int(time.time() * 1000)
        await self._warn_if_unsafe_server()
        await self._beat()
        helpers = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._sweep_loop(), name="sweep"),
            asyncio.create_task(self._wake_loop(), name="wake"),
            asyncio.create_task(self._cancel_listener(), name="cancel-listener"),
        ]
        try:
            await self._main_loop()
        finally:
            await self._stop_helpers(helpers)
            await self._channel.close()
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await self._beat(gone=True)
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _warn_if_unsafe_server(self) -> None:
        try:
            policy = (await self.redis.config_get("maxmemory-policy")).get("maxmemory-policy")
        except ResponseError:
            return  # CONFIG is disabled on some managed servers
        if policy and policy != "noeviction":
            log.warning(
                "Redis maxmemory-policy is %s: under memory pressure Redis may evict jobs; set it to noeviction",
                policy,
            )

    async def _stop_helpers(self, helpers: list[asyncio.Task[None]]) -> None:
        # The client library can swallow a cancellation that lands inside a
        # blocking command, so the loops also watch _closed and the cancel
        # is repeated until every helper has ended.
        self._closed = True
        self._hungry.set()
        for _ in range(100):
            pending = [task for task in helpers if not task.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=0.1)
        for task in helpers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning(
                    "worker %s: %s ended with %r", self.id, task.get_name(), task.exception()
                )

    # -- main loop --------------------------------------------------------

    async def _main_loop(self) -> None:
        while True:
            if self._stopping:
                if not self._running and not self._outcomes and not self._in_flight:
                    return
                if self._running and time.monotonic() >= self._stop_deadline:
                    self._hand_back_all()
            error, self._exchange_error = self._exchange_error, None
            if error is not None:
                self._failures += 1
                delay = min(0.05 * 2**self._failures, 5.0)
                log.warning(
                    "worker %s: Redis unreachable (%s); retrying in %.2fs", self.id, error, delay
                )
                # Not _wait(): it returns at once while outcomes are pending,
                # and the failed exchange just put them back (a busy loop).
                self._changed.clear()
                await self._changed.wait(delay)
                continue
            hold = self._release_held()
            if self._in_flight < MAX_IN_FLIGHT and (
                self._outcomes or self._notices or self._should_fetch()
            ):
                if self._active or self._in_flight:
                    # Jobs are running or coming: exchange in the background,
                    # so that their outcomes can go out in a second call while
                    # this one is in flight (Redis and this process work at once).
                    self._spawn_exchange()
                    continue
                # Nothing could finish or arrive meanwhile: no task needed.
                try:
                    await self._exchange()
                except _CONNECTION_ERRORS as exc:
                    self._exchange_error = exc
                continue
            if self._free_slots() > 0 and not self._in_flight:
                self._hungry.set()
            await self._wait(min(self._wait_timeout(), hold))

    def _spawn_exchange(self) -> None:
        assert self._loop is not None
        self._in_flight += 1
        task = self._loop.create_task(self._background_exchange())
        self._exchanges.add(task)
        task.add_done_callback(self._exchanges.discard)

    async def _background_exchange(self) -> None:
        try:
            await self._exchange(counted=True)
        except _CONNECTION_ERRORS as exc:
            self._exchange_error = exc
        finally:
            self._changed.set()

    def _free_slots(self) -> int:
        """How many more jobs this worker may lease now (fetches in flight count)."""
        if self._stopping:
            return 0
        return self.concurrency + self.prefetch_now - len(self._running) - self._reserved

    @property
    def prefetch_now(self) -> int:
        """Jobs this worker leases beyond its concurrency at the moment."""
        if self.prefetch is not None:
            return self.prefetch
        mean = self._run_time_mean
        if self._held_back or mean is None or mean * 1000 >= AUTO_PREFETCH_MAX_MS:
            return 0
        return self.concurrency

    def _batch_cap(self) -> int:
        """Most jobs one fetch asks for: a share of the slots, so that two exchanges overlap."""
        return max(1, -(-(self.concurrency + self.prefetch_now) // MAX_IN_FLIGHT))

    def _release_held(self) -> float:
        """Auto prefetch: hands back prefetched jobs held too long; returns the
        seconds until the next one would be (or IDLE_RECHECK_S)."""
        if self.prefetch is not None or not self._buffer:
            return IDLE_RECHECK_S
        limit = time.monotonic() - PREFETCH_HOLD_MS / 1000
        while self._buffer and self._buffer[0].started <= limit:
            job = self._buffer.popleft()
            self._running.pop((job.queue.name, job.job_id), None)
            self._outcomes.append(Outcome(job, "h", "prefetch-held"))
            # no prefetching again until a running job ends: the queue (and
            # any idle worker) has it back
            self._held_back = True
        if not self._buffer:
            return IDLE_RECHECK_S
        return max(self._buffer[0].started - limit, 0.001)

    def _should_fetch(self) -> bool:
        if self._free_slots() <= 0:
            return False
        now = time.monotonic()
        return any(
            q.maybe_has_work or (q.next_check and q.next_check <= now)
            for q in self._queues.values()
        )

    def _wait_timeout(self) -> float:
        if self._stopping:
            return (
                max(0.0, min(self._stop_deadline - time.monotonic(), 1.0)) if self._running else 0.0
            )
        return IDLE_RECHECK_S

    async def _wait(self, seconds: float) -> None:
        self._changed.clear()
        if self._in_flight < MAX_IN_FLIGHT and (
            self._outcomes
            or self._notices
            or (self._stopping and not self._running and not self._in_flight)
        ):
            return
        await self._changed.wait(seconds)

    async def _exchange(self, counted: bool = False) -> None:
        """Report finished jobs and fetch new ones: one call per queue that needs one.

        ``counted``: the caller already counted this exchange in ``_in_flight``.
        """
        if not counted:
            self._in_flight += 1
        try:
            outcomes, self._outcomes = self._outcomes, []
            by_queue: dict[str, list[Outcome]] = {}
            for outcome in outcomes:
                by_queue.setdefault(outcome.job.queue.name, []).append(outcome)
            states = self._states
            if len(states) > 1:
                self._rotation = (self._rotation + 1) % len(states)
                states = states[self._rotation :] + states[: self._rotation]
            now = time.monotonic()
            try:
                for state in states:
                    queue_outcomes = by_queue.pop(state.keys.name, [])
                    due = state.maybe_has_work or (state.next_check and state.next_check <= now)
                    want = min(self._free_slots(), self._batch_cap()) if due else 0
                    notices = self._notices.pop(state.keys.name, [])
                    if notices and queue_outcomes:
                        # a job that also ended since needs no word that it started
                        ended = {id(outcome.job) for outcome in queue_outcomes}
                        notices = [job for job in notices if id(job) not in ended]
                    if not queue_outcomes and not notices and want <= 0:
                        continue
                    await self._finish_and_fetch(state, queue_outcomes, want, notices)
                self._failures = 0
            except BaseException:
                # keep what was not reported for the next attempt
                unsent = [o for rest in by_queue.values() for o in rest]
                self._outcomes = unsent + self._outcomes
                raise
        finally:
            self._in_flight -= 1

    async def _finish_and_fetch(
        self,
        state: _QueueState,
        outcomes: list[Outcome],
        want: int,
        notices: list[RunningJob] | None = None,
    ) -> None:
        self._fetch_counter += 1
        token = f"{self._token_base}:{self._fetch_counter}"
        keys = state.keys
        notices = notices or []
        # Jobs beyond the free running slots wait in the buffer: prefetched.
        start_now = min(
            want, max(self.concurrency - self._active - len(self._buffer) - self._starting, 0)
        )
        self._reserved += want
        self._starting += start_now
        try:
            if outcomes or notices:
                args: list[Any] = [
                    keys.base,
                    self.id,
                    self.lease_ms,
                    want,
                    token,
                    start_now,
                    len(notices),
                ]
                for job in notices:
                    args.extend((job.job_id, job.token))
                args.append(len(outcomes))
                for outcome in outcomes:
                    args.extend(outcome.script_args())
                reply = await state.finish(self._channel, args)
                lost_count = int(reply[3])
                lost = reply[4 : 4 + lost_count]
                jobs_flat = reply[4 + lost_count :]
            else:
                reply = await state.fetch(
                    self._channel, [keys.base, token, self.id, self.lease_ms, want, start_now]
                )
                lost = []
                jobs_flat = reply[3:]
        except _CONNECTION_ERRORS:
            self._outcomes = outcomes + self._outcomes
            if notices:
                self._notices.setdefault(keys.name, [])[:0] = notices
            raise
        finally:
            self._reserved -= want
            self._starting -= start_now
        for outcome in outcomes:
            self._notify_outcome(outcome, lost=outcome.job.job_id in lost)
        status, next_due, server_now = str(reply[0]), int(reply[1]), int(reply[2])
        started = self._start_jobs(state, token, jobs_flat, start_now)
        if want > 0:
            # Only a fetch tells whether work is left; a call that only
            # reported outcomes must not undo a wake-up that arrived meanwhile
            # (a finished chain step releasing the next one, say).
            state.maybe_has_work = status == "ok" and started >= want
        state.next_check = 0.0
        if next_due >= 0:
            state.next_check = time.monotonic() + max(next_due - server_now, 0) / 1000
        if status.startswith("limited:"):
            state.next_check = time.monotonic() + int(status.split(":", 1)[1]) / 1000

    def _start_jobs(self, state: _QueueState, token: str, flat: list[Any], start_now: int) -> int:
        assert self._loop is not None
        started = 0
        for i in range(0, len(flat), 10):
            (
                job_id,
                name,
                data_json,
                options_json,
                attempts,
                _stalls,
                _created,
                has_dependents,
                _,
                results,
            ) = flat[i : i + 10]
            try:
                options = (
                    JobOptions.model_validate(loads(options_json))
                    if options_json
                    else DEFAULT_OPTIONS
                )
                data = loads(data_json)
            except ValueError as exc:
                options, data = DEFAULT_OPTIONS, None
                bad_data: Exception | None = exc
            else:
                bad_data = None
            attempt = int(attempts or 0) + 1
            context = JobContext(
                job_id=job_id,
                queue=state.keys.name,
                name=name,
                data=data,
                attempt=attempt,
                options=options,
                worker_id=self.id,
                _send=self._make_sender(state.keys, job_id, token, options.keep_logs),
                _loop=self._loop,
                dependency_results=_results(results),
            )
            job = RunningJob(state.keys, job_id, token, name, options, attempt, context)
            job.has_dependents = has_dependents == "1"
            job.bad_data = bad_data
            job.reserved = started >= start_now
            self._running[(state.keys.name, job_id)] = job
            self._buffer.append(job)
            started += 1
        self._launch()
        return started

    def _launch(self) -> None:
        """Start buffered jobs while there are free slots."""
        assert self._loop is not None
        if self._stopping:  # a fetch that was in flight when the stop came
            self._hand_back_buffer()
            return
        while self._buffer and self._active < self.concurrency:
            job = self._buffer.popleft()
            job.started = time.monotonic()
            if job.reserved:
                job.reserved = False
                self._notices.setdefault(job.queue.name, []).append(job)
            self._active += 1
            job.task = self._loop.create_task(self._execute(job))
            if self.listener:
                self.listener("active", job, {"attempt": job.attempt})

    # -- running one job --------------------------------------------------

    async def _execute(self, job: RunningJob) -> None:
        outcome: Outcome | None = None
        started = time.monotonic()
        try:
            if job.bad_data is not None:
                raise UnrecoverableError(f"job data is not valid JSON: {job.bad_data}")
            spec = self.processors.get(job.name)
            if spec is None:
                raise UnknownProcessorError(
                    f"no processor named {job.name!r} on worker {self.id} (known: {', '.join(self.processors)})"
                )
            result = await self._call(spec, job)
            outcome = Outcome(job, "c", dumps(result, "job result"), runtime_ms=_ms_since(started))
        except asyncio.CancelledError:
            runtime = _ms_since(started)
            if job.stop_reason == "operator":
                outcome = Outcome(job, "x", "cancelled by an operator", runtime_ms=runtime)
            elif job.stop_reason == "shutdown":
                outcome = Outcome(job, "h", runtime_ms=runtime)
            elif job.stop_reason != "lease-lost":
                raise
        except RateLimitedError as exc:
            outcome = Outcome(
                job, "l", str(exc), delay_ms=max(exc.delay_ms, 0), runtime_ms=_ms_since(started)
            )
        except Exception as exc:
            outcome = self._failure(job, exc, _ms_since(started))
        finally:
            self._active -= 1
            self._running.pop((job.queue.name, job.job_id), None)
            if outcome is not None:
                self._outcomes.append(outcome)
            self._note_run_time(time.monotonic() - started)
            self._launch()
            self._changed.set()

    def _note_run_time(self, seconds: float) -> None:
        """Keeps the recent mean run time that auto prefetch goes by."""
        mean = self._run_time_mean
        self._run_time_mean = seconds if mean is None else mean + (seconds - mean) * 0.1
        self._held_back = False

    async def _call(self, spec: ProcessorSpec, job: RunningJob) -> Any:
        assert self._loop is not None
        timeout_ms = job.options.timeout_ms
        if spec.batch_size is not None:
            awaitable: Any = self._batcher(spec).submit(job.context)
        elif spec.is_async:
            awaitable = spec.function(job.context)
        else:
            awaitable = self._loop.run_in_executor(self._pool, spec.function, job.context)
        if timeout_ms is None:
            return await awaitable
        try:
            async with asyncio.timeout(timeout_ms / 1000) as deadline:
                return await awaitable
        except TimeoutError:
            if deadline.expired():
                job.context.cancelled.set()
                raise JobTimeoutError(f"job timed out after {timeout_ms} ms") from None
            raise

    def _batcher(self, spec: ProcessorSpec) -> Batcher:
        assert self._loop is not None
        batcher = self._batchers.get(spec.name)
        if batcher is None:
            batcher = self._batchers[spec.name] = Batcher(spec, self._loop, self._pool)
        return batcher

    def _failure(self, job: RunningJob, exc: Exception, runtime_ms: int) -> Outcome:
        message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        stack = "".join(traceback.format_exception(exc))[-MAX_STACK_CHARS:]
        final = isinstance(exc, UnrecoverableError | UnknownProcessorError | InvalidJobError)
        if not final and job.attempt < job.options.attempts:
            backoff = job.options.backoff or DEFAULT_BACKOFF
            delay = backoff.delay_for(job.attempt)
            return Outcome(job, "r", message, stack, runtime_ms, delay)
        return Outcome(job, "f", message, stack, runtime_ms)

    def _notify_outcome(self, outcome: Outcome, lost: bool) -> None:
        if lost:
            log.warning(
                "job %s/%s: lease lost before its outcome was recorded (another worker may have run it)",
                outcome.job.queue.name,
                outcome.job.job_id,
            )
        elif outcome.kind == "c":
            self._done += 1
        elif outcome.kind in ("f", "x"):
            self._failed += 1
        if self.listener:
            event = {
                "c": "completed",
                "f": "failed",
                "r": "retrying",
                "x": "cancelled",
                "h": "handed-back",
                "l": "rate-limited",
            }[outcome.kind]
            details: dict[str, Any] = {"runtime_ms": outcome.runtime_ms, "lost": lost}
            if outcome.kind in ("f", "r", "x"):
                details["error"] = outcome.value
            if outcome.delay_ms:
                details["delay_ms"] = outcome.delay_ms
            self.listener(event, outcome.job, details)

    def _hand_back_all(self) -> None:
        for job in list(self._running.values()):
            if job.task and not job.task.done() and job.stop_reason is None:
                job.stop_reason = "shutdown"
                job.context.cancelled.set()
                job.task.cancel()

    def _stop_job(self, queue: str, job_id: str, reason: str) -> None:
        job = self._running.get((queue, job_id))
        if job is None or job.stop_reason is not None:
            return
        if job.task is None:  # prefetched, not started
            self._buffer.remove(job)
            self._running.pop((queue, job_id), None)
            if reason == "operator":
                self._outcomes.append(Outcome(job, "x", "cancelled by an operator"))
            self._changed.set()
            return
        job.stop_reason = reason
        job.context.cancelled.set()
        job.task.cancel()
        if reason == "lease-lost":
            log.warning(
                "job %s/%s: lease lost; another worker may run it; abandoning", queue, job_id
            )
            self._running.pop((queue, job_id), None)

    def _make_sender(
        self, keys: QueueKeys, job_id: str, token: str, keep_logs: int
    ) -> Callable[[str, str, str], Coroutine[Any, Any, None]]:
        async def send(_job_id: str, progress_json: str, line: str) -> None:
            try:
                await self._scripts.progress(
                    self.redis,
                    keys.script_keys,
                    [keys.base, job_id, token, progress_json, line, keep_logs],
                )
            except ResponseError as exc:
                if str(exc) == "lost":
                    self._stop_job(keys.name, job_id, "lease-lost")
                    raise LeaseLostError(
                        f"job {job_id!r}: this worker no longer holds its lease"
                    ) from None
                raise

        return send

    # -- background duties ------------------------------------------------

    async def _wake_loop(self) -> None:
        """Block on the wake-up markers whenever the main loop is hungry."""
        markers = list(self._by_marker)
        failures = 0
        while not self._closed:
            await self._hungry.wait()
            if self._closed:
                return
            timeout = IDLE_RECHECK_S
            now = time.monotonic()
            for state in self._queues.values():
                if state.next_check:
                    timeout = min(timeout, max(state.next_check - now, 0.001))
            try:
                popped = await self.redis.bzpopmin(markers, timeout=timeout)
                failures = 0
            except _CONNECTION_ERRORS:
                failures += 1
                await asyncio.sleep(min(0.05 * 2**failures, 5.0))
                continue
            if popped:
                state = self._by_marker[str(popped[0])]
                state.maybe_has_work = True
                if self._free_slots() <= 0:
                    # not hungry any more: leave the wake-up for another worker
                    await self.redis.zadd(state.keys.marker, {"1": 0})
            else:
                for state in self._queues.values():
                    state.maybe_has_work = True
            self._hungry.clear()
            self._changed.set()

    async def _heartbeat_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.heartbeat_ms / 1000)
            try:
                await self._extend_leases()
                await self._beat()
            except _CONNECTION_ERRORS as exc:
                log.warning("worker %s: heartbeat failed (%s)", self.id, exc)

    async def _extend_leases(self) -> None:
        by_queue: dict[str, list[RunningJob]] = {}
        for job in self._running.values():
            if job.stop_reason is None:
                by_queue.setdefault(job.queue.name, []).append(job)
        for name, jobs in by_queue.items():
            keys = self._queues[name].keys
            args: list[Any] = [keys.base, self.lease_ms, len(jobs)]
            for job in jobs:
                args.extend((job.job_id, job.token))
            reply = await self._scripts.heartbeat(self.redis, keys.script_keys, args)
            split = reply.index("|")
            for job_id in reply[:split]:
                self._stop_job(name, job_id, "lease-lost")
            for job_id in reply[split + 1 :]:
                self._stop_job(name, job_id, "operator")

    async def _beat(self, gone: bool = False) -> None:
        details: list[Any] = [
            "host",
            socket.gethostname(),
            "pid",
            os.getpid(),
            "queues",
            ",".join(self._queues),
            "concurrency",
            self.concurrency,
            "running",
            self._active,
            "done",
            self._done,
            "failed",
            self._failed,
            "started",
            self._started_at,
            "heartbeat_ms",
            self.heartbeat_ms,
        ]
        ttl_s = max(self.heartbeat_ms * 3 // 1000, 5)
        await self._scripts.worker_beat(
            self.redis,
            [worker_registry_key(self.prefix), worker_key(self.id, self.prefix)],
            [self.prefix, "gone" if gone else "beat", ttl_s, self.id, *details],
        )

    async def _sweep_loop(self) -> None:
        while not self._closed:
            try:
                await self.sweep()
            except _CONNECTION_ERRORS as exc:
                log.warning("worker %s: sweep failed (%s)", self.id, exc)
            await asyncio.sleep(self.stall_interval_ms / 1000)

    async def sweep(self, force: bool = False) -> dict[str, int]:
        """Recover abandoned jobs and trim finished ones (if no other worker just did)."""
        totals = {"requeued": 0, "failed": 0, "trimmed": 0}
        for state in self._queues.values():
            keys = state.keys
            reply = await self._scripts.sweep(
                self.redis,
                keys.script_keys,
                [
                    keys.base,
                    self.stall_interval_ms,
                    self.max_stalled,
                    self.keep_completed.count,
                    self.keep_completed.age_ms,
                    self.keep_failed.count,
                    self.keep_failed.age_ms,
                    "1" if force else "0",
                ],
            )
            _swept, requeued, failed, trimmed = (int(v) for v in reply)
            totals["requeued"] += requeued
            totals["failed"] += failed
            totals["trimmed"] += trimmed
            if requeued or failed:
                log.warning(
                    "queue %s: recovered %d abandoned jobs, failed %d that stalled too often",
                    keys.name,
                    requeued,
                    failed,
                )
                state.maybe_has_work = True
                self._changed.set()
        return totals

    async def _cancel_listener(self) -> None:
        """Learn at once when an operator cancels one of this worker's jobs.

        The heartbeat also reports cancellations, so a message missed while
        disconnected is only late, not lost.
        """
        failures = 0
        while not self._closed:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(*self._by_channel)
                failures = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        state = self._by_channel.get(message["channel"])
                        if state is not None:
                            self._stop_job(state.keys.name, str(message["data"]), "operator")
            except _CONNECTION_ERRORS:
                failures += 1
                await asyncio.sleep(min(0.05 * 2**failures, 5.0))
            finally:
                with contextlib.suppress(*_CONNECTION_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _results(flat: Any) -> dict[str, Any]:
    """The results of a job's dependencies, from the fetch reply's nested list."""
    if not flat:
        return {}
    return {str(flat[i]): loads(flat[i + 1]) for i in range(0, len(flat), 2)}


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
