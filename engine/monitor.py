"""Read-only views for operators: many queues at once, workers, the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.cluster import is_cluster
from engine.jobhash import CHUNK_BYTES
from engine.keys import DEFAULT_PREFIX, QueueKeys, worker_key, worker_registry_key
from engine.limits import QueueLimits, pipe_limits, read_limits
from engine.queue import COUNT_REPLIES, list_queues, pipe_counts, read_counts


async def queue_stats(
    redis: Redis, names: list[str], prefix: str = DEFAULT_PREFIX
) -> dict[str, dict[str, Any]]:
    """Counts per state and ``paused`` for every queue in ``names``, in one round trip."""
    keys = [QueueKeys(name, prefix) for name in names]
    async with redis.pipeline(transaction=False) as pipe:
        for queue in keys:
            pipe_counts(pipe, queue)
            pipe.hget(queue.meta, "paused")
        values = await pipe.execute()
    per_queue = COUNT_REPLIES + 1
    result: dict[str, dict[str, Any]] = {}
    for index, queue in enumerate(keys):
        chunk = values[index * per_queue : (index + 1) * per_queue]
        stats: dict[str, Any] = dict(read_counts(chunk[:COUNT_REPLIES]))
        stats["paused"] = chunk[-1] is not None
        result[queue.name] = stats
    return result


async def all_queue_stats(redis: Redis, prefix: str = DEFAULT_PREFIX) -> dict[str, dict[str, Any]]:
    """:func:`queue_stats` for every queue in the registry (two round trips)."""
    return await queue_stats(redis, await list_queues(redis, prefix), prefix)


async def queue_limits(
    redis: Redis, names: list[str], prefix: str = DEFAULT_PREFIX
) -> dict[str, QueueLimits]:
    """Rate limit and global concurrency of every queue in ``names``, in one round trip."""
    keys = [QueueKeys(name, prefix) for name in names]
    async with redis.pipeline(transaction=False) as pipe:
        for queue in keys:
            pipe_limits(pipe, queue)
        replies = await pipe.execute()
    return {queue.name: read_limits(reply) for queue, reply in zip(keys, replies, strict=True)}


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process as it last described itself."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    running: int
    done: int
    failed: int
    started_ms: int
    last_beat_ms: int
    heartbeat_ms: int
    lease_ms: int = 0
    """Its lease length (0: a worker too old to say)."""
    last_finished_ms: int = 0
    """When a job of it last ended (0: none yet)."""
    paused: bool = False
    """It takes no jobs (Worker.pause, SIGUSR1 or a pause command); running ones finish."""

    def stuck(self, now_ms: int) -> bool:
        """It runs jobs but none finished for longer than its lease (nor since it
        started): a processor or the worker itself hangs. Its log has the
        watchdog's report of where it waits."""
        if self.running <= 0 or self.lease_ms <= 0:
            return False
        return now_ms - max(self.last_finished_ms, self.started_ms) > self.lease_ms

    def silent_for_ms(self, now_ms: int) -> int:
        return max(now_ms - self.last_beat_ms, 0)

    def is_silent(self, now_ms: int) -> bool:
        """No heartbeat for three intervals: the process is gone or stuck."""
        return self.silent_for_ms(now_ms) > 3 * self.heartbeat_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running": self.running,
            "done": self.done,
            "failed": self.failed,
            "started_ms": self.started_ms,
            "last_beat_ms": self.last_beat_ms,
            "heartbeat_ms": self.heartbeat_ms,
            "lease_ms": self.lease_ms,
            "last_finished_ms": self.last_finished_ms,
            "paused": self.paused,
        }


