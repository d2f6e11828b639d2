"""Operator views: stats for many queues, workers, server info."""

from __future__ import annotations

import redis.asyncio

from engine import Queue
from engine.monitor import all_queue_stats, list_workers, server_info, server_time_ms
from tests.engine.conftest import StartWorker
from tests.helpers import await_until


async def test_stats_for_every_queue(redis_client: redis.asyncio.Redis) -> None:
    await Queue("a", redis_client).add("noop")
    b = Queue("b", redis_client)
    await b.add("noop", delay_ms=60_000)
    await b.pause()
    stats = await all_queue_stats(redis_client)
    assert stats["a"]["waiting"] == 1 and stats["a"]["paused"] is False
    assert stats["b"]["delayed"] == 1 and stats["b"]["paused"] is True


async def test_workers_register_and_leave(
    redis_client: redis.asyncio.Redis, start_worker: StartWorker
) -> None:
    worker = await start_worker(concurrency=3, queues=["test-queue", "other"])
    await await_until(lambda: _has_workers(redis_client, 1))
    [info] = await list_workers(redis_client)
    assert info.id == worker.id and info.concurrency == 3 and info.queues == ["test-queue", "other"]
    assert not info.is_silent(await server_time_ms(redis_client))
    worker.request_stop()
    await await_until(lambda: _has_workers(redis_client, 0))


async def _has_workers(client: redis.asyncio.Redis, count: int) -> bool:
    return len(await list_workers(client)) == count


async def test_server_info_flags_unsafe_settings(redis_client: redis.asyncio.Redis) -> None:
    info = await server_info(redis_client)
    assert info["version"].count(".") == 2
    assert info["persistence"] == "none"  # the test server keeps nothing
    assert any("append-only" in warning for warning in info["warnings"])
    await redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        info = await server_info(redis_client)
        assert any("allkeys-lru" in warning for warning in info["warnings"])
    finally:
        await redis_client.config_set("maxmemory-policy", "noeviction")


async def test_server_info_flags_a_small_listpack_value(redis_client: redis.asyncio.Redis) -> None:
    original = (await redis_client.config_get("hash-max-listpack-value"))["hash-max-listpack-value"]
    try:
        for enough in (64, 1024):  # Redis's default and the embedded server's
            await redis_client.config_set("hash-max-listpack-value", enough)
            info = await server_info(redis_client)
            assert not any("listpack" in warning for warning in info["warnings"])
        await redis_client.config_set("hash-max-listpack-value", 32)
        info = await server_info(redis_client)
        assert any("hash-max-listpack-value is 32" in warning for warning in info["warnings"])
    finally:
        await redis_client.config_set("hash-max-listpack-value", original)
