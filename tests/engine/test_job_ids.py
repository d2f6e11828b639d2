"""Custom job ids can never name another key: refused before anything is written."""

from __future__ import annotations

import pytest
import redis.asyncio
from redis.exceptions import ResponseError

from engine import InvalidJobError, Queue
from engine.contracts.add import AddJob, AddRequest
from engine.contracts.base import call
from engine.keys import JOB_KEY_SUFFIXES

REFUSED = [
    *(f"x:{suffix}" for suffix in JOB_KEY_SUFFIXES),
    *(f"schedule:daily:{suffix}" for suffix in JOB_KEY_SUFFIXES),
    "1",
    "42",
    "007",
    "",
    "a" * 257,
    "é" * 129,  # 258 bytes
    "a{b",
    "a}b",
    "{x}",
    "line\nbreak",
    "tab\there",
    "bell\x07",
    "a b",
]

ACCEPTED = [
    "x:log",
    "x:logs:1",
    "logs",
    "results",
    "schedule:daily_report:1795996800000",
    "order-42",
    "-1",
    "1.5",
    "é" * 128,
    "a" * 256,
]


@pytest.mark.parametrize("job_id", REFUSED)
async def test_ids_that_could_collide_are_refused_and_nothing_written(
    queue: Queue, redis_client: redis.asyncio.Redis, job_id: str
) -> None:
    await queue.add("noop", job_id="x")
    before = sorted(await redis_client.keys("*"))
    with pytest.raises(InvalidJobError, match="job id"):
        await queue.add("noop", job_id=job_id)
    with pytest.raises(InvalidJobError, match="job id"):
        await queue.add_bulk([{"name": "noop", "options": {"job_id": job_id}}])
    assert sorted(await redis_client.keys("*")) == before


@pytest.mark.parametrize("job_id", [job_id for job_id in REFUSED if job_id])
async def test_the_add_script_refuses_them_too(
    queue: Queue, redis_client: redis.asyncio.Redis, job_id: str
) -> None:
    """A producer of another version sends them unchecked: the script refuses
    the whole call before its first write."""
    before = sorted(await redis_client.keys("*"))
    good = AddJob("fine", "noop", "null", "", 5, False, 0)
    bad = AddJob(job_id, "noop", "null", "", 5, False, 0)
    with pytest.raises(ResponseError, match="bad-id:2:"):
        await call(redis_client, queue.keys, AddRequest(queue.name, (good, bad)))
    assert sorted(await redis_client.keys("*")) == before


@pytest.mark.parametrize("job_id", ACCEPTED)
async def test_other_ids_are_kept_as_given(queue: Queue, job_id: str) -> None:
    job = await queue.add("noop", {"v": 1}, job_id=job_id)
    assert job.id == job_id
    stored = await queue.get_job(job_id)
    assert stored is not None and stored.data == {"v": 1}


async def test_a_log_key_cannot_be_taken_by_another_job(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    await queue.add("noop", job_id="x")
    with pytest.raises(InvalidJobError):
        await queue.add("noop", job_id="x:logs")
    assert await redis_client.exists(queue.keys.logs("x")) == 0
