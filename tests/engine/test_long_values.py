"""Long job data and options in chunks, so that a job hash keeps the listpack
encoding on a default Redis (hash-max-listpack-value 64); both layouts read."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

from engine import Queue
from engine.context import JobContext
from engine.jobhash import (
    CHUNK_BYTES,
    JobField,
    chunk_field,
    long_value,
    stamp_ms,
)
from tests.engine.conftest import StartWorker, wait_for_state


def _echo(ctx: JobContext) -> Any:
    return ctx.data


def _payload(size: int, fill: str = "x") -> dict[str, str]:
    """A JSON object that serialises to ``size`` bytes ({"blob":"..."} is 11 more)."""
    return {"blob": fill * (size - 11)}


async def _stored(client: redis.asyncio.Redis, queue: Queue, job_id: str) -> dict[str, str]:
    return await client.hgetall(queue.keys.job(job_id))  # type: ignore[no-any-return]


async def _to_chunks(client: redis.asyncio.Redis, key: str, field: JobField, value: str) -> None:
    """Rewrites ``field`` as chunks of at most CHUNK_BYTES bytes (ASCII value)."""
    pieces = [value[i : i + CHUNK_BYTES] for i in range(0, len(value), CHUNK_BYTES)]
    await client.hdel(key, field.value)
    await client.hset(
        key, mapping={chunk_field(field, i): piece for i, piece in enumerate(pieces, 1)}
    )


@pytest.mark.parametrize("layout", ["one field", "chunks"])
async def test_both_layouts_read_and_run(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker, layout: str
) -> None:
    """A job stored with one `d` field (every job before chunks existed) and one
    stored in chunks read the same, through get_job and through a worker's fetch."""
    data = _payload(300)
    backoff = {"type": "fixed", "delay_ms": 2500, "jitter": 0.2}
    job = await queue.add(
        "echo", data, attempts=4, timeout_ms=60_000, backoff=backoff, remove_on_fail=20
    )
    key = queue.keys.job(job.id)
    stored = await _stored(redis_client, queue, job.id)
    data_json, options_json = (
        long_value(stored, JobField.DATA),
        long_value(stored, JobField.OPTIONS),
    )
    assert data_json is not None and options_json is not None and len(options_json) > CHUNK_BYTES
    await redis_client.hdel(key, "d", "o", *[f for f in stored if f[1:].isdigit()])
    if layout == "one field":
        # as the previous version wrote it, with its time format
        await redis_client.hset(
            key,
            mapping={
                JobField.DATA.value: data_json,
                JobField.OPTIONS.value: options_json,
                JobField.CREATED.value: "1795996050374.123",
            },
        )
    else:
        await _to_chunks(redis_client, key, JobField.DATA, data_json)
        await redis_client.hset(key, JobField.OPTIONS.value, options_json)
        await _to_chunks(redis_client, key, JobField.OPTIONS, options_json)
        await redis_client.hset(key, JobField.CREATED.value, "1795996050374123")
    read = await queue.get_job(job.id)
    assert read is not None
    assert read.data == data
    assert read.options.attempts == 4 and read.options.timeout_ms == 60_000
    assert read.created_ms == 1795996050374
    page = await queue.get_jobs("waiting")
    assert [j.data for j in page] == [data]
    await start_worker({"echo": _echo})
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == data
    assert done.options.attempts == 4


def test_stamp_ms_reads_both_formats() -> None:
    assert stamp_ms("1795996050374123") == 1795996050374.123
    assert stamp_ms("1795996050374.123") == 1795996050374.123
    assert stamp_ms(b"1795996050374") == 1795996050374
    assert stamp_ms("1000.000") == 1000.0
    assert stamp_ms(None) is None and stamp_ms("") is None


def test_long_value_reads_both_layouts() -> None:
    assert long_value({"d": "[1]"}, JobField.DATA) == "[1]"
    assert long_value({"d1": "[1,", "d2": "2]", "o": "{}"}, JobField.DATA) == "[1,2]"
    assert long_value({"d1": "[1,", "d3": "x"}, JobField.DATA) == "[1,"  # a gap ends it
    assert long_value({"d": "[1]", "d1": "stale"}, JobField.DATA) == "[1]"
    assert long_value({"deps": "2"}, JobField.DATA) is None
    assert long_value({}, JobField.OPTIONS) is None
