"""Chaos at the workers: killed, frozen past their lease, stopped with jobs
still running, and killed by the jobs they run."""

from __future__ import annotations

import random

import pytest

from tests.chaos.fleet import WorkerSpec
from tests.chaos.harness import Chaos
from tests.chaos.scale import SCALE, Scale

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SCALE.test_timeout_s)]

SLACK_S = 6.0
"""Added to every time bound: two cores shared by many processes."""


def _recovery_bound(spec: WorkerSpec) -> float:
    """A dead worker's jobs run again within a lease and a sweep interval."""
    return (spec.lease_ms + spec.stall_interval_ms) / 1000 + SLACK_S


async def test_random_sigkill_of_workers_with_respawn(chaos: Chaos, scale: Scale) -> None:
    spec = WorkerSpec(concurrency=4, max_stalled=1000)
    chaos.start_redis()
    await chaos.add_work(scale.jobs)
    await chaos.start_workers(spec, 3)
    chaos.watch()
    chaos.respawn(spec, 3)
    rng = random.Random(12)
    step = scale.jobs // (scale.faults + 2)
    for kill in range(1, scale.faults + 1):
        if not await chaos.progressed(kill * step):
            break
        chaos.fleet.kill(rng.choice(chaos.fleet.serving()))
    report = await chaos.settle()
    # at least once: a job whose code ended but whose outcome its killed
    # worker never reported runs again
    report.require(
        max_duplicates=scale.faults * spec.concurrency,
        overlaps_allowed=False,
        max_stall_s=_recovery_bound(spec) + 2,
        max_recovery_s=_recovery_bound(spec),
    )


async def test_sigstop_of_a_worker_past_its_lease_then_sigcont(chaos: Chaos, scale: Scale) -> None:
    spec = WorkerSpec(concurrency=4, max_stalled=1000)
    chaos.start_redis()
    await chaos.add_work(scale.jobs, ms=scale.job_ms * 3)
    await chaos.start_workers(spec, 3)
    chaos.watch()
    rng = random.Random(7)
    step = scale.jobs // (scale.faults + 2)
    for stop in range(1, scale.faults + 1):
        if not await chaos.progressed(stop * step):
            break
        victim = rng.choice(chaos.fleet.serving())
        await chaos.wait_running(victim)
        fault = chaos.fleet.freeze(victim)
        # frozen until its lease ran out and other workers took its jobs over
        taken_over = await chaos.wait_taken_over(victim)
        chaos.fleet.thaw(victim, fault)
        if not taken_over:
            break
    report = await chaos.settle()
    # Thawed, the worker finishes the code of jobs that others ran meanwhile
    # (its outcomes are refused: the lease is gone), so runs overlap in time
    # although the frozen one executed nothing meanwhile.
    report.require(
        max_duplicates=scale.faults * spec.concurrency * 2,
        overlaps_allowed=True,
        max_stall_s=_recovery_bound(spec) + 2,
        max_recovery_s=_recovery_bound(spec),
    )


async def test_sigterm_with_thread_jobs_running_past_the_grace_period(
    chaos: Chaos, scale: Scale
) -> None:
    spec = WorkerSpec(concurrency=4, shutdown_grace_ms=300, prefetch="0", max_stalled=1000)
    thread_ms = 4000
    chaos.start_redis()
    await chaos.start_workers(spec, 2)
    chaos.watch()
    for _ in range(max(scale.faults // 3, 1)):
        if not await chaos.progressed(len(chaos.job_ids)):
            break
        ids = await chaos.add_work(spec.concurrency, name="work_thread", ms=thread_ms)
        await chaos.wait_started(ids)
        holders = [w for w in chaos.fleet.alive() if not w.terminated and chaos.open_runs(w)]
        for worker in holders:
            chaos.fleet.terminate(worker)
        # fresh workers to take whatever the stopping ones hand back
        await chaos.start_workers(spec, len(holders))
    report = await chaos.settle()
    report.require(max_stall_s=thread_ms / 1000 + SLACK_S + 2)


async def test_poison_pill_among_2000_jobs_fails_alone(chaos: Chaos, scale: Scale) -> None:
    # The CLI worker with its defaults (--max-stalled 1), three of them at
    # concurrency 4, respawned as the pill kills them.
    spec = WorkerSpec(concurrency=4, max_stalled=1, cli=True)
    total = 2000
    chaos.start_redis()
    await chaos.add_work(total // 2)
    await chaos.add([("pill", None)])
    await chaos.add_work(total - total // 2 - 1)
    await chaos.start_workers(spec, 3)
    chaos.watch()
    chaos.respawn(spec, 3)
    report = await chaos.settle()
    # the pill runs max_stalled + 1 times, killing a worker each time; what
    # those workers had finished but not reported yet runs again
    report.require(
        failed=1,
        crashes_allowed=True,
        max_duplicates=(spec.max_stalled + 1) * spec.concurrency * 2,
        max_stall_s=_recovery_bound(spec) + 4,
    )


async def test_recovery_is_bounded_by_the_live_workers_settings(chaos: Chaos, scale: Scale) -> None:
    live = WorkerSpec(concurrency=4, max_stalled=1000)
    slow_sweeper = WorkerSpec(concurrency=4, max_stalled=1000, stall_interval_ms=20_000)
    chaos.start_redis()
    # the slow sweeper starts first: its first sweep takes the lock for 20 s
    (victim,) = await chaos.start_workers(slow_sweeper, 1)
    await chaos.start_workers(live, 2)
    await chaos.add_work(scale.jobs, ms=scale.job_ms * 3)
    chaos.watch()
    await chaos.wait_running(victim)
    chaos.fleet.kill(victim)
    report = await chaos.settle(quiet_s=22)
    report.require(
        max_duplicates=slow_sweeper.concurrency * 2,
        max_stall_s=_recovery_bound(live) + 2,
        max_recovery_s=_recovery_bound(live),
    )
