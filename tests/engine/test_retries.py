"""Retries with backoff, exhausted attempts, timeouts, unknown processors."""

from __future__ import annotations

import asyncio
import threading
import time

from engine import Backoff, JobContext, Queue, RateLimitedError, UnrecoverableError
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until


async def test_fails_twice_then_succeeds_with_backoff(
    queue: Queue, start_worker: StartWorker
) -> None:
    starts: list[int] = []

    async def flaky(ctx: JobContext) -> str:
        starts.append(int(asyncio.get_running_loop().time() * 1000))
        if ctx.attempt < 3:
            raise ValueError(f"boom {ctx.attempt}")
        return "ok"

    job = await queue.add("flaky", attempts=3, backoff=Backoff(type="exponential", delay_ms=100))
    await start_worker({"flaky": flaky})
    done = await wait_for_state(queue, job.id, "completed")
    assert done.attempts_made == 3
    assert done.result == "ok"
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 100  # first retry: 100 ms
    assert starts[2] - starts[1] >= 200  # second retry: 200 ms
    logs = await queue.get_logs(job.id)
    assert any("boom 1" in line for line in logs) and any("boom 2" in line for line in logs)


async def test_exhausted_attempts_keep_error_and_stack(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add(
        "fail", {"message": "disk full"}, attempts=2, backoff={"type": "fixed", "delay_ms": 10}
    )
    await start_worker()
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 2
    assert failed.error == "RuntimeError: disk full"
    assert failed.stack and "Traceback" in failed.stack and "disk full" in failed.stack
    assert len(await queue.get_logs(job.id)) == 2


async def test_a_thread_job_past_its_timeout_is_retried_only_once_its_thread_returns(
    queue: Queue, start_worker: StartWorker
) -> None:
    """A thread cannot be stopped: the timed-out run keeps its lease (and its
    slot) until the thread returns, so its retry never runs beside it."""
    lock = threading.Lock()
    runs: list[tuple[int, float, float]] = []

    def slow(ctx: JobContext) -> None:
        started = time.monotonic()
        time.sleep(0.6 if ctx.attempt == 1 else 0)
        with lock:
            runs.append((ctx.attempt, started, time.monotonic()))

    job = await queue.add(
        "slow", timeout_ms=100, attempts=2, backoff={"type": "fixed", "delay_ms": 0}
    )
    await start_worker({"slow": slow}, concurrency=2)
    done = await wait_for_state(queue, job.id, "completed")
    assert done.attempts_made == 2
    assert any("timed out after 100 ms" in line for line in await queue.get_logs(job.id))
    await await_until(lambda: len(runs) == 2)
    (first, _, first_end), (second, second_start, _) = sorted(runs)
    assert (first, second) == (1, 2)
    assert second_start >= first_end, "the retry ran beside the thread that timed out"


async def test_timeout_ends_a_stuck_job_and_frees_its_slot(
    queue: Queue, start_worker: StartWorker
) -> None:
    async def stuck(ctx: JobContext) -> None:
        await asyncio.sleep(3600)

    stuck_job = await queue.add("stuck", timeout_ms=200)
    next_job = await queue.add("echo", {"after": "stuck"})
    await start_worker({"stuck": stuck}, concurrency=1)
    failed = await wait_for_state(queue, stuck_job.id, "failed")
    assert failed.error is not None and "timed out after 200 ms" in failed.error
    await wait_for_state(queue, next_job.id, "completed")


async def test_sync_processor_timeout(queue: Queue, start_worker: StartWorker) -> None:
    def blocking(ctx: JobContext) -> None:
        ctx.cancelled.wait(5)

    job = await queue.add("blocking", timeout_ms=100)
    await start_worker({"blocking": blocking})
    failed = await wait_for_state(queue, job.id, "failed")
    assert "timed out" in (failed.error or "")


async def test_unrecoverable_error_skips_remaining_attempts(
    queue: Queue, start_worker: StartWorker
) -> None:
    async def bad(ctx: JobContext) -> None:
        raise UnrecoverableError("payload refers to a deleted paper")

    job = await queue.add("bad", attempts=5)
    await start_worker({"bad": bad})
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 1


async def test_unknown_processor_fails_with_clear_error(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("no_such_processor", attempts=3)
    await start_worker()
    failed = await wait_for_state(queue, job.id, "failed")
    assert "no processor named 'no_such_processor'" in (failed.error or "")


async def test_rate_limited_processor_does_not_spend_an_attempt(
    queue: Queue, start_worker: StartWorker
) -> None:
    calls: list[int] = []

    async def provider(ctx: JobContext) -> str:
        calls.append(ctx.attempt)
        if len(calls) < 3:
            raise RateLimitedError(20, "provider answered 429")
        return "sent"

    job = await queue.add("provider", attempts=1)
    await start_worker({"provider": provider})
    done = await wait_for_state(queue, job.id, "completed")
    assert calls == [1, 1, 1]
    assert done.attempts_made == 1


async def test_sync_processor_runs_in_thread_with_progress(
    queue: Queue, start_worker: StartWorker
) -> None:
    def crunch(ctx: JobContext) -> int:
        ctx.progress(50, "half way")
        ctx.log("a line from a thread")
        return sum(range(1000))

    job = await queue.add("crunch")
    await start_worker({"crunch": crunch})
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == 499500
    assert done.progress == {"pct": 50.0, "msg": "half way"}
    assert "a line from a thread" in await queue.get_logs(job.id)


async def test_batch_processor_gets_jobs_together_with_per_job_outcomes(
    queue: Queue, start_worker: StartWorker
) -> None:
    from engine import ProcessorRegistry

    registry = ProcessorRegistry()
    calls: list[int] = []

    @registry.register_batch("send_email", max_batch=100)
    async def send_batch(contexts: list[JobContext]) -> list[object]:
        calls.append(len(contexts))  # one SMTP connection for all of them
        return [
            ValueError(f"bad address {ctx.data['to']}")
            if "@" not in ctx.data["to"]
            else f"sent to {ctx.data['to']}"
            for ctx in contexts
        ]

    ids = await queue.add_bulk([("send_email", {"to": f"user{i}@example.com"}) for i in range(150)])
    bad = await queue.add("send_email", {"to": "nobody"}, attempts=1)
    await start_worker(registry, concurrency=200)
    failed = await wait_for_state(queue, bad.id, "failed")
    assert failed.error == "ValueError: bad address nobody"
    done = [await wait_for_state(queue, job_id, "completed") for job_id in ids]
    assert done[0].result == "sent to user0@example.com"
    assert max(calls) <= 100 and sum(calls) == 151 and len(calls) <= 4
