"""The measurements behind ``messai-console bench``.

Each runs against a throwaway queue (removed afterwards) on the configured
Redis, with the engine in its normal configuration: leases, fencing, events,
metrics and retention all on. Workers run in their own processes
(``messai-console worker``), as in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio

from engine.jobhash import JobField, stamp_ms
from engine.queue import BulkJob, Queue
from messai_console.bench.workloads import COUNTER_KEY, URL_VARIABLE, WORKLOADS

Progress = Callable[[str, float], None]
"""Called with (phase description, fraction done 0..1)."""


def _quiet(_phase: str, _fraction: float) -> None:
    return None


@dataclass
class BenchConfig:
    url: str
    prefix: str = "messai"
    n: int = 10_000
    payload_bytes: int = 200
    processes: int = 1
    prefetch: str = "auto"
    """The workers' --prefetch."""
    latency_jobs: int = 300
    latency_rate: float = 100.0
    memory_jobs: int = 100_000
    workloads: tuple[str, ...] = WORKLOADS
    """Job kinds drained (see ``workloads.py``): noop, redis_call, sleep_1ms."""
    loop: str = "asyncio"
    """The workers' --loop (the benchmark's own loop is the caller's)."""


@dataclass
class BenchResult:
    floor_single_ops: float = 0.0
    """The median of the floor samples: the machine's speed moves during a run."""
    floor_pipelined_ops: float = 0.0
    floor_samples: list[tuple[float, float]] = field(default_factory=list)
    """(single, pipelined) rates measured before, between and after the other figures."""
    enqueue_single: float = 0.0
    enqueue_bulk: float = 0.0
    drain: dict[str, dict[int, float]] = field(default_factory=dict)
    """Jobs per second by workload, then by concurrency."""
    latency_ms: dict[str, float] = field(default_factory=dict)
    memory_bytes_per_job: float = 0.0
    server: ServerInfo | None = None
    loop: str = ""

    def ratios(self) -> dict[str, float]:
        single, piped = self.floor_single_ops or 1.0, self.floor_pipelined_ops or 1.0
        ratios = {
            "enqueue_single": self.enqueue_single / single,
            "enqueue_bulk": self.enqueue_bulk / piped,
        }
        for workload, rates in self.drain.items():
            for concurrency, rate in rates.items():
                ratios[f"drain_{workload}_c{concurrency}"] = rate / single
        return ratios

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server.to_dict() if self.server else None,
            "loop": self.loop,
            "floor": {
                "single_ops_per_s": self.floor_single_ops,
                "pipelined_ops_per_s": self.floor_pipelined_ops,
                "samples": [list(sample) for sample in self.floor_samples],
            },
            "enqueue": {
                "single_jobs_per_s": self.enqueue_single,
                "bulk_jobs_per_s": self.enqueue_bulk,
            },
            "drain": {
                workload: {f"c{c}_jobs_per_s": rate for c, rate in rates.items()}
                for workload, rates in self.drain.items()
            },
            "latency_ms": self.latency_ms,
            "memory": {"bytes_per_waiting_job": self.memory_bytes_per_job},
            "ratios": self.ratios(),
        }


def median_result(results: list[BenchResult]) -> BenchResult:
    """Each figure's median over repeated runs."""

    def med(values: list[float]) -> float:
        return float(statistics.median(values)) if values else 0.0

    merged = BenchResult(
        floor_single_ops=med([r.floor_single_ops for r in results]),
        floor_pipelined_ops=med([r.floor_pipelined_ops for r in results]),
        floor_samples=[sample for r in results for sample in r.floor_samples],
        enqueue_single=med([r.enqueue_single for r in results]),
        enqueue_bulk=med([r.enqueue_bulk for r in results]),
        memory_bytes_per_job=med([r.memory_bytes_per_job for r in results]),
        server=results[0].server,
        loop=results[0].loop,
    )
    for workload, rates in results[0].drain.items():
        merged.drain[workload] = {
            concurrency: med([r.drain[workload][concurrency] for r in results])
            for concurrency in rates
        }
    for key in results[0].latency_ms:
        merged.latency_ms[key] = med([r.latency_ms[key] for r in results])
    return merged


@dataclass(frozen=True)
class ServerInfo:
    """The Redis a run measured, and whether its hashes stay compact."""

    version: str
    hash_max_listpack_value: int | None
    """None when CONFIG is refused (managed services often rename it)."""

    @property
    def configuration(self) -> str:
        """embedded (1024, as the embedded server sets it), default (64), or custom."""
        value = self.hash_max_listpack_value
        if value == EMBEDDED_LISTPACK_VALUE:
            return "embedded"
        if value == DEFAULT_LISTPACK_VALUE:
            return "default"
        return "unknown" if value is None else "custom"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "hash_max_listpack_value": self.hash_max_listpack_value,
            "configuration": self.configuration,
        }


