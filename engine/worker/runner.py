"""Running one job: its context, its processor, and how its run ends.

:class:`JobRunner` turns a fetched job into a :class:`RunningJob` with the
context its processor receives, runs the processor (async on the loop, a
plain function in the thread pool, a batch processor through its
:class:`Batcher`) under the job's timeout, and turns the end of the run
(a result, an exception, a cancellation) into an :class:`Outcome`. It
keeps no account of slots: it reports each end to the worker through the
``ended`` callback, which does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.backoff import BackoffError, BackoffStrategies
from engine.batching import Batcher
from engine.cluster import is_cluster
from engine.codec import dumps, loads
from engine.context import JobContext
from engine.contracts.worker import LEASE_LOST, FetchedJob, OutcomeKind, ProgressRequest
from engine.errors import (
    InvalidJobError,
    JobTimeoutError,
    LeaseLostError,
    RateLimitedError,
    UnknownProcessorError,
    UnrecoverableError,
)
from engine.keys import QueueKeys
from engine.options import DEFAULT_OPTIONS, Backoff, JobOptions
from engine.processors import ProcessorRegistry, ProcessorSpec
from engine.scripts import scripts
from engine.worker.slots import Outcome, RunningJob, Slots

log = logging.getLogger("engine.worker")

DEFAULT_BACKOFF = Backoff(type="exponential", delay_ms=1000)
MAX_ERROR_CHARS = 4000
MAX_STACK_CHARS = 16000

JobEnded = Callable[[RunningJob, "Outcome | None", float], None]
"""``ended(job, outcome, run_seconds)``: the run is over; ``outcome`` is None
when nothing is to be reported (the lease was lost)."""
LeaseLost = Callable[[str, str], None]
"""``lease_lost(queue, job_id)``: a script refused the job's token."""


