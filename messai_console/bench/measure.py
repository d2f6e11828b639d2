"""The measurements behind ``messai-console bench``.

Each runs against a throwaway queue (removed afterwards) on the configured
Redis, with the engine in its normal configuration: leases, fencing, events,
metrics and retention all on. Workers run in their own processes
(``messai-console worker``), as in production.
"""

from __future__ import annotations

import asyncio
import json
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

from engine.channel import server_address
from engine.cluster import is_cluster
from engine.connection import connect
from engine.jobhash import JobField, stamp_ms
from engine.queue import BulkJob, Queue
from messai_console.bench.cluster import (
    MasterCounters,
    master_clients,
    master_counters,
    node_client,
    queue_names_on,
)
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
    spread_queues: int | None = None
    """Queues of the spread drain (over one master, then over all): None is 6
    on a cluster and none on one server (0: no spread drain)."""
    spread_concurrency: int = 50
    """Each worker process's concurrency in the spread drain."""

    def spread_count(self, cluster: bool) -> int:
        if self.spread_queues is None:
            return DEFAULT_SPREAD_QUEUES if cluster else 0
        return self.spread_queues


DEFAULT_SPREAD_QUEUES = 6


@dataclass
class MasterLoad:
    """One master during a spread drain."""

    queues: int
    jobs: int
    jobs_per_s: float
    """Its queues' jobs over the drain's whole window."""
    ops_per_s: float
    """Commands it processed per second (total_commands_processed)."""
    script_calls_per_s: float
    """The engine's script calls per second (FCALL / EVALSHA)."""
    cpu_percent: float
    """The server's CPU (user + system) over the drain, in percent of one core."""
    cpu_us_per_job: float
    """The server's CPU per job of its queues, in microseconds (0 without jobs)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "queues": self.queues,
            "jobs": self.jobs,
            "jobs_per_s": self.jobs_per_s,
            "ops_per_s": self.ops_per_s,
            "script_calls_per_s": self.script_calls_per_s,
            "cpu_percent": self.cpu_percent,
            "cpu_us_per_job": self.cpu_us_per_job,
        }


@dataclass
class SpreadResult:
    """A drain of queues spread over some of a cluster's masters."""

    masters_used: int
    processes: int
    concurrency: int
    jobs_per_s: float
    masters: dict[str, MasterLoad] = field(default_factory=dict)
    """Every master of the cluster (the unused ones too), by host:port."""
    per_process_jobs_per_s: list[float] = field(default_factory=list)
    """Each worker process's jobs per second, highest first."""

    @property
    def ops_balance(self) -> float:
        """Highest over lowest ops/s among the masters that held queues (1.0: even)."""
        used = [load.ops_per_s for load in self.masters.values() if load.queues]
        return max(used) / max(min(used), 1e-9) if used else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "masters_used": self.masters_used,
            "processes": self.processes,
            "concurrency": self.concurrency,
            "jobs_per_s": self.jobs_per_s,
            "per_process_jobs_per_s": self.per_process_jobs_per_s,
            "ops_balance_max_over_min": self.ops_balance,
            "masters": {name: load.to_dict() for name, load in self.masters.items()},
        }


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
    spread: list[SpreadResult] = field(default_factory=list)
    """On a cluster: the drain over one master, then over every master."""

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
            "spread": [spread.to_dict() for spread in self.spread],
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
        # each run's spread drains are reported, not merged: their per-master
        # figures only mean something within one run
        spread=[spread for r in results for spread in r.spread],
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
        # the engine's client: a cluster client on a redis+cluster:// URL
        client = connect(self.config.url, decode_responses=True)
        # on a cluster the floor and the server's settings are one master's
        first_master = await node_client(client)
        single = first_master or client
        result = BenchResult(loop=self.config.loop)
        try:
            result.server = await server_info(single)
            # the floor is sampled between the measurements, as a shared
            # machine's speed moves within a run; ratios use the median
            result.floor_samples.append(await self.floor(single))
            result.enqueue_single, result.enqueue_bulk = await self.enqueue(client)
            for workload in self.config.workloads:
                result.drain[workload] = {}
                for concurrency in concurrencies:
                    rate = await self.drain(client, concurrency, workload)
                    result.drain[workload][concurrency] = rate
                result.floor_samples.append(await self.floor(single))
            result.latency_ms = await self.latency(client)
            result.memory_bytes_per_job = await self.memory(client)
            if self.config.spread_count(is_cluster(client)):
                result.spread = await self.spread_over_masters(client)
            result.floor_single_ops = statistics.median(f[0] for f in result.floor_samples)
            result.floor_pipelined_ops = statistics.median(f[1] for f in result.floor_samples)
        finally:
            self._stop_workers()
            if first_master is not None:
                await first_master.aclose()
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
        """On an idle worker, from the add (Redis's clock) to the moment the
        job's processor began (the worker's clock: the same one on one
        machine): p50/p95/p99; and to the lease in Redis (lease_p50...)."""
        queue = self._queue(client, "latency")
        jobs = self.config.latency_jobs
        try:
            await queue.add("stamp")  # registers the queue; the worker warms up on it
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
                ids.append((await queue.add("stamp")).id)
                if i % 20 == 0:
                    self.progress("latency: 100 jobs/s on an idle worker", i / jobs)
            await self._until_empty(queue)
            async with client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hmget(
                        queue.keys.job(job_id), JobField.CREATED, JobField.STARTED, JobField.RESULT
                    )
                rows = await pipe.execute()
            began, leased = [], []
            for created, started, result in rows:
                created_ms, started_ms = stamp_ms(created), stamp_ms(started)
                if created_ms is None or started_ms is None or result is None:
                    continue
                leased.append(started_ms - created_ms)
                began.append(float(json.loads(result)) - created_ms)
            began.sort()
            leased.sort()
            return {
                "p50": _percentile(began, 50),
                "p95": _percentile(began, 95),
                "p99": _percentile(began, 99),
                "lease_p50": _percentile(leased, 50),
                "lease_p95": _percentile(leased, 95),
                "lease_p99": _percentile(leased, 99),
                "jobs": float(len(began)),
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
        # on a cluster, INFO of the master that holds the queue
        owner = await node_client(client, queue.keys.meta)
        server = owner or client
        try:
            await queue.add("noop")  # the queue's own keys exist before measuring
            before = int((await server.info("memory"))["used_memory"])
            data = _payload(self.config.payload_bytes)
            done = 0
            while done < n:
                chunk = min(10_000, n - done)
                await queue.add_bulk([BulkJob("noop", data)] * chunk)
                done += chunk
                self.progress(f"memory: {n:,} waiting jobs", done / n)
            after = int((await server.info("memory"))["used_memory"])
            return (after - before) / n
        finally:
            await queue.obliterate(force=True)
            if owner is not None:
                await owner.aclose()

    # -- spread over a cluster's masters -------------------------------------

    async def spread_over_masters(self, client: Any) -> list[SpreadResult]:
        """The same drain (same jobs, queues and worker processes) with every
        queue on one master, then with the queues spread over all of them (on
        one server: the drain on it, to set beside a cluster's)."""
        if is_cluster(client):
            masters = await master_clients(client)
        else:
            server = connect(self.config.url, decode_responses=True)
            masters = {server_address(server.connection_pool.connection_kwargs): server}
        try:
            names = list(masters)
            runs = [[names[0]]] + ([names] if len(names) > 1 else [])
            return [await self.spread(client, masters, used) for used in runs]
        finally:
            for master in masters.values():
                await master.aclose()

    async def spread(
        self, client: Any, masters: dict[str, redis.asyncio.Redis], used: list[str]
    ) -> SpreadResult:
        """Drain ``n`` no-op jobs from queues spread round-robin over ``used``;
        every worker process serves every queue."""
        config = self.config
        stem = f"bench-spread-{uuid.uuid4().hex[:8]}"
        count = config.spread_count(is_cluster(client))
        placed = (
            queue_names_on(client, used, count, stem, config.prefix)
            if is_cluster(client)
            else {used[0]: [f"{stem}-{index}" for index in range(count)]}
        )
        queues = {
            master: [Queue(name, client, prefix=config.prefix) for name in names]
            for master, names in placed.items()
        }
        every = [queue for group in queues.values() for queue in group]
        per_queue = max(config.n // len(every), 1)
        phase = f"spread over {len(used)} master(s): {len(every)} queues"
        data = _payload(config.payload_bytes)
        try:
            for index, queue in enumerate(every):
                await queue.add_bulk([BulkJob("noop", data)] * per_queue)
                self.progress(f"{phase}, adding", (index + 1) / len(every))
            self._start_workers([queue.name for queue in every], config.spread_concurrency)
            first_start = min(await asyncio.gather(*(self._first_start(queue) for queue in every)))
            before, started = await master_counters(masters), time.perf_counter()
            total = per_queue * len(every)
            while True:
                left = 0
                for queue in every:
                    counts = await queue.counts()
                    left += counts["waiting"] + counts["active"] + counts["delayed"]
                self.progress(phase, 1 - left / total)
                if left == 0:
                    break
                await asyncio.sleep(0.02)
            after, elapsed = await master_counters(masters), time.perf_counter() - started
            self._stop_workers()
            finished = {queue.name: await self._last_finish(queue) for queue in every}
            window_s = max((max(finished.values()) - first_start) / 1000, 1e-6)
            # each master's jobs over the time until its own last finish
            windows = {
                name: max((max(finished[queue.name] for queue in group) - first_start) / 1000, 1e-6)
                for name, group in queues.items()
                if group
            }
            by_worker = await self._jobs_by_worker(every)
            return SpreadResult(
                masters_used=len(used),
                processes=config.processes,
                concurrency=config.spread_concurrency,
                jobs_per_s=total / window_s,
                masters={
                    name: _master_load(
                        len(queues.get(name, [])) * per_queue,
                        len(queues.get(name, [])),
                        before[name],
                        after[name],
                        elapsed,
                        windows.get(name, window_s),
                    )
                    for name in masters
                },
                per_process_jobs_per_s=sorted(
                    (count / window_s for count in by_worker.values()), reverse=True
                ),
            )
        finally:
            self._stop_workers()
            for queue in every:
                await queue.obliterate(force=True)

    async def _last_finish(self, queue: Queue) -> float:
        newest: Any = await queue.redis.zrevrange(queue.keys.completed, 0, 0, withscores=True)
        failed = await queue.redis.zcard(queue.keys.failed)
        if failed:
            raise RuntimeError(f"spread drain: {failed} jobs of {queue.name} failed")
        return float(newest[0][1])

    async def _jobs_by_worker(self, queues: list[Queue]) -> dict[str, int]:
        """How many completed jobs each worker ran (the job hash names it)."""
        counts: dict[str, int] = {}
        for queue in queues:
            ids: list[Any] = await queue.redis.zrange(queue.keys.completed, 0, -1)
            async with queue.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(queue.keys.job(str(job_id)), JobField.WORKER)
                workers = await pipe.execute()
            for worker in workers:
                counts[str(worker)] = counts.get(str(worker), 0) + 1
        return counts

    # -- helpers -------------------------------------------------------------

    def _queue(self, client: redis.asyncio.Redis, label: str) -> Queue:
        return Queue(f"bench-{label}-{uuid.uuid4().hex[:8]}", client, prefix=self.config.prefix)

    def _start_workers(
        self, queue: str | list[str], concurrency: int, processes: int | None = None
    ) -> None:
        names = [queue] if isinstance(queue, str) else queue
        command = [
            str(Path(sys.executable).parent / "messai-console"),
            "--redis-url",
            self.config.url,
            "worker",
            *(part for name in names for part in ("--queue", name)),
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


def _master_load(
    jobs: int,
    queues: int,
    before: MasterCounters,
    after: MasterCounters,
    elapsed_s: float,
    window_s: float,
) -> MasterLoad:
    return MasterLoad(
        queues=queues,
        jobs=jobs,
        jobs_per_s=jobs / window_s,
        ops_per_s=(after.commands - before.commands) / elapsed_s,
        script_calls_per_s=(after.script_calls - before.script_calls) / elapsed_s,
        cpu_percent=(after.cpu_s - before.cpu_s) / elapsed_s * 100,
        cpu_us_per_job=(after.cpu_s - before.cpu_s) / jobs * 1e6 if jobs else 0.0,
    )


def _percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(percent / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]
