"""Ghosts: ids left in a state whose job hash is gone (evicted, deleted by
hand). Reads skip them and still return full pages, and drop them from
the state, so that counts are right again."""

from __future__ import annotations

import pytest

from engine import Queue

STATES = ("waiting", "waiting-zset", "delayed", "active", "completed", "failed", "pending")
"""waiting: the list of the default priority; waiting-zset: the zset of the others."""


async def _state_with_ghosts(queue: Queue, state: str) -> tuple[list[str], list[str]]:
    """Six real jobs in ``state`` and four ghosts among them, in read order:
    (real ids, ghost ids)."""
    real = [job.id for job in [await queue.add("x", {"n": n}, delay_ms=60_000) for n in range(6)]]
    ghosts = [f"ghost-{n}" for n in range(4)]
    redis, key = queue.redis, queue.keys.state(state.removesuffix("-zset"))
    await redis.delete(queue.keys.state("delayed"))
    # order: g0 r0 g1 r1 g2 r2 g3 r3 r4 r5 (ghosts early, so that a page meets them)
    order = [ghosts[0], real[0], ghosts[1], real[1], ghosts[2], real[2], ghosts[3], *real[3:]]
    if state == "waiting-zset":  # priority 1: scores below the list's
        await redis.zadd(key, {job_id: 2**33 + 2**32 + rank for rank, job_id in enumerate(order)})
    elif state == "waiting":
        await redis.rpush(queue.keys.waiting_list, *order)
    else:
        await redis.zadd(key, {job_id: 1000 + rank for rank, job_id in enumerate(order)})
    if state in ("completed", "failed"):  # read newest first
        real.reverse()
    return real, ghosts


@pytest.mark.parametrize("kind", STATES)
async def test_pages_are_full_and_ghosts_are_dropped(queue: Queue, kind: str) -> None:
    real, _ghosts = await _state_with_ghosts(queue, kind)
    state = kind.removesuffix("-zset")
    assert (await queue.counts())[state] == 10
    page = await queue.get_jobs(state, 0, 4)
    assert [job.id for job in page] == real[:5]
    assert all(job.state == state for job in page)
    rest = await queue.get_jobs(state, 5, 9)
    assert [job.id for job in rest] == real[5:]
    assert (await queue.counts())[state] == 6


async def test_a_ghost_read_by_id_is_dropped(queue: Queue) -> None:
    await queue.add("x")
    await queue.redis.zadd(queue.keys.state("failed"), {"gone": 1})
    assert await queue.get_job("gone") is None
    assert (await queue.counts())["failed"] == 0


async def test_a_state_of_ghosts_reads_empty_and_ends_empty(queue: Queue) -> None:
    ghosts = {f"g{n}": n for n in range(2500)}
    await queue.redis.zadd(queue.keys.state("delayed"), ghosts)
    assert await queue.get_jobs("delayed", 0, 49) == []
    assert (await queue.counts())["delayed"] == 0
