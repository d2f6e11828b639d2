"""/metrics: Prometheus text, and a Redis cost per scrape that the job count does not change."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import redis
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families

from engine import BulkJob, Queue, Worker
from tests.helpers import await_until


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def commands_run(url: str) -> int:
    """Commands the server ran so far, less the INFO that asks."""
    with redis.Redis.from_url(url) as client:
        stats: dict[str, Any] = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values()) + 0


async def scrape_cost(api: httpx.AsyncClient, url: str) -> int:
    before = commands_run(url)
    response = await api.get("/metrics")
    assert response.status_code == 200
    return commands_run(url) - before - 1  # the INFO of the second reading


async def test_metrics_in_prometheus_text(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue("paper-processing", redis_async)
    await queue.add("noop", {})
    await queue.add("noop", {}, delay_ms=60_000)
    first = await api.get("/metrics")
    assert first.headers["content-type"].startswith("text/plain")
    text = first.text
    assert value(text, "messai_queue_jobs", queue="paper-processing", state="waiting") == 1
    assert value(text, "messai_queue_jobs", queue="paper-processing", state="delayed") == 1
    assert value(text, "messai_queue_paused", queue="paper-processing") == 0
    assert value(text, "messai_queue_oldest_waiting_age_seconds", queue="paper-processing") >= 0
    assert value(text, "messai_jobs_completed_total", queue="paper-processing") == 0
    assert value(text, "messai_workers", status="online") == 0

    async def slow(_ctx: Any) -> str:
        await asyncio.sleep(0.05)
        return "ok"

    async def broken(_ctx: Any) -> None:
        raise ValueError("no")

    await queue.add("fail_now", {}, attempts=1)
    worker = Worker("paper-processing", redis_async, {"noop": slow, "fail_now": broken})
    running = asyncio.create_task(worker.run())
    try:
        await await_until(lambda: _finished(queue, 2), timeout=20)
        text = (await api.get("/metrics")).text
        assert value(text, "messai_workers", status="online") == 1
    finally:
        worker.request_stop()
        await asyncio.wait_for(running, 20)
    assert value(text, "messai_jobs_completed_total", queue="paper-processing") == 1
    assert value(text, "messai_jobs_failed_total", queue="paper-processing") == 1
    assert value(text, "messai_job_run_time_seconds_count", queue="paper-processing") == 2
    assert value(text, "messai_job_run_time_seconds_sum", queue="paper-processing") >= 0.05
    assert value(text, "messai_queue_oldest_waiting_age_seconds", queue="paper-processing") == 0


async def _finished(queue: Queue, n: int) -> bool:
    counts = await queue.counts()
    return counts["completed"] + counts["failed"] >= n


async def test_a_scrape_costs_the_same_commands_for_ten_jobs_or_twenty_thousand(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis, redis_url: str
) -> None:
    names = ["paper-processing", "email-notifications", "data-export"]

    async def fill(jobs: int) -> None:
        # The same shape each time: default-priority, prioritised and delayed jobs.
        for name in names:
            queue = Queue(name, redis_async)
            await queue.add_bulk([BulkJob("noop", {"n": n}) for n in range(jobs)])
            await queue.add_bulk([BulkJob("noop", {}, {"priority": 2}) for _ in range(jobs)])
            await queue.add_bulk([BulkJob("noop", {}, {"delay_ms": 60_000}) for _ in range(jobs)])

    await fill(3)
    await api.get("/metrics")  # the first scrape sets the baseline
    small = await scrape_cost(api, redis_url)
    await fill(7000)
    large = await scrape_cost(api, redis_url)
    assert large == small
    assert small <= 4 + 13 * len(names), small  # registry, time, workers; 13 per queue at most
