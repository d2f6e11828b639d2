"""Order of execution: priorities, FIFO, LIFO, delays, duplicate ids."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from engine import InvalidJobError, JobContext, Queue
from tests.engine.conftest import StartWorker, wait_for_state


async def _run_all(queue: Queue, start_worker: StartWorker, count: int) -> list[str]:
    order: list[str] = []
    done = asyncio.Event()

    async def record(ctx: JobContext) -> None:
        order.append(ctx.data["tag"])
        if len(order) == count:
            done.set()

    await start_worker({"record": record}, concurrency=1)
    await asyncio.wait_for(done.wait(), 10)
    return order


async def test_priorities_then_fifo_within_a_priority(
    queue: Queue, start_worker: StartWorker
) -> None:
    await queue.add("record", {"tag": "low-1"}, priority=10)
    await queue.add("record", {"tag": "default-1"})
    await queue.add("record", {"tag": "high-1"}, priority=1)
    await queue.add("record", {"tag": "low-2"}, priority="low")
    await queue.add("record", {"tag": "default-2"})
    await queue.add("record", {"tag": "high-2"}, priority="high")
    order = await _run_all(queue, start_worker, 6)
    assert order == ["high-1", "high-2", "default-1", "default-2", "low-1", "low-2"]


async def test_lifo_jobs_run_newest_first_ahead_of_fifo(
    queue: Queue, start_worker: StartWorker
) -> None:
    await queue.add("record", {"tag": "fifo-1"})
    await queue.add("record", {"tag": "lifo-1"}, lifo=True)
    await queue.add("record", {"tag": "lifo-2"}, lifo=True)
    await queue.add("record", {"tag": "fifo-2"})
    order = await _run_all(queue, start_worker, 4)
    assert order == ["lifo-2", "lifo-1", "fifo-1", "fifo-2"]


async def test_delayed_job_never_starts_early(queue: Queue, start_worker: StartWorker) -> None:
    started: dict[str, float] = {}
    done = asyncio.Event()

    async def record(ctx: JobContext) -> None:
        started[ctx.data["tag"]] = time.time()
        if len(started) == 2:
            done.set()

    await start_worker({"record": record})
    added = time.time()
    await queue.add("record", {"tag": "later"}, delay_ms=600)
    job = await queue.add("record", {"tag": "now"})
    assert (await queue.get_job(job.id)) is not None
    await asyncio.wait_for(done.wait(), 10)
    assert started["now"] < started["later"]
    assert started["later"] - added >= 0.6 - 0.005  # Redis and local clocks agree on this host
    stored = await queue.get_jobs("completed", 0, -1)
    later = next(j for j in stored if j.data["tag"] == "later")
    assert later.started_ms is not None and later.started_ms - later.created_ms >= 600


async def test_delayed_job_is_in_delayed_state_until_due(queue: Queue) -> None:
    job = await queue.add("noop", delay_ms=60_000)
    assert (await queue.get_job(job.id)).state == "delayed"  # type: ignore[union-attr]
    counts = await queue.counts()
    assert counts["delayed"] == 1 and counts["waiting"] == 0


async def test_duplicate_job_id_returns_the_existing_job(queue: Queue) -> None:
    first = await queue.add("echo", {"v": 1}, job_id="report-2026-11-29")
    second = await queue.add("echo", {"v": 2}, job_id="report-2026-11-29")
    assert first.id == second.id == "report-2026-11-29"
    assert second.data == {"v": 1}
    assert (await queue.counts())["waiting"] == 1
    ids = await queue.add_bulk(
        [("echo", {"v": 3}, {"job_id": "report-2026-11-29"}), ("echo", {"v": 4})]
    )
    assert ids[0] == "report-2026-11-29"
    assert (await queue.counts())["waiting"] == 2


async def test_invalid_options_and_data_write_nothing(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="attempts"):
        await queue.add("noop", attempts=0)
    with pytest.raises(InvalidJobError, match="not JSON-serialisable"):
        await queue.add("noop", {"when": object()})
    with pytest.raises(InvalidJobError, match=r"unknown_option|Extra inputs"):
        await queue.add("noop", unknown_option=1)
    with pytest.raises(InvalidJobError):
        await queue.add_bulk([("noop", None), ("noop", {"bad": {1, 2}})])
    assert sum((await queue.counts()).values()) == 0
    assert await queue.redis.keys("*") == []


async def test_add_bulk_chunks_and_keeps_order(queue: Queue, start_worker: StartWorker) -> None:
    ids = await queue.add_bulk([("echo", {"i": i}) for i in range(2500)])
    assert len(ids) == len(set(ids)) == 2500
    assert (await queue.counts())["waiting"] == 2500
    first_page = await queue.get_jobs("waiting", 0, 2)
    assert [job.data["i"] for job in first_page] == [0, 1, 2]


async def test_job_runs_and_result_is_stored(queue: Queue, start_worker: StartWorker) -> None:
    job = await queue.add("echo", {"hello": "world"})
    await start_worker()
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == {"hello": "world"}
    assert done.attempts_made == 1
    assert done.finished_ms >= done.started_ms >= done.created_ms


async def test_generated_ids_skip_numbers_used_as_custom_ids(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    # Custom ids of digits are refused (tests/engine/test_job_ids.py), but a
    # producer of an older version may have written one: generated ids skip it.
    await redis_client.hset(queue.keys.job("2"), mapping={"n": "echo", "d": '{"custom": true}'})
    first = await queue.add("echo", {"n": 1})
    second = await queue.add("echo", {"n": 2})
    assert "2" not in (first.id, second.id) and first.id != second.id
    assert (await queue.get_job("2")).data == {"custom": True}  # type: ignore[union-attr]


async def test_job_ids_may_hold_colons(queue: Queue) -> None:
    job = await queue.add("noop", job_id="schedule:daily_report:1795996800000")
    assert (await queue.get_job("schedule:daily_report:1795996800000")) is not None
    assert job.id == "schedule:daily_report:1795996800000"
