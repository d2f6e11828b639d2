"""``/metrics``: the queues in Prometheus's text format, at a fixed cost per scrape.

A scrape sends a number of Redis commands that depends on the number of
queues and workers, never on the number of jobs: the registry (SMEMBERS),
server time, one pipeline of O(1) calls per queue (counts, the next waiting
jobs, the per-minute metrics of the minutes since the last scrape), the
worker registry and hashes, and one pipeline reading the add time of at most
two jobs per queue.

Completed and failed totals and the run-time summary are counters kept by
this process: each scrape adds what the engine's per-minute metrics gained
since the scrape before (a new server starts them at 0, which Prometheus
reads as a counter reset). The engine keeps sums per minute, not each run,
so run time is a summary (``_sum`` and ``_count``), not a histogram.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from engine.jobhash import JobField, stamp_ms
from engine.keys import STATES, QueueKeys
from engine.monitor import list_workers, server_time_ms
from engine.queue import COUNT_REPLIES, list_queues, pipe_counts, read_counts

CONTENT_TYPE = CONTENT_TYPE_LATEST
LOOKBACK_MINUTES = 15
"""Minutes read back at most per scrape: scrapes further apart than this miss
what finished in between (Prometheus scrapes every 15 to 60 s)."""
PER_QUEUE_FIXED = COUNT_REPLIES + 3
"""Replies per queue before its metrics hashes: counts, paused, list head, zset head."""


@dataclass
class _Totals:
    completed: int = 0
    failed: int = 0
    run_time_ms: int = 0


@dataclass
class MetricsState:
    """What this process has counted so far, per queue."""

    totals: dict[str, _Totals] = field(default_factory=dict)
    seen: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)
    """(queue, minute) -> the completed, failed and run-time sums last read."""
    last_minute: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, queue: str, minute: int, values: tuple[int, int, int]) -> None:
        before = self.seen.get((queue, minute), (0, 0, 0))
        self.seen[(queue, minute)] = values
        totals = self.totals.setdefault(queue, _Totals())
        totals.completed += max(values[0] - before[0], 0)
        totals.failed += max(values[1] - before[1], 0)
        totals.run_time_ms += max(values[2] - before[2], 0)

    def forget_before(self, minute: int) -> None:
        for key in [key for key in self.seen if key[1] < minute]:
            del self.seen[key]


class _Snapshot:
    """The metric families of one scrape, for prometheus-client's text writer."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def scrape(redis: Redis, prefix: str, state: MetricsState) -> bytes:
    """The text exposition of every queue's metrics now."""
    async with state.lock:
        families = await _families(redis, prefix, state)
    return generate_latest(_Snapshot(families))


async def _families(redis: Redis, prefix: str, state: MetricsState) -> list[Metric]:
    names = await list_queues(redis, prefix)
    now_ms = await server_time_ms(redis)
    now_minute = now_ms // 60_000
    first = now_minute if state.last_minute is None else state.last_minute
    minutes = list(range(max(first, now_minute - LOOKBACK_MINUTES + 1), now_minute + 1))
    by_day: dict[int, list[int]] = {}
    for minute in minutes:
        by_day.setdefault(minute // 1440, []).append(minute)
    baseline = state.last_minute is None

    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            keys = QueueKeys(name, prefix)
            pipe_counts(pipe, keys)
            pipe.hexists(keys.meta, "paused")
            pipe.lindex(keys.waiting_list, 0)
            pipe.zrange(keys.waiting, 0, 0)
            for day, day_minutes in by_day.items():
                fields = [f"{kind}{m - day * 1440}" for m in day_minutes for kind in "cft"]
                pipe.hmget(keys.metrics(day), fields)
        replies = await pipe.execute()
    workers = await list_workers(redis, prefix)

    jobs = GaugeMetricFamily("messai_queue_jobs", "Jobs per state.", labels=["queue", "state"])
    paused = GaugeMetricFamily(
        "messai_queue_paused", "1 when job starts are paused.", labels=["queue"]
    )
    oldest = GaugeMetricFamily(
        "messai_queue_oldest_waiting_age_seconds",
        "How long the next waiting job (of the default priority and of the others, the"
        " older) has been in the queue; 0 with none waiting.",
        labels=["queue"],
    )
    candidates: list[tuple[str, str]] = []
    per_queue = PER_QUEUE_FIXED + len(by_day)
    for index, name in enumerate(names):
        chunk = replies[index * per_queue : (index + 1) * per_queue]
        counts = read_counts(chunk[:COUNT_REPLIES])
        for state_name in STATES:
            jobs.add_metric([name, state_name], counts[state_name])
        paused.add_metric([name], 1 if chunk[COUNT_REPLIES] else 0)
        list_head, zset_head = chunk[COUNT_REPLIES + 1], chunk[COUNT_REPLIES + 2]
        candidates.extend((name, job_id) for job_id in [list_head, *zset_head] if job_id)
        values = [value for reply in chunk[PER_QUEUE_FIXED:] for value in reply]
        for position, minute in enumerate(minutes):
            triple = tuple(int(values[position * 3 + k] or 0) for k in range(3))
            if baseline:
                state.seen[(name, minute)] = triple  # type: ignore[assignment]
            else:
                state.add(name, minute, triple)  # type: ignore[arg-type]
        state.totals.setdefault(name, _Totals())
    state.last_minute = now_minute
    state.forget_before(now_minute - LOOKBACK_MINUTES)

    ages = await _added_times(redis, prefix, candidates)
    for name in names:
        added = [ages[key] for key in ages if key[0] == name]
        oldest.add_metric([name], max((now_ms - min(added)) / 1000, 0.0) if added else 0.0)

    completed = CounterMetricFamily(
        "messai_jobs_completed", "Jobs completed (since this server started).", labels=["queue"]
    )
    failed = CounterMetricFamily(
        "messai_jobs_failed",
        "Jobs failed for good or cancelled while running (since this server started).",
        labels=["queue"],
    )
    run_time = SummaryMetricFamily(
        "messai_job_run_time_seconds",
        "Run time of the jobs that finished (completed or failed for good).",
        labels=["queue"],
    )
    for name in names:
        totals = state.totals[name]
        completed.add_metric([name], totals.completed)
        failed.add_metric([name], totals.failed)
        run_time.add_metric(
            [name],
            count_value=totals.completed + totals.failed,
            sum_value=totals.run_time_ms / 1000,
        )

    worker_gauge = GaugeMetricFamily(
        "messai_workers",
        "Worker processes: online, or silent for three heartbeats (gone or stuck).",
        labels=["status"],
    )
    silent = sum(1 for worker in workers if worker.is_silent(now_ms))
    worker_gauge.add_metric(["online"], len(workers) - silent)
    worker_gauge.add_metric(["silent"], silent)
    running = GaugeMetricFamily("messai_worker_jobs_running", "Jobs running on the online workers.")
    running.add_metric(
        [], sum(worker.running for worker in workers if not worker.is_silent(now_ms))
    )
    return [jobs, paused, oldest, completed, failed, run_time, worker_gauge, running]


async def _added_times(
    redis: Redis, prefix: str, candidates: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    if not candidates:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for name, job_id in candidates:
            pipe.hget(QueueKeys(name, prefix).job(job_id), JobField.CREATED.value)
        replies: list[Any] = await pipe.execute()
    return {
        key: int(ms)
        for key, value in zip(candidates, replies, strict=True)
        if (ms := stamp_ms(value)) is not None
    }
