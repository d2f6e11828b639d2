"""Leases: an expired lease that was taken over cannot complete, fail or report."""

from __future__ import annotations

from typing import Any

import redis.asyncio

from engine import Queue
from engine.scripts import scripts
from tests.engine.conftest import sweep_now
from tests.helpers import await_until


async def _fetch(queue: Queue, token: str, lease_ms: int) -> list[Any]:
    reply = await scripts().fetch(
        queue.redis, queue.keys.script_keys, [queue.keys.base, token, "w-" + token, lease_ms, 1, 1]
    )
    return list(reply[3:])


def _outcome(job_id: str, token: str, kind: str, value: str = "") -> list[Any]:
    return [job_id, token, kind, value, "", 1, 0, -1, 0, 1]


async def _finish(queue: Queue, outcomes: list[list[Any]]) -> list[str]:
    args: list[Any] = [queue.keys.base, "w", 30000, 0, "t-next", 0, 0, len(outcomes)]
    for outcome in outcomes:
        args.extend(outcome)
    reply = await scripts().finish(queue.redis, queue.keys.script_keys, args)
    return list(reply[4 : 4 + int(reply[3])])


async def _lease_expired(client: redis.asyncio.Redis, queue: Queue) -> bool:
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    return bool(await client.zrangebyscore(queue.keys.active, "-inf", now_ms - 1))


async def test_expired_and_retaken_lease_cannot_finish(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    job = await queue.add("noop")
    first = await _fetch(queue, "A", lease_ms=50)
    assert first[0] == job.id
    await await_until(lambda: _lease_expired(redis_client, queue), timeout=5)
    assert (await sweep_now(queue))[1] == 1  # re-queued
    second = await _fetch(queue, "B", lease_ms=30_000)
    assert second[0] == job.id

    # the first holder wakes up: every write it attempts is refused
    assert await _finish(queue, [_outcome(job.id, "A", "c", '"stale"')]) == [job.id]
    assert await _finish(queue, [_outcome(job.id, "A", "f", "stale failure")]) == [job.id]
    progress = scripts().progress
    try:
        await progress(
            redis_client,
            queue.keys.script_keys,
            [queue.keys.base, job.id, "A", '{"pct": 50}', "", 0],
        )
        raise AssertionError("progress with a stale token was accepted")
    except redis.exceptions.ResponseError as exc:
        assert str(exc) == "lost"
    current = await queue.get_job(job.id)
    assert current is not None and current.state == "active" and current.result is None
    assert current.stalls == 1 and current.progress is None

    # the current holder completes normally
    assert await _finish(queue, [_outcome(job.id, "B", "c", '"fresh"')]) == []
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
    heartbeat = scripts().heartbeat
    reply = await heartbeat(
        redis_client, queue.keys.script_keys, [queue.keys.base, 30000, 1, job.id, "A"]
    )
    assert reply == [job.id, "|"]
    reply = await heartbeat(
        redis_client, queue.keys.script_keys, [queue.keys.base, 30000, 1, job.id, "B"]
    )
    assert reply == ["|"]
