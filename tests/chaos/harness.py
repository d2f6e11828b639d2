"""One chaos scenario: its Redis, its workers, the monitor, and the settling
that hands everything to the checker."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from engine import BulkJob, Queue, QueueKeys
from engine.connection import connect
from tests.chaos.checker import Observation, Report, check
from tests.chaos.fleet import Fleet, WorkerProcess, WorkerSpec
from tests.chaos.history import Run, read_runs
from tests.chaos.monitor import Monitor, client_for, read_membership
from tests.chaos.redis_target import RedisTarget
from tests.chaos.scale import Scale
from tests.chaos.timeline import Fault, Timeline
from tests.helpers import RedisFactory, await_until

QUEUE = "chaos"
REPORT_PROPERTY = "chaos-report"
KEEP_ALL = {"remove_on_complete": False, "remove_on_fail": False}
"""Job options: every finished job stays, so the checker can read it back."""


class Chaos:
    """The `chaos` fixture: build a scenario, inject faults, then :meth:`settle`."""

    def __init__(
        self,
        scenario: str,
        directory: Path,
        factory: RedisFactory,
        scale: Scale,
        request: pytest.FixtureRequest,
    ) -> None:
        self.scenario = scenario
        self.scale = scale
        self.factory = factory
        self.request = request
        self.timeline = Timeline()
        self.events_dir = directory / "events"
        self.events_dir.mkdir()
        self.fleet = Fleet(directory, self.events_dir, self.timeline)
        self.keys = QueueKeys(QUEUE)
        self.job_ids: list[str] = []
        self._redis: RedisTarget | None = None
        self._monitor: Monitor | None = None
        self._monitor_stop = asyncio.Event()
        self._monitor_task: asyncio.Task[None] | None = None
        self._respawn_stop = asyncio.Event()
        self._respawn_task: asyncio.Task[None] | None = None
        self.report: Report | None = None

    # -- set-up ---------------------------------------------------------------

    def start_redis(self, fsync: str | None = None) -> RedisTarget:
        """The Redis under test; ``fsync`` ("always", "everysec") turns its AOF on."""
        self._redis = RedisTarget.start(self.factory, self.timeline, fsync)
        return self._redis

    @property
    def redis(self) -> RedisTarget:
        assert self._redis is not None, "start_redis() first"
        return self._redis

    async def add(self, jobs: Iterable[tuple[str, Any]]) -> list[str]:
        """Add jobs ``(name, data)``; they count for the checker."""
        client = connect(self.redis.url)
        try:
            ids = await Queue(QUEUE, client).add_bulk(
                BulkJob(name, data, KEEP_ALL) for name, data in jobs
            )
        finally:
            await client.aclose()
        self.job_ids.extend(ids)
        return ids

    async def add_work(self, count: int, name: str = "work", ms: int | None = None) -> list[str]:
        job_ms = self.scale.job_ms if ms is None else ms
        return await self.add([(name, {"ms": job_ms})] * count)

    async def start_workers(self, spec: WorkerSpec, count: int) -> list[WorkerProcess]:
        return await self.fleet.start_serving(self.redis.url, QUEUE, spec, count)

    def start_worker(self, spec: WorkerSpec) -> WorkerProcess:
        return self.fleet.start(self.redis.url, QUEUE, spec)

    # -- while it runs --------------------------------------------------------

    def watch(self) -> None:
        """Start sampling the queue (call once the workers serve)."""
        self._monitor = Monitor(
            lambda: self.redis.url, self.keys, lambda: len(self.fleet.serving())
        )
        self._monitor_task = asyncio.create_task(self._monitor.run(self._monitor_stop))

    def respawn(self, spec: WorkerSpec, count: int) -> None:
        """Keep ``count`` workers alive: a dead one is replaced at once."""
        self._respawn_task = asyncio.create_task(
            self.fleet.keep_alive(self.redis.url, QUEUE, spec, count, self._respawn_stop)
        )

    def finished(self) -> int:
        """Jobs completed or failed at the monitor's latest sample."""
        sample = self.monitor.latest()
        return (sample.finished or 0) if sample is not None else 0

    @property
    def monitor(self) -> Monitor:
        assert self._monitor is not None, "watch() first"
        return self._monitor

    async def progressed(self, at_least: int, timeout: float = 30.0) -> bool:
        """Wait until ``at_least`` jobs finished. False when that did not happen
        within ``timeout`` or every worker is gone: the scenario should stop
        injecting faults and let the checker say what went wrong."""
        target = min(at_least, len(self.job_ids))
        deadline = time.monotonic() + timeout
        while self.finished() < target:
            if time.monotonic() >= deadline:
                return False
            if not self.fleet.alive() and self._respawn_task is None:
                return False  # every worker is gone and none will come back
            await asyncio.sleep(0.02)
        return True

    async def wait_running(
        self, worker: WorkerProcess, at_least: int = 1, timeout: float = 30.0
    ) -> None:
        """Until ``worker`` has at least ``at_least`` runs started and not ended."""

        def running() -> bool:
            runs = read_runs(self.events_dir, worker.pid)
            return sum(r.open for r in runs) >= at_least

        await await_until(running, timeout=timeout, interval=0.02, message="the worker ran nothing")

    async def wait_started(self, ids: list[str], timeout: float = 30.0) -> None:
        """Until every job of ``ids`` has started at least once."""
        wanted = set(ids)
        await await_until(
            lambda: wanted <= {run.job_id for run in read_runs(self.events_dir)},
            timeout=timeout,
            interval=0.02,
            message=f"{self.scenario}: not every job started within {timeout:g}s",
        )

    def open_runs(self, worker: WorkerProcess) -> list[Run]:
        """The runs ``worker`` started and has not ended."""
        return [r for r in read_runs(self.events_dir, worker.pid) if r.open]

    async def wait_taken_over(self, worker: WorkerProcess, timeout: float = 30.0) -> bool:
        """Wait until every run ``worker`` has open was started again by another
        process; False if that did not happen within ``timeout``."""
        held = {run.job_id: run.start for run in self.open_runs(worker)}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            restarted = {
                run.job_id
                for run in read_runs(self.events_dir)
                if run.pid != worker.pid and run.start > held.get(run.job_id, math.inf)
            }
            if set(held) <= restarted:
                return True
            await asyncio.sleep(0.05)
        return False

    # -- the end ------------------------------------------------------------

    async def settle(self, quiet_s: float | None = None) -> Report:
        """Wait until every job finished, or nothing changed for ``quiet_s``
        (default: two leases and a sweep) while no live worker runs a job, or
        the scale's limit passed; then check."""
        if quiet_s is None:
            specs = [worker.spec for worker in self.fleet.workers]
            quiet_s = max(
                (2 * spec.lease_ms + spec.stall_interval_ms) / 1000 + 1.5 for spec in specs
            )
        deadline = time.monotonic() + self.scale.settle_s
        last_counts: dict[str, int] | None = None
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            sample = self.monitor.latest()
            if sample is not None and sample.counts is not None:
                if sample.unfinished == 0 and (sample.finished or 0) >= len(self.job_ids):
                    break
                if sample.counts != last_counts or self._starting_up():
                    last_counts, last_change = sample.counts, time.monotonic()
                elif time.monotonic() - last_change >= quiet_s and not self._running_anything():
                    break
            await asyncio.sleep(0.05)
        horizon = time.monotonic()
        await self._stop_background()
        for worker in self.fleet.crashes():
            assert worker.died_at is not None
            self.timeline.faults.append(
                Fault("worker-crash", worker.pid, worker.died_at, worker.died_at)
            )
        client = client_for(self.redis.url)
        try:
            membership = await read_membership(client, self.keys)
            holders = await self._holders(
                client, [j for j, s in membership.items() if "active" in s]
            )
        finally:
            await client.aclose()
        report = check(
            Observation(
                scenario=self.scenario,
                job_ids=self.job_ids,
                membership=membership,
                runs=read_runs(self.events_dir),
                process_ends={w.pid: w.end_time for w in self.fleet.workers},
                crashed=len(self.fleet.crashes()),
                samples=self.monitor.samples,
                two_states_seen=self.monitor.two_states,
                timeline=self.timeline,
                horizon=horizon,
                holders=holders,
            )
        )
        self.report = report
        self.request.node.user_properties.append((REPORT_PROPERTY, report.to_json()))
        return report

    async def _holders(self, client: redis.asyncio.Redis, ids: list[str]) -> dict[str, str]:
        """Who holds each of these active jobs, and whether that worker still lives."""
        alive = {w.worker_id: w for w in self.fleet.alive()}
        queue = Queue(QUEUE, client)
        holders: dict[str, str] = {}
        for job_id in ids[:50]:
            try:
                job = await queue.get_job(job_id)
            except (ValueError, redis.RedisError) as exc:  # a corrupt hash
                holders[job_id] = f"nobody known (unreadable: {exc})"
                continue
            worker = job.worker if job is not None else None
            holders[job_id] = f"{worker} ({'alive' if worker in alive else 'gone'})"
        return holders

    def _starting_up(self) -> bool:
        """No worker serves yet, but one is starting or about to be respawned:
        quiet does not count while nobody could have made progress."""
        if self.fleet.serving():
            return False
        return bool(self.fleet.alive()) or self._respawn_task is not None

    def _running_anything(self) -> bool:
        """Whether a live worker is in the middle of a job's code."""
        return any(self.open_runs(worker) for worker in self.fleet.alive())

    async def _stop_background(self) -> None:
        self._respawn_stop.set()
        self._monitor_stop.set()
        for task in (self._respawn_task, self._monitor_task):
            if task is not None:
                await task

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stop_background()
        self.fleet.kill_all()
        if self._redis is not None:
            self._redis.release()