async def list_workers(redis: Redis, prefix: str = DEFAULT_PREFIX) -> list[WorkerInfo]:
    """Workers that beat within the last day, most recent first (two round trips)."""
    ids_scores: list[Any] = await redis.zrevrange(
        worker_registry_key(prefix), 0, 999, withscores=True
    )
    if not ids_scores:
        return []
    cluster = is_cluster(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id, _score in ids_scores:
            pipe.hgetall(worker_key(str(worker_id), prefix, cluster))
        hashes = await pipe.execute()
    workers = []
    for (worker_id, score), fields in zip(ids_scores, hashes, strict=True):
        if not fields:
            continue  # its hash expired: long silent
        workers.append(
            WorkerInfo(
                id=str(worker_id),
                host=fields.get("host", ""),
                pid=int(fields.get("pid", 0)),
                queues=[q for q in fields.get("queues", "").split(",") if q],
                concurrency=int(fields.get("concurrency", 0)),
                running=int(fields.get("running", 0)),
                done=int(fields.get("done", 0)),
                failed=int(fields.get("failed", 0)),
                started_ms=int(fields.get("started", 0)),
                last_beat_ms=int(score),
                heartbeat_ms=int(fields.get("heartbeat_ms", 10_000)),
                lease_ms=int(fields.get("lease_ms", 0)),
                last_finished_ms=int(fields.get("last_finished", 0)),
                paused=fields.get("paused") == "1",
            )
        )
    return workers


async def server_time_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


COMPACT_HASH_VALUE = CHUNK_BYTES
"""The least hash-max-listpack-value that keeps a waiting job's hash in the
compact encoding: its data and options are stored in chunks of up to
CHUNK_BYTES (the default, 64, is enough)."""


async def server_info(redis: Redis) -> dict[str, Any]:
    """Version, memory, clients, ops/s, persistence and eviction policy, with warnings."""
    info = await redis.info()
    policy = str(info.get("maxmemory_policy", "unknown"))
    snapshots: str | None = None
    fsync: str | None = None
    listpack_value: str | None = None
    try:
        config = await redis.config_get("*")
        policy = str(config.get("maxmemory-policy") or policy)
        snapshots = config.get("save")
        fsync = config.get("appendfsync")
        listpack_value = config.get("hash-max-listpack-value", config.get("hash-max-ziplist-value"))
    except ResponseError:
        pass  # CONFIG is disabled on some managed servers
    aof = bool(info.get("aof_enabled"))
    persistence = "rdb" if snapshots else "none"
    if aof:
        persistence = f"aof ({fsync})" if fsync else "aof"
    warnings = []
    if policy != "noeviction":
        warnings.append(f"maxmemory-policy is {policy}: Redis may evict jobs; use noeviction")
    if not aof:
        warnings.append("append-only file is off: a restart can lose recent jobs")
    if listpack_value is not None and int(listpack_value) < COMPACT_HASH_VALUE:
        warnings.append(
            f"hash-max-listpack-value is {listpack_value}: a job whose data is longer takes"
            f" about 1.6x the memory; {COMPACT_HASH_VALUE} or more (the default, 64) keeps"
            " jobs compact"
        )
    return {
        "version": info.get("redis_version", "?"),
        "mode": info.get("redis_mode", "standalone"),
        "uptime_s": int(info.get("uptime_in_seconds", 0)),
        "used_memory": int(info.get("used_memory", 0)),
        "used_memory_human": info.get("used_memory_human", ""),
        "maxmemory": int(info.get("maxmemory", 0)),
        "connected_clients": int(info.get("connected_clients", 0)),
        "ops_per_sec": int(info.get("instantaneous_ops_per_sec", 0)),
        "persistence": persistence,
        "maxmemory_policy": policy,
        "warnings": warnings,
    }


async def delayed_due_ms(
    redis: Redis, name: str, job_ids: list[str], prefix: str = DEFAULT_PREFIX
) -> dict[str, int]:
    """When each of ``job_ids`` is due to run (epoch ms), for those still delayed (one call)."""
    if not job_ids:
        return {}
    scores: list[Any] = await redis.zmscore(QueueKeys(name, prefix).delayed, job_ids)
    return {
        job_id: int(score)
        for job_id, score in zip(job_ids, scores, strict=True)
        if score is not None
    }


async def recent_throughput(
    redis: Redis,
    names: list[str],
    now_ms: int,
    minutes: int = 60,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, list[int]]:
    """Jobs finished (completed plus failed) per minute over the last ``minutes``, oldest
    first, for every queue in ``names``: one round trip of HMGETs on the metrics hashes
    (see ``engine.metrics``), cheap enough to call every second for many queues."""
    end_minute = now_ms // 60_000
    span = range(end_minute - minutes + 1, end_minute + 1)
    by_day: dict[int, list[int]] = {}
    for minute in span:
        by_day.setdefault(minute // 1440, []).append(minute)
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            keys = QueueKeys(name, prefix)
            for day, day_minutes in by_day.items():
                fields = [f"{kind}{m - day * 1440}" for m in day_minutes for kind in "cf"]
                pipe.hmget(keys.metrics(day), fields)
        replies = await pipe.execute()
    result: dict[str, list[int]] = {}
    index = 0
    for name in names:
        counts: list[int] = []
        for _day in by_day:
            values = replies[index]
            index += 1
            counts.extend(
                int(values[i] or 0) + int(values[i + 1] or 0) for i in range(0, len(values), 2)
            )
        result[name] = counts
    return result
