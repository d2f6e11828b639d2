"""Chaos at Redis: killed and restarted on its AOF, frozen, its functions
flushed, its memory full, its job hashes corrupt."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis

from tests.chaos.fleet import WorkerSpec
from tests.chaos.harness import Chaos
from tests.chaos.scale import SCALE, Scale

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SCALE.test_timeout_s)]

SLACK_S = 4.0
"""Added to every time bound: two cores shared by many processes."""
RECONNECT_S = 5.0
"""A worker retries an unreachable Redis with backoff capped at 5 s."""
SPEC = WorkerSpec(concurrency=4, max_stalled=1000)
WORKERS = 3
IN_FLIGHT = WORKERS * SPEC.concurrency * 2
"""Jobs the workers may hold at once (running and prefetched)."""


async def _start(chaos: Chaos, scale: Scale, fsync: str | None = None) -> None:
    chaos.start_redis(fsync)
    await chaos.add_work(scale.jobs)
    await chaos.start_workers(SPEC, WORKERS)
    chaos.watch()


async def test_redis_killed_and_restarted_on_its_aof(chaos: Chaos, scale: Scale) -> None:
    # "always": nothing acknowledged is lost, so every job must be accounted for
    await _start(chaos, scale, fsync="always")
    step = scale.jobs // (scale.faults + 2)
    for round_ in range(1, scale.faults + 1):
        if not await chaos.progressed(round_ * step):
            break
        fault = chaos.redis.kill()
        await asyncio.sleep(scale.outage_s)  # how long the outage lasts
        chaos.redis.restart(fault)
    report = await chaos.settle()
    # a job whose outcome was on its way when Redis died runs again
    report.require(
        max_duplicates=scale.faults * IN_FLIGHT,
        max_stall_s=RECONNECT_S + SLACK_S,
        max_recovery_s=RECONNECT_S + SLACK_S,
    )


async def test_redis_frozen_past_the_lease_and_thawed(chaos: Chaos, scale: Scale) -> None:
    await _start(chaos, scale)
    step = scale.jobs // (scale.faults + 2)
    for round_ in range(1, scale.faults + 1):
        if not await chaos.progressed(round_ * step):
            break
        fault = chaos.redis.freeze()
        await asyncio.sleep(max(scale.outage_s, SPEC.lease_ms / 1000 * 1.5))
        chaos.redis.thaw(fault)
    report = await chaos.settle()
    # Thawed, Redis's clock has passed every lease: a sweep may re-queue a
    # job whose outcome is still queued behind it, or one whose holder has
    # not heartbeated since the thaw and still runs it (a lease that ran out
    # while Redis was frozen is indistinguishable from a dead holder's), so
    # runs may overlap as after a SIGSTOP'ed worker.
    report.require(
        max_duplicates=scale.faults * IN_FLIGHT,
        overlaps_allowed=True,
        max_stall_s=RECONNECT_S + SLACK_S,
        max_recovery_s=RECONNECT_S + SLACK_S,
    )


async def test_functions_flushed_repeatedly(chaos: Chaos, scale: Scale) -> None:
    await _start(chaos, scale)
    flushes = 0
    while chaos.finished() < len(chaos.job_ids) and flushes < scale.faults * 20:
        chaos.redis.flush_functions()
        flushes += 1
        await asyncio.sleep(0.05)  # the pace of the flushes
    report = await chaos.settle()
    report.require(max_stall_s=SLACK_S, max_recovery_s=SLACK_S)


async def test_out_of_memory_reached_and_freed(chaos: Chaos, scale: Scale) -> None:
    await _start(chaos, scale)
    step = scale.jobs // (scale.faults + 2)
    for round_ in range(1, scale.faults + 1):
        if not await chaos.progressed(round_ * step):
            break
        fault = chaos.redis.fill()
        # a worker started against the full server must serve too
        chaos.start_worker(SPEC)
        await asyncio.sleep(scale.outage_s)  # how long memory stays full
        chaos.redis.free(fault)
    report = await chaos.settle()
    report.require(
        max_duplicates=scale.faults * IN_FLIGHT * 2,
        max_stall_s=RECONNECT_S + SLACK_S,
        max_recovery_s=RECONNECT_S + SLACK_S,
    )


async def test_corrupt_job_hashes(chaos: Chaos, scale: Scale) -> None:
    chaos.start_redis()
    ids = await chaos.add_work(scale.jobs)
    corrupt = _corrupt(chaos, [ids[len(ids) * k // 4] for k in (1, 2, 3)])
    await chaos.start_workers(SPEC, WORKERS)
    chaos.watch()
    chaos.respawn(SPEC, WORKERS)
    report = await chaos.settle()
    # each corrupt job fails with a clear error; every other job completes
    report.require(failed=len(corrupt), max_stall_s=SLACK_S + 2)


def _corrupt(chaos: Chaos, ids: list[str]) -> list[str]:
    """One job hash of each kind of damage (field names from engine/jobhash.py)."""
    wrong_type, bad_attempts, no_name = ids
    with chaos.redis.client() as client:
        pipe = client.pipeline(transaction=True)
        pipe.delete(chaos.keys.job(wrong_type))
        pipe.set(chaos.keys.job(wrong_type), "not a hash")
        pipe.hset(chaos.keys.job(bad_attempts), "att", "x")
        pipe.hdel(chaos.keys.job(no_name), "n")
        with contextlib.suppress(redis.ResponseError):
            pipe.execute()
    return ids
