"""Job data that JSON cannot hold is refused, never stored as something else."""

from __future__ import annotations

import math

import pytest
import redis.asyncio

from engine.errors import InvalidJobError
from engine.queue import Queue


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "data",
    [
        math.nan,
        {"score": math.inf},
        {"values": [1.0, [2.0, -math.inf]]},
        ({"x": (math.nan,)},),
    ],
)
async def test_nan_and_infinity_are_refused(
    redis_client: redis.asyncio.Redis, data: object
) -> None:
    queue = Queue("q", redis_client)
    try:
        with pytest.raises(InvalidJobError, match="NaN or Infinity"):
            await queue.add("n", data)
        with pytest.raises(InvalidJobError, match="NaN or Infinity"):
            await queue.add_bulk([("n", 1), ("n", data)])
        assert await redis_client.dbsize() == 0
    finally:
        await queue.aclose()


@pytest.mark.asyncio
async def test_null_and_finite_floats_are_stored_as_given(
    redis_client: redis.asyncio.Redis,
) -> None:
    queue = Queue("q", redis_client)
    try:
        job = await queue.add("n", {"none": None, "x": 1.5, "big": 1e308})
        stored = await queue.get_job(job.id)
        assert stored is not None
        assert stored.data == {"none": None, "x": 1.5, "big": 1e308}
    finally:
        await queue.aclose()
