"""The worker: its settings, its life from start to stop, and its main loop.

One asyncio loop per process drives everything. The main loop here decides
when to exchange with Redis (:mod:`engine.worker.exchange`: outcomes out,
jobs in, one script call per queue), starts the jobs that arrive
(:mod:`engine.worker.runner` runs each), and waits for the next change: a
job ending, a wake-up, a stop. The background duties
(:mod:`engine.worker.duties`) extend leases, sweep, and listen for wake-ups
and cancellations. Every count of jobs and slots lives in one object,
:class:`engine.worker.slots.Slots`.

Shutdown: the first :meth:`Worker.request_stop` stops fetching (prefetched
jobs go back to ``waiting`` at once) and lets running jobs finish until
``shutdown_grace_ms``. Then async jobs are cancelled and go back to
``waiting`` without spending an attempt. A plain-function job runs in a
thread, which cannot be stopped: its lease is kept and extended until the
thread ends (its ``context.cancelled`` is set, so code that looks at it can
end early), and its outcome is reported as usual, so that no other worker
runs it meanwhile. ``shutdown_timeout_ms`` after the stop request
:meth:`Worker.run` returns anyway; :attr:`Worker.threads_left` says how many
threads still run, whose leases then run out and the sweep of another
worker recovers them (counting a stall).

Pause: :meth:`Worker.pause` (SIGUSR1, or :func:`engine.worker.control.pause_worker`
from another process) stops fetching without stopping the process: running
jobs finish, prefetched ones go back to ``waiting`` at once, and the
registry of workers shows the worker paused until :meth:`Worker.resume`
(SIGUSR2, :func:`~engine.worker.control.resume_worker`).

Errors: whatever Redis answers (see :mod:`engine.worker.faults`) is logged
in one line, backed off from and retried; the worker never exits of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from redis.asyncio import Redis

from engine.backoff import BackoffStrategies, BackoffStrategy
from engine.cluster import is_cluster
from engine.keys import DEFAULT_PREFIX, QueueKeys, worker_control_channel, worker_key
from engine.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED, Keep
from engine.outbox import Courier
from engine.processors import Processor, ProcessorRegistry, diagnostic_processors
from engine.sharded import warn_of_sharded_names
from engine.wire import Channel, WireChannel
from engine.worker.config import (
    DEFAULT_SHUTDOWN_MARGIN_MS,
    WorkerOptionError,
    check_worker_options,
    default_heartbeat_ms,
)
from engine.worker.control import CONTROL_FIELD
from engine.worker.duties import (
    CancelListener,
    Duty,
    Heartbeat,
    Sweeper,
    Wakeup,
    Wakeups,
    stop_duties,
)
from engine.worker.exchange import (
    IDLE_RECHECK_S,
    MAX_IN_FLIGHT,
    Exchange,
    PrefetchPolicy,
    QueueState,
)
from engine.worker.faults import REDIS_ERRORS, FailureLog, warn_if_unsafe_server
from engine.worker.pausing import PauseSwitch
from engine.worker.reporting import JobListener, Reporter
from engine.worker.runner import JobRunner
from engine.worker.shutdown import Shutdown
from engine.worker.slots import Outcome, RunningJob, Slots, SlotsError
from engine.worker.watchdog import Watchdog

WAKE_FETCH_ENV = "MESSAI_WAKE_FETCH"
"""``MESSAI_WAKE_FETCH=0``: an idle worker waits on the marker alone and
fetches after it wakes (a round trip later), as workers of several queues
and on a Redis Cluster always do."""

log = logging.getLogger("engine.worker")


CHECK_SLOTS_ENV = "MESSAI_CHECK_SLOTS"
"""Set to "1", a worker checks its slot account after every exchange (tests do)."""

SUBSCRIBE_WAIT_S = 2.0
"""How long a starting worker waits for its cancel listener before it fetches."""


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
        heartbeat_ms: how often leases are extended (default lease_ms / 3;
            shorter than lease_ms).
        stall_interval_ms: how often this worker sweeps for abandoned jobs
            (unless any worker swept within this interval).
        max_stalled: how many times a job may be abandoned before it fails
            (one abandoned once runs alone: see :mod:`engine.worker.slots`).
        shutdown_grace_ms: how long running jobs may finish after a stop
            request before async ones are cancelled and handed back to
            ``waiting``.
        shutdown_timeout_ms: the longest a stop may take: thread jobs keep
            their leases past the grace period until they end, but
            :meth:`run` returns at this bound (default: the grace period
            plus 30 s) with their leases left to run out.
        prefetch: jobs leased beyond ``concurrency``, so that the next job
            starts the moment one finishes instead of a round trip later
            (they count as active in Redis; a stop hands them back). None
            (the default) is auto: see :class:`PrefetchPolicy`.
        thread_pool_size: threads for plain-function processors (default:
            concurrency).
        keep_completed, keep_failed: retention of finished jobs without a
            rule of their own (``remove_on_complete`` / ``remove_on_fail``):
            applied as they finish and by the background sweep. A job's own
            rule always wins: these never trim a job that has one.
        worker_id: a name for this worker (default host:pid:random).
        backoff_strategies: retry delays by name, for jobs whose ``backoff``
            type is not fixed or exponential: ``strategy(attempt, error)``
            returns the ms before the next attempt, or None for no retry
            (see :mod:`engine.backoff`). A job naming a strategy this worker
            lacks fails for good, saying so.
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
        shutdown_timeout_ms: int | None = None,
        prefetch: int | None = None,
        thread_pool_size: int | None = None,
        keep_completed: Keep = DEFAULT_KEEP_COMPLETED,
        keep_failed: Keep = DEFAULT_KEEP_FAILED,
        worker_id: str | None = None,
        backoff_strategies: Mapping[str, BackoffStrategy] | None = None,
        listener: JobListener | None = None,
    ) -> None:
        names = [queues] if isinstance(queues, str) else list(queues)
        if not names:
            raise ValueError("a worker needs at least one queue")
        check_worker_options(
            concurrency=concurrency,
            lease_ms=lease_ms,
            heartbeat_ms=heartbeat_ms,
            stall_interval_ms=stall_interval_ms,
            max_stalled=max_stalled,
            shutdown_grace_ms=shutdown_grace_ms,
            shutdown_timeout_ms=shutdown_timeout_ms,
            prefetch=prefetch,
            thread_pool_size=thread_pool_size,
        )
        try:
            self.backoffs = BackoffStrategies(backoff_strategies)
        except ValueError as exc:
            raise WorkerOptionError(str(exc)) from None
        self.redis = redis
        self.prefix = prefix
        self.concurrency = concurrency
        self.prefetch = prefetch
        """As configured: a number of jobs, or None (auto)."""
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms or default_heartbeat_ms(lease_ms)
        self.stall_interval_ms = stall_interval_ms
        self.max_stalled = max_stalled
        self.shutdown_grace_ms = shutdown_grace_ms
        self.shutdown_timeout_ms = (
            shutdown_grace_ms + DEFAULT_SHUTDOWN_MARGIN_MS
            if shutdown_timeout_ms is None
            else shutdown_timeout_ms
        )
        self.keep_completed = keep_completed
        self.keep_failed = keep_failed
        self.listener = listener
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._reporter = Reporter(self.id, listener)
        registry = (
            processors
            if isinstance(processors, ProcessorRegistry)
            else ProcessorRegistry(processors)
        )
        self.processors = diagnostic_processors().merged(registry)
        self._queues = {
            name: QueueState.of(QueueKeys(name, prefix), is_cluster(redis))
            for name in dict.fromkeys(names)
        }
        states = list(self._queues.values())
        self.slots = Slots(concurrency, MAX_IN_FLIGHT)
        """Every job this worker holds, and the counts of its slots."""
        self._pool = ThreadPoolExecutor(
            max_workers=thread_pool_size or concurrency, thread_name_prefix="messai-job"
        )
        self._changed = Wakeup()
        """Set when a job finished, a wake-up arrived or a stop was requested."""
        self._policy = PrefetchPolicy(concurrency, prefetch)
        self._runner = JobRunner(
            worker_id=self.id,
            redis=redis,
            processors=self.processors,
            pool=self._pool,
            ended=self._job_ended,
            lease_lost=lambda queue, job_id: self._stop_job(queue, job_id, "lease-lost"),
            backoffs=self.backoffs,
        )
        self._channel = Channel(redis)
        """The hot path's own pipelined connection (finish and fetch)."""
        self._courier = Courier(redis, prefix) if is_cluster(redis) else None
        """On a Redis Cluster: delivers what jobs with dependents owe other queues."""
        self._exchange = Exchange(
            worker_id=self.id,
            lease_ms=lease_ms,
            keep_completed=keep_completed,
            keep_failed=keep_failed,
            queues=states,
            channel=self._channel,
            slots=self.slots,
            policy=self._policy,
            runner=self._runner,
            launch=self._launch,
            reported=self._reporter.reported,
            check_slots=os.environ.get(CHECK_SLOTS_ENV) == "1",
            owes=self._courier.request if self._courier else None,
        )
        waiter = (
            Channel(redis)
            if len(states) == 1 and not is_cluster(redis) and os.environ.get(WAKE_FETCH_ENV) != "0"
            else None
        )
        self._waiter = waiter if isinstance(waiter, WireChannel) else None
        """A single-queue worker's connection for waiting with a fetch behind
        (:meth:`Exchange.fetch_when_woken`); None: the marker alone."""
        self._wakeups = Wakeups(
            redis,
            states,
            self._changed,
            self._exchange.free_slots,
            self.id,
            exchange=self._exchange,
            waiter=self._waiter,
        )
        self._heartbeat = Heartbeat(
            redis,
            worker_id=self.id,
            prefix=prefix,
            lease_ms=lease_ms,
            heartbeat_ms=self.heartbeat_ms,
            queues=states,
            slots=self.slots,
            stop_job=self._stop_job,
            describe=self._describe,
            controlled=lambda raw: self._pausing.controlled(raw),
        )
        self._sweeper = Sweeper(
            redis,
            worker_id=self.id,
            queues=states,
            stall_interval_ms=stall_interval_ms,
            max_stalled=max_stalled,
            keep_completed=keep_completed,
            keep_failed=keep_failed,
            recovered=self._changed.set,
        )
        self._cancels = CancelListener(
            redis,
            states,
            self._stop_job,
            self.id,
            worker_control_channel(self.id, prefix),
            lambda raw: self._pausing.controlled(raw),
        )
        self._pausing = PauseSwitch(
            self.id, self.slots, self._exchange, states, self._pause_changed, self._heartbeat.beat
        )
        self._shutdown = Shutdown(
            worker_id=self.id,
            grace_ms=shutdown_grace_ms,
            timeout_ms=self.shutdown_timeout_ms,
            slots=self.slots,
            runner=self._runner,
            changed=self._changed.set,
        )
        self._watchdog = Watchdog(
            worker_id=self.id,
            lease_ms=lease_ms,
            slots=self.slots,
            exchange=self._exchange,
        )
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0
        self._exchange_error: BaseException | None = None
        self._failures = FailureLog(self.id, "exchange (finish and fetch)")
        self._last_finished_ms = 0
        """Wall-clock ms when a job last ended (the registry of workers shows it)."""
        self._exchanges: set[asyncio.Task[None]] = set()
        self._broken: SlotsError | None = None
        """The slot account failed its check in a background exchange."""

    # -- public ---------------------------------------------------------------

    @property
    def queue_names(self) -> list[str]:
        return list(self._queues)

    @property
    def running_count(self) -> int:
        """Jobs running now (prefetched ones not included)."""
        return self.slots.active

    @property
    def prefetch_now(self) -> int:
        """Jobs this worker leases beyond its concurrency at the moment."""
        return self._policy.now

    @property
    def stopping(self) -> bool:
        return self._shutdown.requested

    def request_stop(self) -> None:
        """Stop fetching; let running jobs finish within the grace period."""
        if self._shutdown.request():
            self._exchange.stopping = True
            self._wakeups.interrupt()

    @property
    def paused(self) -> bool:
        """Whether the worker takes no jobs now (:meth:`pause`)."""
        return self._pausing.paused

    def pause(self) -> None:
        """Stop taking jobs without stopping: running jobs finish (and their
        outcomes are recorded), prefetched ones not started go back to
        ``waiting`` at once. Call it on the worker's event loop (signal
        handlers and control messages do); before :meth:`run`, the worker
        starts paused."""
        self._pausing.pause()

    def resume(self) -> None:
        """Take jobs again after :meth:`pause`."""
        self._pausing.resume()

    @property
    def done_count(self) -> int:
        """Jobs this worker completed (Redis recorded them)."""
        return self._reporter.done

    @property
    def failed_count(self) -> int:
        """Jobs this worker failed for good or saw cancelled."""
        return self._reporter.failed

    @property
    def threads_left(self) -> int:
        """Thread jobs still running when :meth:`run` returned at the shutdown timeout."""
        return self._shutdown.threads_left

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: graceful stop; second: exit at once (another
        worker's sweep recovers the jobs). SIGUSR1 pauses, SIGUSR2 resumes."""
        self._shutdown.install_signal_handlers(self.request_stop)
        loop = asyncio.get_running_loop()
        for name, handler in (("SIGUSR1", self.pause), ("SIGUSR2", self.resume)):
            signum = getattr(signal, name, None)
            if signum is not None:  # not on Windows
                loop.add_signal_handler(signum, handler)

    async def run(self) -> None:
        """Serve the queues until :meth:`request_stop` (or a signal) and a clean
        stop. A worker runs once: calling this again (or while it runs) raises."""
        if self._running or self._loop is not None:
            raise RuntimeError(f"worker {self.id} is already running (or ran): create a new one")
        self._running = self._pausing.serving = True
        self._loop = self._runner.loop = asyncio.get_running_loop()
        self._started_at = int(time.time() * 1000)
        await warn_if_unsafe_server(self.redis)
        await warn_of_sharded_names(self.redis, self.queue_names, self.prefix, self.id)
        try:
            await self._heartbeat.beat()
            # a command stored for an earlier process of the same id is not for this one
            raw = await self.redis.hget(worker_key(self.id, self.prefix), CONTROL_FIELD)
            self._pausing.forget_stored(None if raw is None else str(raw))
        except REDIS_ERRORS as exc:  # a full server, say: the heartbeat duty tries again
            FailureLog(self.id, "worker registry beat").failed(exc)
        self._watchdog.main_task = asyncio.current_task()
        duties: list[Duty] = [
            self._heartbeat,
            self._sweeper,
            self._wakeups,
            self._cancels,
            self._watchdog,
        ]
        helpers = [asyncio.create_task(duty.run(), name=duty.name) for duty in duties]
        # Fetch only once cancels can be heard (or Redis keeps refusing: the
        # heartbeat reports cancels too, a beat later).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cancels.subscribed.wait(), SUBSCRIBE_WAIT_S)
        try:
            await self._main_loop()
        finally:
            self._running = self._pausing.serving = False
            await stop_duties(self.id, duties, helpers)
            if self._courier is not None:
                await self._courier.close()
            await self._channel.close()
            if self._waiter is not None:
                await self._waiter.close()
            with contextlib.suppress(*REDIS_ERRORS):
                await self._heartbeat.beat(gone=True)
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def sweep(self, force: bool = False) -> dict[str, int]:
        """Recover abandoned jobs and trim finished ones (if no other worker just did)."""
        return await self._sweeper.sweep(force)

    def _describe(self) -> dict[str, str | int]:
        """This worker, as the registry of workers lists it."""
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": ",".join(self._queues),
            "concurrency": self.concurrency,
            "running": self.slots.active,
            "done": self._reporter.done,
            "failed": self._reporter.failed,
            "started": self._started_at,
            "heartbeat_ms": self.heartbeat_ms,
            "lease_ms": self.lease_ms,
            "last_finished": self._last_finished_ms,
            "paused": int(self._pausing.paused),
        }

    # -- main loop --------------------------------------------------------

    async def _main_loop(self) -> None:
        slots, exchange = self.slots, self._exchange
        while True:
            if self._broken is not None:
                raise self._broken
            if self._shutdown.requested and self._shutdown.loop_ends():
                return
            error, self._exchange_error = self._exchange_error, None
            if error is not None:
                delay = self._failures.failed(error)
                # Not _wait(): it returns at once while outcomes are pending,
                # and the failed exchange just put them back (a busy loop).
                self._changed.clear()
                await self._changed.wait(
                    min(delay, self._wait_timeout()) if self._shutdown.requested else delay
                )
                continue
            hold = self._policy.release_held(slots)
            if exchange.wanted():
                if slots.active or slots.in_flight:
                    # Jobs are running or coming: exchange in the background,
                    # so that their outcomes can go out in a second call while
                    # this one is in flight (Redis and this process work at once).
                    self._spawn_exchange()
                    continue
                # Nothing could finish or arrive meanwhile: no task needed.
                try:
                    await exchange.run()
                    self._failures.succeeded()
                except REDIS_ERRORS as exc:
                    self._exchange_error = exc
                continue
            if exchange.free_slots() > 0 and not slots.in_flight:
                self._wakeups.hungry.set()
            await self._wait(min(self._wait_timeout(), hold))

    def _pause_changed(self) -> None:
        """Paused or resumed: the main loop looks again, and a wait-and-fetch
        ends now (what it fetched goes back if paused)."""
        self._changed.set()
        self._wakeups.interrupt()

    def _spawn_exchange(self) -> None:
        assert self._loop is not None
        self.slots.exchange_sent()
        task = self._loop.create_task(self._background_exchange())
        self._exchanges.add(task)
        task.add_done_callback(self._exchanges.discard)

    async def _background_exchange(self) -> None:
        try:
            await self._exchange.run(counted=True)
            self._failures.succeeded()
        except REDIS_ERRORS as exc:
            self._exchange_error = exc
        except SlotsError as exc:
            self._broken = exc  # raised by the main loop: a task's exception is lost
        finally:
            self._changed.set()

    def _wait_timeout(self) -> float:
        return self._shutdown.wait_s() if self._shutdown.requested else IDLE_RECHECK_S

    async def _wait(self, seconds: float) -> None:
        self._changed.clear()
        slots = self.slots
        if slots.in_flight < MAX_IN_FLIGHT and (
            slots.has_report
            or (self._shutdown.requested and not slots.held_count and not slots.in_flight)
        ):
            return
        await self._changed.wait(seconds)

    # -- jobs starting and ending -------------------------------------------

    def _launch(self) -> None:
        """Start buffered jobs while there are free slots."""
        slots = self.slots
        if self._shutdown.requested:  # a fetch that was in flight when the stop came
            slots.hand_back_buffered()
            return
        if self._pausing.paused:  # a fetch that was in flight when the pause came
            slots.hand_back_buffered("worker-paused")
            return
        while (job := slots.start_next()) is not None:
            self._runner.start(job)
            self._reporter.started(job)

    def _job_ended(self, job: RunningJob, outcome: Outcome | None, seconds: float) -> None:
        self.slots.finish(job, outcome)
        if job.isolated:
            # nothing was fetched while it ran alone: look at every queue again
            for state in self._queues.values():
                state.maybe_has_work = True
        self._policy.note_run_time(seconds)
        self._last_finished_ms = int(time.time() * 1000)
        self._watchdog.progressed()
        self._launch()
        self._changed.set()

    def _stop_job(self, queue: str, job_id: str, reason: str) -> None:
        """Stop one held job: an operator cancelled it, or its lease was lost."""
        if self._runner.stop_held(self.slots, queue, job_id, reason):
            self._changed.set()
