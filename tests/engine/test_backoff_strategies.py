"""Back-off strategies registered by name on the worker, beside fixed and exponential."""

from __future__ import annotations

import asyncio

import pytest

from engine import Backoff, InvalidJobError, JobContext, Queue, Worker
from engine.worker.config import WorkerOptionError
from tests.engine.conftest import StartWorker, wait_for_state


async def _always_fails(ctx: JobContext) -> None:
    raise ValueError(f"boom {ctx.attempt}")


async def test_a_registered_strategy_gets_attempt_and_error_and_sets_the_delay(
    queue: Queue, start_worker: StartWorker
) -> None:
    seen: list[tuple[int, str]] = []
    starts: list[float] = []

    def stepped(attempt: int, error: Exception) -> int:
        seen.append((attempt, str(error)))
        return 300 * attempt

    async def flaky(ctx: JobContext) -> str:
        starts.append(asyncio.get_running_loop().time())
        if ctx.attempt < 3:
            raise ValueError(f"boom {ctx.attempt}")
        return "ok"

    job = await queue.add("flaky", attempts=3, backoff={"type": "stepped"})
    assert job.options.backoff == Backoff(type="stepped")
    await start_worker({"flaky": flaky}, backoff_strategies={"stepped": stepped})
    done = await wait_for_state(queue, job.id, "completed")
    assert done.attempts_made == 3
    assert seen == [(1, "boom 1"), (2, "boom 2")]
    assert starts[1] - starts[0] >= 0.29  # 300 ms after the first run
    assert starts[2] - starts[1] >= 0.59  # 600 ms after the second


async def test_a_strategy_returning_none_stops_the_retries(
    queue: Queue, start_worker: StartWorker
) -> None:
    def give_up_on_value_errors(attempt: int, error: Exception) -> int | None:
        return None if isinstance(error, ValueError) else 10

    job = await queue.add("always", attempts=5, backoff={"type": "picky"})
    await start_worker(
        {"always": _always_fails}, backoff_strategies={"picky": give_up_on_value_errors}
    )
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 1
    assert failed.error == "ValueError: boom 1"


async def test_an_unknown_strategy_fails_the_job_clearly_and_the_worker_goes_on(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("always", attempts=5, backoff={"type": "nowhere"})
    after = await queue.add("echo", {"still": "running"})
    await start_worker({"always": _always_fails}, backoff_strategies={"other": lambda a, e: 1})
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 1
    assert failed.error is not None
    assert failed.error.startswith("ValueError: boom 1 (not retried: unknown backoff strategy")
    assert "'nowhere'" in failed.error and "fixed, exponential, other" in failed.error
    assert (await wait_for_state(queue, after.id, "completed")).result == {"still": "running"}


@pytest.mark.parametrize(
    ("strategy", "reason"),
    [
        (lambda attempt, error: 1 // 0, "raised ZeroDivisionError"),
        (lambda attempt, error: "soon", "returned 'soon'"),
    ],
)
async def test_a_broken_strategy_fails_the_job_with_the_reason(
    queue: Queue, start_worker: StartWorker, strategy: object, reason: str
) -> None:
    job = await queue.add("always", attempts=3, backoff={"type": "broken"})
    await start_worker({"always": _always_fails}, backoff_strategies={"broken": strategy})
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 1
    assert failed.error is not None and reason in failed.error
    assert "not retried: backoff strategy 'broken'" in failed.error


async def test_builtin_types_still_work_beside_registered_ones(
    queue: Queue, start_worker: StartWorker
) -> None:
    job = await queue.add("always", attempts=2, backoff={"type": "fixed", "delay_ms": 10})
    await start_worker({"always": _always_fails}, backoff_strategies={"x": lambda a, e: 0})
    failed = await wait_for_state(queue, job.id, "failed")
    assert failed.attempts_made == 2


async def test_strategy_names_are_checked(queue: Queue, redis_client: object) -> None:
    with pytest.raises(InvalidJobError, match="backoff type"):
        await queue.add("echo", attempts=2, backoff={"type": "no spaces"})
    with pytest.raises(WorkerOptionError, match="is built in"):
        Worker("test-queue", queue.redis, backoff_strategies={"fixed": lambda a, e: 1})
    with pytest.raises(WorkerOptionError, match="not callable"):
        Worker("test-queue", queue.redis, backoff_strategies={"later": 5})  # type: ignore[dict-item]
