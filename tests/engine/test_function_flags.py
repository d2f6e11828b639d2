"""Function flags on real servers: readers run on a full server and on a
read-only replica (``no-writes``), the scripts that free memory run on a full
server (``allow-oom``), and every other script is refused there before it
writes anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio
from redis.exceptions import ResponseError

from engine.channel import server_address
from engine.contracts.base import call, call_own_keys
from engine.contracts.schedules import ScheduleDueReply, ScheduleDueRequest
from engine.contracts.worker import (
    FetchReply,
    FetchRequest,
    HeartbeatReply,
    HeartbeatRequest,
    HeldLease,
)
from engine.keys import DEFAULT_PREFIX
from engine.queue import Queue
from engine.scripts import _NO_FUNCTIONS, SCRIPT_NAMES, scripts
from tests.helpers import RedisFactory, await_until

OOM_REFUSAL = "OOM|used memory > 'maxmemory'"
"""A refusal for memory: the engine's own connection keeps Redis's "OOM"
prefix, redis-py (MESSAI_WIRE=0) strips it into OutOfMemoryError."""


async def fill(client: redis.asyncio.Redis) -> None:
    """Reach maxmemory (noeviction): every write that needs memory is refused.

    Every script is loaded first, as on a server that has been serving for a
    while (a function missing from a full server runs over EVAL)."""
    for name in SCRIPT_NAMES:
        await client.function_load(getattr(scripts(), name).library, replace=True)
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", 1)


async def free(client: redis.asyncio.Redis) -> None:
    await client.config_set("maxmemory", 0)


@pytest_asyncio.fixture
async def full_client(redis_factory: RedisFactory) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of a server of its own (the tests make it full)."""
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def _three_jobs(client: redis.asyncio.Redis) -> Queue:
    queue = Queue("q", client)
    await queue.add("a", {"n": 1}, job_id="a")
    await queue.add("b", {"n": 2}, job_id="b", delay_ms=60_000)
    await queue.add("c", {"n": 3}, job_id="c")
    return queue


@pytest.mark.asyncio
async def test_reads_work_on_a_full_server(full_client: redis.asyncio.Redis) -> None:
    queue = await _three_jobs(full_client)
    await fill(full_client)
    try:
        with pytest.raises(ResponseError, match=OOM_REFUSAL):
            await queue.add("d", None)  # the server is full indeed
        job = await queue.get_job("a")
        assert job is not None and job.state == "waiting"
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]
        assert (await queue.stats())["delayed"] == 1
        due = ScheduleDueReply.parse(
            await call_own_keys(full_client, DEFAULT_PREFIX, ScheduleDueRequest(limit=10))
        )
        assert due.due == [] and due.now_ms > 0
        # the same with the functions gone: loading is refused (OOM), EVAL runs them
        await full_client.function_flush()
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]
    finally:
        await queue.aclose()
        await free(full_client)


@pytest.mark.asyncio
async def test_reads_work_on_a_full_server_over_eval(full_client: redis.asyncio.Redis) -> None:
    """A server without functions (or a user who may not use them): EVALSHA
    and EVAL carry the flags in their ``#!lua`` line."""
    queue = await _three_jobs(full_client)
    address = server_address(full_client.connection_pool.connection_kwargs)
    _NO_FUNCTIONS.add(address)
    await fill(full_client)
    try:
        await full_client.script_flush()
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]  # EVAL
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]  # EVALSHA
        assert await queue.remove("c") == "waiting"
    finally:
        _NO_FUNCTIONS.discard(address)
        await queue.aclose()
        await free(full_client)


@pytest.mark.asyncio
async def test_an_operator_frees_memory_on_a_full_server(
    full_client: redis.asyncio.Redis,
) -> None:
    queue = await _three_jobs(full_client)
    other = Queue("other", full_client)
    await other.add("x", None)
    await fill(full_client)
    try:
        assert await queue.remove("a") == "waiting"
        assert await queue.clean("waiting") == 1  # c
        assert await queue.drain() == 1  # b, delayed
        await other.obliterate()
        assert await full_client.keys("messai:{other}:*") == []
        assert await queue.get_job("b") is None
    finally:
        await queue.aclose()
        await free(full_client)


@pytest.mark.asyncio
async def test_a_refused_write_script_wrote_nothing(full_client: redis.asyncio.Redis) -> None:
    """Scripts without ``allow-oom`` are refused before they run when the
    server is over maxmemory, over FCALL and over EVAL alike: nothing of them
    is written. (Without a ``#!lua`` line, EVAL would refuse only a first
    write that needs memory: promote's first write frees some, a ZREM.)"""
    queue = await _three_jobs(full_client)
    await fill(full_client)
    before = await full_client.dbsize()
    try:
        with pytest.raises(ResponseError, match=OOM_REFUSAL):
            await queue.add("d", None)
        await full_client.function_flush()  # now over EVAL
        with pytest.raises(ResponseError, match=OOM_REFUSAL):
            await queue.add("d", None)
        with pytest.raises(ResponseError, match=OOM_REFUSAL):
            await queue.promote("b")
        assert await full_client.dbsize() == before
        assert (await full_client.zrange(queue.keys.delayed, 0, -1)) == ["b"]
    finally:
        await queue.aclose()
        await free(full_client)