EMBEDDED_LISTPACK_VALUE = 1024
DEFAULT_LISTPACK_VALUE = 64


async def server_info(client: redis.asyncio.Redis) -> ServerInfo:
    version = str((await client.info("server")).get("redis_version", "?"))
    value: int | None = None
    # hash-max-ziplist-value is the name Redis 6 knows; 7 keeps it as an alias
    for name in ("hash-max-listpack-value", "hash-max-ziplist-value"):
        try:
            answer = await client.config_get(name)
        except redis.ResponseError:
            break
        found = answer.get(name)
        if found is not None:
            value = int(found)
            break
    return ServerInfo(version, value)


def _payload(size: int) -> dict[str, str]:
    """A JSON object that serialises to ``size`` bytes (at least 12)."""
    return {"blob": "x" * max(size - 12, 0)}


class Bench:
    """Runs the measurements; one throwaway queue per measurement."""

    def __init__(self, config: BenchConfig, progress: Progress = _quiet) -> None:
        self.config = config
        self.progress = progress
        self._workers: list[subprocess.Popen[bytes]] = []

    async def run(self, concurrencies: tuple[int, ...] = (1, 50)) -> BenchResult:
        client = redis.asyncio.Redis.from_url(self.config.url, decode_responses=True)
        result = BenchResult(loop=self.config.loop)
        try:
            result.server = await server_info(client)
            # the floor is sampled between the measurements, as a shared
            # machine's speed moves within a run; ratios use the median
            result.floor_samples.append(await self.floor(client))
            result.enqueue_single, result.enqueue_bulk = await self.enqueue(client)
            for workload in self.config.workloads:
                result.drain[workload] = {}
                for concurrency in concurrencies:
                    rate = await self.drain(client, concurrency, workload)
                    result.drain[workload][concurrency] = rate
                result.floor_samples.append(await self.floor(client))
            result.latency_ms = await self.latency(client)
            result.memory_bytes_per_job = await self.memory(client)
            result.floor_single_ops = statistics.median(f[0] for f in result.floor_samples)
            result.floor_pipelined_ops = statistics.median(f[1] for f in result.floor_samples)
        finally:
            self._stop_workers()
            await client.aclose()
        return result

    # -- floor --------------------------------------------------------------

    async def floor(self, client: redis.asyncio.Redis) -> tuple[float, float]:
        """Awaited PINGs per second, and pipelined PINGs per second, with redis-py."""
        n = max(self.config.n // 2, 2000)
        self.progress("floor: single round trips", 0.0)
        start = time.perf_counter()
        for i in range(n):
            await client.ping()
            if i % 500 == 0:
                self.progress("floor: single round trips", i / n)
        single = n / (time.perf_counter() - start)
        self.progress("floor: pipelined", 0.0)
        batches, per_batch = 20, 1000
        start = time.perf_counter()
        for i in range(batches):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(per_batch):
                    pipe.ping()
                await pipe.execute()
            self.progress("floor: pipelined", (i + 1) / batches)
        piped = batches * per_batch / (time.perf_counter() - start)
        return single, piped

    # -- enqueue ------------------------------------------------------------

    async def enqueue(self, client: redis.asyncio.Redis) -> tuple[float, float]:
        n, data = self.config.n, _payload(self.config.payload_bytes)
        queue = self._queue(client, "enqueue")
        try:
            start = time.perf_counter()
            for i in range(n):
                await queue.add("noop", data)
                if i % 500 == 0:
                    self.progress("enqueue: one at a time", i / n)
            single = n / (time.perf_counter() - start)
            await queue.obliterate(force=True)
            self.progress("enqueue: add_bulk", 0.0)
            jobs = [BulkJob("noop", data)] * n
            start = time.perf_counter()
            await queue.add_bulk(jobs)
            bulk = n / (time.perf_counter() - start)
        finally:
            await queue.obliterate(force=True)
        return single, bulk

    # -- drain --------------------------------------------------------------

    async def drain(
        self, client: redis.asyncio.Redis, concurrency: int, workload: str = "noop"
    ) -> float:
        """Jobs per second from the first start to the last completion."""
        n = self.config.n
        queue = self._queue(client, f"drain-c{concurrency}")
        phase = f"drain {workload}: concurrency {concurrency} x {self.config.processes} process(es)"
        try:
            await queue.add_bulk([BulkJob(workload, _payload(self.config.payload_bytes))] * n)
            self._start_workers(queue.name, concurrency)
            first_start = await self._first_start(queue)
            while True:
                counts = await queue.counts()
                left = counts["waiting"] + counts["active"] + counts["delayed"]
                self.progress(phase, 1 - left / n)
                if left == 0:
                    break
                await asyncio.sleep(0.005)
            if counts["failed"]:
                raise RuntimeError(f"drain {workload}: {counts['failed']} of {n} jobs failed")
            newest: Any = await client.zrevrange(queue.keys.completed, 0, 0, withscores=True)
            last_finish = newest[0][1]
            self._stop_workers()
            return n / max((float(last_finish) - first_start) / 1000, 1e-6)
        finally:
            self._stop_workers()
            await queue.obliterate(force=True)
            await client.delete(COUNTER_KEY)

    async def _first_start(self, queue: Queue) -> float:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = await queue.redis.hget(queue.keys.job("1"), "st")
            if started:
                return float(started)
            await asyncio.sleep(0.002)
        raise RuntimeError("no worker started a job within 60 s")

    # -- latency -------------------------------------------------------------

    async def latency(self, client: redis.asyncio.Redis) -> dict[str, float]:
        """Start time minus enqueue time (both Redis's clock) on an idle worker."""
        queue = self._queue(client, "latency")
        jobs = self.config.latency_jobs
        try:
            await queue.add("noop")  # registers the queue; the worker warms up on it
            self._start_workers(queue.name, 1, processes=1)
            await self._until_empty(queue)
            interval = 1 / self.config.latency_rate
            next_at = time.perf_counter()
            ids = []
            for i in range(jobs):
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                ids.append((await queue.add("noop")).id)
                if i % 20 == 0:
                    self.progress("latency: 100 jobs/s on an idle worker", i / jobs)
            await self._until_empty(queue)
            latencies = []
            async with client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hmget(queue.keys.job(job_id), JobField.CREATED, JobField.STARTED)
                rows = await pipe.execute()
            for created, started in rows:
                created_ms, started_ms = stamp_ms(created), stamp_ms(started)
                if created_ms is not None and started_ms is not None:
                    latencies.append(started_ms - created_ms)
            latencies.sort()
            return {
                "p50": _percentile(latencies, 50),
                "p95": _percentile(latencies, 95),
                "p99": _percentile(latencies, 99),
                "jobs": float(len(latencies)),
            }
        finally:
            self._stop_workers()
            await queue.obliterate(force=True)

    async def _until_empty(self, queue: Queue) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = await queue.counts()
            if counts["waiting"] + counts["active"] + counts["delayed"] == 0:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError(f"queue {queue.name} did not empty within 120 s")

    # -- memory --------------------------------------------------------------

    async def memory(self, client: redis.asyncio.Redis) -> float:
        """Redis bytes per waiting job with the configured payload size."""
        n = self.config.memory_jobs
        queue = self._queue(client, "memory")
        try:
            await queue.add("noop")  # the queue's own keys exist before measuring
            before = int((await client.info("memory"))["used_memory"])
            data = _payload(self.config.payload_bytes)
            done = 0
            while done < n:
                chunk = min(10_000, n - done)
                await queue.add_bulk([BulkJob("noop", data)] * chunk)
                done += chunk
                self.progress(f"memory: {n:,} waiting jobs", done / n)
            after = int((await client.info("memory"))["used_memory"])
            return (after - before) / n
        finally:
            await queue.obliterate(force=True)

    # -- helpers -------------------------------------------------------------

    def _queue(self, client: redis.asyncio.Redis, label: str) -> Queue:
        return Queue(f"bench-{label}-{uuid.uuid4().hex[:8]}", client, prefix=self.config.prefix)

    def _start_workers(self, queue: str, concurrency: int, processes: int | None = None) -> None:
        command = [
            str(Path(sys.executable).parent / "messai-console"),
            "--redis-url",
            self.config.url,
            "worker",
            "--queue",
            queue,
            "--concurrency",
            str(concurrency),
            "--prefetch",
            str(self.config.prefetch),
            "--processors",
            "messai_console.bench.workloads:registry",
            "--loop",
            self.config.loop,
            "--quiet",
        ]
        env = {
            **os.environ,
            "MESSAI_PREFIX": self.config.prefix,
            "INIT_SCHEDULED_JOBS": "false",  # a benchmark leaves no schedules behind
            URL_VARIABLE: self.config.url,
        }
        for _ in range(processes or self.config.processes):
            self._workers.append(
                subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

    def _stop_workers(self) -> None:
        for process in self._workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._workers.clear()


def _percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(percent / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]
