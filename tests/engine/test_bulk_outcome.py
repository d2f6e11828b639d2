"""add_bulk with a definite outcome: when Redis refuses a chunk (out of
memory), the error says exactly which jobs were written, and a retry with
the same input and job ids adds nothing twice."""

from __future__ import annotations

import math

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from engine.errors import BulkAddError, InvalidJobError
from engine.queue import BULK_CHUNK, BULK_CHUNKS_PER_PIPELINE, Queue
from tests.helpers import RedisFactory

JOBS = 30_000
PAYLOAD = "x" * 200


def _jobs(count: int = JOBS) -> list[dict[str, object]]:
    return [
        {"name": "n", "data": {"i": i, "pad": PAYLOAD}, "options": {"job_id": f"j{i}"}}
        for i in range(count)
    ]


async def _job_ids_in_redis(client: redis.asyncio.Redis) -> set[str]:
    ids = await client.lrange("messai:{q}:waiting:list", 0, -1)
    ids += await client.zrange("messai:{q}:waiting", 0, -1)
    return {str(job_id) for job_id in ids}


@pytest.mark.asyncio
async def test_a_bulk_add_refused_for_memory_says_what_was_written(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    queue = Queue("q", client)
    try:
        await queue.add_bulk(_jobs(10))  # the script is loaded, the queue registered
        used = int((await client.info("memory"))["used_memory"])
        # room for a few thousand jobs of ~300 bytes, not for 30,000
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", used + 2_000_000)
        with pytest.raises(BulkAddError) as caught:
            await queue.add_bulk(_jobs())
        error = caught.value
        assert error.definite
        assert 0 < error.failed_from < JOBS
        assert error.failed_from % BULK_CHUNK == 0  # a chunk is all or nothing
        assert error.added_ids == [f"j{i}" for i in range(error.failed_from)]
        in_redis = await _job_ids_in_redis(client)
        assert in_redis == set(error.added_ids) | set(error.also_added.values())
        assert all(index >= error.failed_from for index in error.also_added)
        # nothing sent after the round trip of the failure
        last_sent = math.ceil((error.failed_from + 1) / (BULK_CHUNK * BULK_CHUNKS_PER_PIPELINE))
        assert len(in_redis) <= last_sent * BULK_CHUNK * BULK_CHUNKS_PER_PIPELINE
        assert str(error).startswith(f"added {error.failed_from} jobs")

        await client.config_set("maxmemory", 0)
        ids = await queue.add_bulk(_jobs())  # the same input again
        assert ids == [f"j{i}" for i in range(JOBS)]
        assert (await queue.counts())["waiting"] == JOBS
        assert len(await _job_ids_in_redis(client)) == JOBS
    finally:
        await client.config_set("maxmemory", 0)
        await queue.aclose()
        await client.aclose()


@pytest.mark.asyncio
async def test_an_invalid_job_after_the_first_batch_says_what_was_written(
    redis_client: redis.asyncio.Redis,
) -> None:
    queue = Queue("q", redis_client)
    batch = BULK_CHUNK * BULK_CHUNKS_PER_PIPELINE
    jobs = [("n", {"i": i}) for i in range(batch + 5)] + [("n", {"bad": object()})]
    try:
        with pytest.raises(BulkAddError) as caught:
            await queue.add_bulk(jobs)
        assert isinstance(caught.value.cause, InvalidJobError)
        assert caught.value.failed_from == batch == len(caught.value.added_ids)
        assert (await queue.counts())["waiting"] == batch
        with pytest.raises(InvalidJobError):  # nothing sent: the plain error
            await queue.add_bulk([("n", {"bad": object()})])
    finally:
        await queue.aclose()


def test_chunks_run_after_a_refused_one_are_reported() -> None:
    """Redis may run a chunk sent in the same round trip after it refused one
    (memory freed meanwhile): those jobs are in ``also_added``."""
    refused = ResponseError("OOM command not allowed when used memory > 'maxmemory'.")
    later = [["a", 1, "b", 1], refused, ["c", 0]]
    error = Queue._bulk_error(refused, ["x", "y"], later, [2, 2, 2, 1])
    assert error.failed_from == 2 and error.added_ids == ["x", "y"]
    assert error.also_added == {4: "a", 5: "b", 8: "c"}
    assert error.definite
    lost = Queue._bulk_error(RedisConnectionError("gone"), [], [], [2])
    assert not lost.definite and "unknown outcome" in str(lost)
