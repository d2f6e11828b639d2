"""Leases: an expired lease that was taken over cannot complete, fail or report."""

from __future__ import annotations

import redis.asyncio

from engine import Queue
from engine.contracts.base import call
from engine.contracts.worker import (
    LEASE_LOST,
    FetchedJob,
    FetchReply,
    FetchRequest,
    FinishReply,
    FinishRequest,
    HeartbeatReply,
    HeartbeatRequest,
    HeldLease,
    OutcomeArgs,
    OutcomeKind,
    ProgressRequest,
)
from tests.engine.conftest import sweep_now
from tests.helpers import await_until


async def _fetch(queue: Queue, token: str, lease_ms: int) -> tuple[FetchedJob, ...]:
    request = FetchRequest("w-" + token, lease_ms, 1, token, 1)
    return FetchReply.parse(await call(queue.redis, queue.keys, request)).jobs


def _outcome(job_id: str, token: str, kind: OutcomeKind, value: str = "") -> OutcomeArgs:
    return OutcomeArgs(job_id, token, kind, value, "", 1, 0, "", 0, 1, False)


async def _finish(queue: Queue, outcomes: list[OutcomeArgs]) -> list[str]:
    request = FinishRequest("w", 30000, 0, "t-next", 0, "-1:-1", "-1:-1", (), tuple(outcomes))
    return sorted(FinishReply.parse(await call(queue.redis, queue.keys, request)).lost)


async def _heartbeat(queue: Queue, job_id: str, token: str) -> HeartbeatReply:
    request = HeartbeatRequest(30000, (HeldLease(job_id, token),))
    return HeartbeatReply.parse(await call(queue.redis, queue.keys, request))


async def _lease_expired(client: redis.asyncio.Redis, queue: Queue) -> bool:
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    return bool(await client.zrangebyscore(queue.keys.active, "-inf", now_ms - 1))


async def test_expired_and_retaken_lease_cannot_finish(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    job = await queue.add("noop")
    first = await _fetch(queue, "A", lease_ms=50)
    assert first[0].job_id == job.id
    await await_until(lambda: _lease_expired(redis_client, queue), timeout=5)
    assert (await sweep_now(queue))[1] == 1  # re-queued
    second = await _fetch(queue, "B", lease_ms=30_000)
    assert second[0].job_id == job.id

    # the first holder wakes up: every write it attempts is refused
    assert await _finish(queue, [_outcome(job.id, "A", OutcomeKind.COMPLETED, '"stale"')]) == [
        job.id
    ]
    assert await _finish(queue, [_outcome(job.id, "A", OutcomeKind.FAILED, "stale failure")]) == [
        job.id
    ]
    try:
        await call(redis_client, queue.keys, ProgressRequest(job.id, "A", '{"pct": 50}', "", 0))
        raise AssertionError("progress with a stale token was accepted")
    except redis.exceptions.ResponseError as exc:
        assert str(exc) == LEASE_LOST
    current = await queue.get_job(job.id)
    assert current is not None and current.state == "active" and current.result is None
    assert current.stalls == 1 and current.progress is None

    # the current holder completes normally
    assert await _finish(queue, [_outcome(job.id, "B", OutcomeKind.COMPLETED, '"fresh"')]) == []
    done = await queue.get_job(job.id)
    assert done is not None and done.state == "completed" and done.result == "fresh"


async def test_heartbeat_reports_lost_leases(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    job = await queue.add("noop")
    await _fetch(queue, "A", lease_ms=50)
    await await_until(lambda: _lease_expired(redis_client, queue), timeout=5)
    await sweep_now(queue)
    await _fetch(queue, "B", lease_ms=30_000)
    assert await _heartbeat(queue, job.id, "A") == HeartbeatReply((job.id,), ())
    assert await _heartbeat(queue, job.id, "B") == HeartbeatReply((), ())