@pytest.mark.asyncio
async def test_reads_work_on_a_read_only_replica(redis_factory: RedisFactory) -> None:
    primary_server = redis_factory()
    primary = redis.asyncio.Redis.from_url(primary_server.url, decode_responses=True)
    replica_server = redis_factory()
    replica = redis.asyncio.Redis.from_url(replica_server.url, decode_responses=True)
    try:
        source = await _three_jobs(primary)
        await source.aclose()
        host = primary.connection_pool.connection_kwargs["host"]
        port = primary.connection_pool.connection_kwargs["port"]
        await replica.replicaof(host, port)

        async def synced() -> bool:
            info = await replica.info("replication")
            return bool(info.get("master_link_status") == "up") and await replica.dbsize() > 0

        await await_until(synced, timeout=30, message="the replica never synced")
        queue = Queue("q", replica)
        # get_jobs was never called on the primary: the replica lacks its function
        # and may not load it (READONLY); EVAL with no-writes runs it
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]
        job = await queue.get_job("b")
        assert job is not None and job.state == "delayed"
        assert (await queue.stats())["waiting"] == 2
        # once the primary has the function, the replica has it too: FCALL_RO
        assert (await Queue("q", primary).get_job("a")) is not None
        await await_until(
            lambda: _has_get_jobs(replica), timeout=30, message="function not replicated"
        )
        assert [j.id for j in await queue.get_jobs("waiting")] == ["a", "c"]
        with pytest.raises(ResponseError, match=r"read only"):
            await queue.remove("a")
    finally:
        await primary.aclose()
        await replica.aclose()


async def _has_get_jobs(client: redis.asyncio.Redis) -> bool:
    libraries = await client.function_list()
    return any("get_jobs" in str(library) for library in libraries)


@pytest.mark.asyncio
async def test_a_worker_keeps_its_leases_on_a_full_server(
    full_client: redis.asyncio.Redis,
) -> None:
    """heartbeat is ``allow-oom``: it only rescores jobs already active, so a
    full server does not make the running jobs' leases run out."""
    queue = Queue("q", full_client)
    await queue.add("a", None, job_id="a")
    fetched = FetchReply.parse(
        await call(full_client, queue.keys, FetchRequest("w", 1_000, 1, "tok", 1))
    )
    assert [job.job_id for job in fetched.jobs] == ["a"]
    before = await full_client.zscore(queue.keys.active, "a")
    await fill(full_client)
    try:
        reply = HeartbeatReply.parse(
            await call(full_client, queue.keys, HeartbeatRequest(60_000, (HeldLease("a", "tok"),)))
        )
        assert not reply.lost and not reply.cancelled
        after = await full_client.zscore(queue.keys.active, "a")
        assert before is not None and after is not None and after > before + 30_000
    finally:
        await free(full_client)


@pytest.mark.asyncio
async def test_a_replica_skips_ghosts_and_leaves_them_to_the_primary(
    redis_factory: RedisFactory,
) -> None:
    """get_jobs stays no-writes: on a replica a page is still full, the
    ghosts stay (the replica may not drop them), and a read on the primary
    drops them."""
    primary = redis.asyncio.Redis.from_url(redis_factory().url, decode_responses=True)
    replica = redis.asyncio.Redis.from_url(redis_factory().url, decode_responses=True)
    try:
        source = await _three_jobs(primary)
        await primary.delete(source.keys.job("a"))  # "a" is a ghost now
        kwargs = primary.connection_pool.connection_kwargs
        await replica.replicaof(kwargs["host"], kwargs["port"])

        async def synced() -> bool:
            info = await replica.info("replication")
            return bool(info.get("master_link_status") == "up") and await replica.dbsize() > 0

        await await_until(synced, timeout=30, message="the replica never synced")
        queue = Queue("q", replica)
        assert [j.id for j in await queue.get_jobs("waiting", 0, 0)] == ["c"]
        assert await queue.get_job("a") is None
        assert (await queue.counts())["waiting"] == 2  # the replica cannot drop it
        assert [j.id for j in await source.get_jobs("waiting", 0, 0)] == ["c"]
        assert (await source.counts())["waiting"] == 1
        await source.aclose()
    finally:
        await primary.aclose()
        await replica.aclose()
