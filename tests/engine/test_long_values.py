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
    CHUNKED_MAX_BYTES,
    JobField,
    chunk_field,
    long_value,
    stamp_ms,
)
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import RedisFactory


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


@pytest.mark.parametrize(
    "size",
    [64, 65, 200, CHUNKED_MAX_BYTES, CHUNKED_MAX_BYTES + 1, 8 * 1024, 1024 * 1024],
)
async def test_payloads_round_trip(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker, size: int
) -> None:
    data = _payload(size)
    single = await queue.add("echo", data)
    [bulk_id] = await queue.add_bulk([("echo", data)])
    for job_id in (single.id, bulk_id):
        read = await queue.get_job(job_id)
        assert read is not None and read.data == data
    await start_worker({"echo": _echo})
    for job_id in (single.id, bulk_id):
        done = await wait_for_state(queue, job_id, "completed")
        assert done.data == data and done.result == data


async def test_chunks_end_on_character_boundaries(
    queue: Queue, redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    """Multi-byte characters across every chunk boundary: each chunk is text of
    its own (a client that decodes replies reads it), the whole reads back."""
    for fill in ("é", "€", "𝄞", "a€"):
        data = {"blob": fill * 120}
        job = await queue.add("echo", data)
        stored = await _stored(redis_client, queue, job.id)  # decoded: each chunk is UTF-8
        chunks = [
            v for f, v in stored.items() if f != "d" and f.startswith("d") and f[1:].isdigit()
        ]
        assert chunks, stored.keys()
        assert all(len(chunk.encode()) <= CHUNK_BYTES for chunk in chunks)
        assert (await queue.get_job(job.id)).data == data  # type: ignore[union-attr]
    await start_worker({"echo": _echo})
    done = await wait_for_state(queue, job.id, "completed")
    assert done.result == data


async def test_layout_by_length(queue: Queue, redis_client: redis.asyncio.Redis) -> None:
    """Up to CHUNK_BYTES and above CHUNKED_MAX_BYTES one field, between them chunks."""
    expected = {
        CHUNK_BYTES: ["d"],
        CHUNK_BYTES + 1: ["d1", "d2"],
        200: ["d1", "d2", "d3", "d4"],
        CHUNKED_MAX_BYTES: [f"d{i}" for i in range(1, 34)],
        CHUNKED_MAX_BYTES + 1: ["d"],
    }
    for size, fields in expected.items():
        job = await queue.add("echo", _payload(size))
        stored = await _stored(redis_client, queue, job.id)
        named = sorted((f for f in stored if f.startswith("d")), key=lambda f: (len(f), f))
        assert named == fields, size
        assert long_value(stored, JobField.DATA) == '{"blob":"' + "x" * (size - 11) + '"}'
        chunks = [value for f, value in stored.items() if f != "d" and f in fields]
        assert all(len(chunk.encode()) <= CHUNK_BYTES for chunk in chunks)


async def test_a_default_redis_keeps_the_job_hash_a_listpack(redis_factory: RedisFactory) -> None:
    server = redis_factory(extra_args=["--hash-max-ziplist-value", "64"])
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    queue = Queue("q", client)
    try:
        assert (await client.config_get("hash-max-listpack-value")) == {
            "hash-max-listpack-value": "64"
        }
        plain = await queue.add("noop", _payload(200))
        with_options = await queue.add(
            "noop",
            _payload(200),
            attempts=5,
            backoff={"type": "fixed", "delay_ms": 2500, "jitter": 0.2},
            remove_on_fail=20,
            timeout_ms=120_000,
        )
        stored = await _stored(client, queue, with_options.id)
        assert len(long_value(stored, JobField.OPTIONS) or "") > 64
        for job in (plain, with_options):
            assert await client.object("encoding", queue.keys.job(job.id)) == "listpack"
        # every field of a waiting job, within the listpack's limits
        assert set(stored) >= {"n", "ts"}
    finally:
        await queue.aclose()
        await client.aclose()


async def test_the_time_added_is_stored_in_microseconds(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    server_ms = (await redis_client.time())[0] * 1000
    job = await queue.add("noop")
    created = (await _stored(redis_client, queue, job.id))[JobField.CREATED.value]
    assert created.isdigit() and len(created) == 16
    assert abs(int(created) / 1000 - server_ms) < 60_000
    assert (await queue.get_job(job.id)).created_ms == int(created) // 1000  # type: ignore[union-attr]


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