class JobRunner:
    """Runs the jobs of one worker; see the module docstring."""

    def __init__(
        self,
        *,
        worker_id: str,
        redis: Redis,
        processors: ProcessorRegistry,
        pool: ThreadPoolExecutor,
        ended: JobEnded,
        lease_lost: LeaseLost,
        backoffs: BackoffStrategies | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.backoffs = backoffs or BackoffStrategies()
        self.redis = redis
        self.processors = processors
        self.pool = pool
        self._ended = ended
        self._lease_lost = lease_lost
        self._batchers: dict[str, Batcher] = {}
        self._progress = scripts().progress
        self.loop: asyncio.AbstractEventLoop | None = None
        """Set by the worker when it runs."""

    # -- before the run -----------------------------------------------------

    def prepare(self, keys: QueueKeys, token: str, fetched: FetchedJob) -> RunningJob:
        """A fetched job, ready to run; stored data that cannot be read makes
        it fail at once (``bad_data``) rather than stop the worker."""
        assert self.loop is not None
        try:
            options = (
                JobOptions.model_validate(loads(fetched.options))
                if fetched.options
                else DEFAULT_OPTIONS
            )
            data = loads(fetched.data)
        except ValueError as exc:
            options, data = DEFAULT_OPTIONS, None
            bad_data: Exception | None = exc
        else:
            bad_data = None
        attempt = fetched.attempts + 1
        job_id = fetched.job_id
        context = JobContext(
            job_id=job_id,
            queue=keys.name,
            name=fetched.name,
            data=data,
            attempt=attempt,
            options=options,
            worker_id=self.worker_id,
            _send=self._sender(keys, job_id, token, options.keep_logs),
            _loop=self.loop,
            dependency_results=_results(fetched.results),
        )
        job = RunningJob(keys, job_id, token, fetched.name, options, attempt, context)
        job.has_dependents = fetched.has_dependents
        job.bad_data = bad_data
        job.isolated = fetched.stalls > 0 or fetched.released
        return job

    def _sender(
        self, keys: QueueKeys, job_id: str, token: str, keep_logs: int
    ) -> Callable[[str, str, str], Coroutine[Any, Any, None]]:
        async def send(_job_id: str, progress_json: str, line: str) -> None:
            request = ProgressRequest(job_id, token, progress_json, line, keep_logs)
            try:
                await self._progress(
                    self.redis,
                    keys.script_keys_on(is_cluster(self.redis)),
                    request.full_argv(keys.base),
                )
            except ResponseError as exc:
                if str(exc) == LEASE_LOST:
                    self._lease_lost(keys.name, job_id)
                    raise LeaseLostError(
                        f"job {job_id!r}: this worker no longer holds its lease"
                    ) from None
                raise

        return send

    # -- the run ------------------------------------------------------------

    def start(self, job: RunningJob) -> None:
        """Run ``job`` in a task of its own."""
        assert self.loop is not None
        job.task = self.loop.create_task(self._run(job))

    async def _run(self, job: RunningJob) -> None:
        outcome: Outcome | None = None
        started = time.monotonic()
        try:
            if job.bad_data is not None:
                raise UnrecoverableError(f"job data is not valid JSON: {job.bad_data}")
            spec = self.processors.get(job.name)
            if spec is None:
                raise UnknownProcessorError(
                    f"no processor named {job.name!r} on worker {self.worker_id} "
                    f"(known: {', '.join(self.processors)})"
                )
            result = await self._call(spec, job)
            outcome = Outcome.of(
                job,
                OutcomeKind.COMPLETED,
                dumps(result, "job result"),
                runtime_ms=_ms_since(started),
            )
        except asyncio.CancelledError:
            runtime = _ms_since(started)
            if job.stop_reason == "operator":
                outcome = Outcome.of(
                    job, OutcomeKind.CANCELLED, "cancelled by an operator", runtime_ms=runtime
                )
            elif job.stop_reason == "shutdown":
                outcome = Outcome.of(job, OutcomeKind.HANDED_BACK, runtime_ms=runtime)
            elif job.stop_reason != "lease-lost":
                raise
        except RateLimitedError as exc:
            outcome = Outcome.of(
                job,
                OutcomeKind.RATE_LIMITED,
                str(exc),
                delay_ms=max(exc.delay_ms, 0),
                runtime_ms=_ms_since(started),
            )
        except Exception as exc:
            if job.shutdown_asked:
                # a thread job that ended (likely on ``context.cancelled``)
                # after the grace period: back to waiting, no attempt spent
                outcome = Outcome.of(job, OutcomeKind.HANDED_BACK, runtime_ms=_ms_since(started))
            else:
                outcome = _failure(job, exc, _ms_since(started), self.backoffs)
        finally:
            self._ended(job, outcome, time.monotonic() - started)

    async def _call(self, spec: ProcessorSpec, job: RunningJob) -> Any:
        assert self.loop is not None
        timeout_ms = job.options.timeout_ms
        job.in_thread = not spec.is_async
        if spec.batch_size is not None:
            awaitable: Any = self._batcher(spec).submit(job.context)
        elif spec.is_async:
            awaitable = spec.function(job.context)
        else:
            thread = self.loop.run_in_executor(self.pool, spec.function, job.context)
            if timeout_ms is None:
                return await thread
            return await _thread_within(thread, job, timeout_ms)
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
        assert self.loop is not None
        batcher = self._batchers.get(spec.name)
        if batcher is None:
            batcher = self._batchers[spec.name] = Batcher(spec, self.loop, self.pool)
        return batcher

    @staticmethod
    def threads_running(slots: Slots) -> int:
        """Jobs of ``slots`` whose code runs in a thread now (held or abandoned)."""
        return sum(1 for job in slots.running() if job.in_thread)

    def stop_held(self, slots: Slots, queue: str, job_id: str, reason: str) -> bool:
        """Stop one job of ``slots`` for ``reason`` (an operator cancelled it,
        or its lease was lost); True when a prefetched one left the slots."""
        job = slots.get(queue, job_id)
        if job is None or job.stop_reason is not None:
            return False
        if job.task is None:  # prefetched, not started
            cancelled = (
                Outcome.of(job, OutcomeKind.CANCELLED, "cancelled by an operator")
                if reason == "operator"
                else None
            )
            slots.drop(job, cancelled)
            return True
        self.stop(job, reason)
        if reason == "lease-lost":
            log.warning(
                "job %s/%s: lease lost; another worker may run it; abandoning", queue, job_id
            )
            slots.abandon(job)
        return False

    @staticmethod
    def stop(job: RunningJob, reason: str) -> None:
        """Ask ``job``'s processor to stop (its task is cancelled; a thread
        sees ``context.cancelled``) for ``reason``."""
        assert job.task is not None
        job.stop_reason = reason
        job.context.cancelled.set()
        job.task.cancel()


async def _thread_within(thread: asyncio.Future[Any], job: RunningJob, timeout_ms: int) -> Any:
    """A thread job's result, or JobTimeoutError past ``timeout_ms``: only
    once the thread has returned, since nothing can stop a thread. Till then
    the job keeps its lease and its slot, so no retry runs beside it."""
    done, _ = await asyncio.wait({thread}, timeout=timeout_ms / 1000)
    if not done:
        job.context.cancelled.set()
        log.warning(
            "job %s timed out after %d ms; its thread cannot be stopped, so it keeps "
            "its lease until it returns (check ctx.cancelled in long loops)",
            job.job_id,
            timeout_ms,
        )
        with contextlib.suppress(Exception):
            await thread
        raise JobTimeoutError(f"job timed out after {timeout_ms} ms")
    return thread.result()


def _failure(
    job: RunningJob, exc: Exception, runtime_ms: int, backoffs: BackoffStrategies
) -> Outcome:
    """A failed run: retried after its back-off while attempts are left,
    unless the error says that trying again cannot help, or its back-off
    strategy says not to (None) or cannot say (unknown, raised: the reason
    goes with the error)."""
    message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    stack = "".join(traceback.format_exception(exc))[-MAX_STACK_CHARS:]
    final = isinstance(exc, UnrecoverableError | UnknownProcessorError | InvalidJobError)
    if not final and job.attempt < job.options.attempts:
        backoff = job.options.backoff or DEFAULT_BACKOFF
        try:
            delay = backoffs.delay_ms(backoff, job.attempt, exc)
        except BackoffError as problem:
            reason = f" (not retried: {problem})"[: MAX_ERROR_CHARS // 2]
            message = message[: MAX_ERROR_CHARS - len(reason)] + reason
            delay = None
        if delay is not None:
            return Outcome.of(job, OutcomeKind.RETRY, message, stack, runtime_ms, delay)
    return Outcome.of(job, OutcomeKind.FAILED, message, stack, runtime_ms)


def _results(flat: Sequence[str]) -> dict[str, Any]:
    """The results of a job's dependencies, from the fetch reply's flat list."""
    if not flat:
        return {}
    return {str(flat[i]): loads(flat[i + 1]) for i in range(0, len(flat), 2)}


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
