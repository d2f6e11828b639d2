"""A hot queue spread over several slots: a sharded queue.

A sharded queue ``q`` of N shards is N ordinary queues, ``q~0`` to
``q~<N-1>`` (or ``q~<k>-<n>``: :func:`shard_name` picks names whose hash
slots fall in N equal ranges of the 16384). Each shard's keys carry its own
hash tag, so on a Redis Cluster the shards sit in different slots and
spread over the masters; on one server they only split the work into N
queues. The shard count is recorded once, when the sharded
queue is created, in the hash :func:`shard_record_key` (one key, one call).

What holds and what does not:

- Order (FIFO, LIFO, priorities, delays) holds within a shard and not
  across shards. Jobs added with the same ``shard_key`` go to the same
  shard, so they keep their order among themselves.
- A custom ``job_id`` (and, without one, a ``dedup`` id) picks the shard
  when no ``shard_key`` is given: adding the same id twice reaches the
  same shard, so ids and dedup ids stay unique over the whole sharded
  queue.
- Generated job ids are counted per shard: the same number exists in
  several shards. A job is named by its shard and its id (``job.queue``
  is the shard's name); :meth:`ShardedQueue.get_job` takes the shard.
- Rate limits, global concurrency, chains and flows are per queue, so per
  shard: set them on :meth:`ShardedQueue.shard` (a limit of 10 set on each
  of 4 shards lets 40 run). A flow or chain step names a shard, not the
  sharded queue.

A worker serves a sharded queue by serving its shards:
``Worker(await expand_queue_names(redis, ["q"]), ...)``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from engine.errors import EngineError
from engine.job import Job
from engine.keys import DEFAULT_PREFIX, STATES, queue_registry_key, validate_queue_name
from engine.options import JobOptions, parse_options
from engine.queue import BulkJob, Queue

SHARD_SEPARATOR = "~"
"""Between a sharded queue's name and a shard's number: ``q~0``."""

MAX_SHARDS = 256

CLUSTER_SLOTS = 16384
MAX_NAME_ATTEMPTS = 100_000
"""How many names :func:`shard_name` tries for one shard (about ``shards``
are needed on average; this bound is never reached in practice)."""

log = logging.getLogger("engine.sharded")


class ShardingError(EngineError, ValueError):
    """A sharded queue asked for with a wrong name or count, or one that does not exist."""


def shard_record_key(prefix: str = DEFAULT_PREFIX) -> str:
    """Hash of every sharded queue's name to its shard count."""
    return f"{prefix}:shards"


def shard_name(name: str, shard: int, shards: int) -> str:
    """The queue holding shard ``shard`` of the sharded queue ``name`` of
    ``shards`` shards: ``<name>~<shard>``, or if that name's hash slot is
    outside the shard's share of the slots (the ``shard``-th ``shards``-th
    of the 16384), the first ``<name>~<shard>-<n>`` (n = 1, 2, ...) whose
    slot is inside it. On a Redis Cluster whose masters own equal ranges of
    slots (as ``redis-cli --cluster create`` deals them), the shards so
    spread evenly over the masters; names of the same shard number and
    count are the same in every process."""
    low, high = shard * CLUSTER_SLOTS // shards, (shard + 1) * CLUSTER_SLOTS // shards
    base = f"{name}{SHARD_SEPARATOR}{shard}"
    for attempt in range(MAX_NAME_ATTEMPTS):
        candidate = f"{base}-{attempt}" if attempt else base
        if low <= key_slot(candidate.encode()) < high:
            return candidate
    return base


def shard_key_index(key: str, shards: int) -> int:
    """The shard a ``shard_key`` (or a job id) goes to: CRC-32 of its UTF-8
    bytes modulo the count, the same in every process."""
    return zlib.crc32(key.encode()) % shards


def _check_name(name: str) -> str:
    validate_queue_name(name)
    if SHARD_SEPARATOR in name:
        raise ShardingError(
            f"invalid sharded queue name {name!r}: no {SHARD_SEPARATOR!r} (it names the shards)"
        )
    return name


async def shard_count(redis: Redis, name: str, prefix: str = DEFAULT_PREFIX) -> int | None:
    """How many shards the sharded queue ``name`` has, or None if it is not one."""
    value = await redis.hget(shard_record_key(prefix), name)
    return int(value) if value is not None else None


async def sharded_queues(redis: Redis, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Every sharded queue with its shard count."""
    record = await redis.hgetall(shard_record_key(prefix))
    return {str(name): int(count) for name, count in sorted(record.items())}


async def expand_queue_names(
    redis: Redis, names: Sequence[str], prefix: str = DEFAULT_PREFIX
) -> list[str]:
    """``names`` with every sharded queue replaced by its shards, in order
    (the names a Worker serves)."""
    record = await sharded_queues(redis, prefix)
    expanded: list[str] = []
    for name in names:
        count = record.get(name)
        if count is None:
            expanded.append(name)
        else:
            expanded.extend(shard_name(name, shard, count) for shard in range(count))
    return list(dict.fromkeys(expanded))


async def warn_of_sharded_names(
    redis: Redis, names: Sequence[str], prefix: str, worker_id: str
) -> None:
    """Log a warning for each of ``names`` that is a sharded queue: a worker
    given its name serves the (empty) plain queue of that name, not its
    shards. Redis errors are ignored here (the worker reports them where
    they matter)."""
    try:
        record = await sharded_queues(redis, prefix)
    except (RedisError, OSError):
        return
    for name in names:
        if name in record:
            log.warning(
                "worker %s: %r is a sharded queue of %d shards; this worker serves"
                " no shard of it (give it expand_queue_names(...) or worker -q %s)",
                worker_id,
                name,
                record[name],
                name,
            )


class ShardedQueue:
    """A queue whose jobs are spread over ``shards`` ordinary queues.

    Make one with :meth:`create` (records the count, or checks it against
    the recorded one) or :meth:`open` (reads it).
    """

    def __init__(
        self, name: str, redis: Redis, shards: int, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        _check_name(name)
        if not 1 <= shards <= MAX_SHARDS:
            raise ShardingError(f"shards must be 1 to {MAX_SHARDS}, not {shards}")
        self.name = name
        self.redis = redis
        self.prefix = prefix
        self.shards = [
            Queue(shard_name(name, shard, shards), redis, prefix=prefix) for shard in range(shards)
        ]
        self._next = itertools.cycle(range(shards))

    def __repr__(self) -> str:
        return f"ShardedQueue({self.name!r}, shards={len(self.shards)})"

    @classmethod
    async def create(
        cls, name: str, redis: Redis, shards: int, *, prefix: str = DEFAULT_PREFIX
    ) -> ShardedQueue:
        """Record ``name`` as a sharded queue of ``shards`` shards (HSETNX)
        and list its shards in the queue registry. Creating it again with the
        same count opens it; with another count raises ShardingError (the
        count never changes: jobs would be stranded or keys would move)."""
        queue = cls(name, redis, shards, prefix=prefix)
        record = shard_record_key(prefix)
        await redis.hsetnx(record, name, shards)
        recorded = await shard_count(redis, name, prefix)
        if recorded != shards:
            raise ShardingError(f"sharded queue {name!r} has {recorded} shards, not {shards}")
        await redis.sadd(queue_registry_key(prefix), *(shard.name for shard in queue.shards))
        return queue

    @classmethod
    async def open(cls, name: str, redis: Redis, *, prefix: str = DEFAULT_PREFIX) -> ShardedQueue:
        """The sharded queue ``name`` as recorded; ShardingError if there is none."""
        count = await shard_count(redis, _check_name(name), prefix)
        if count is None:
            raise ShardingError(f"no sharded queue {name!r}")
        return cls(name, redis, count, prefix=prefix)

    def shard(self, index: int) -> Queue:
        """The ordinary queue of shard ``index``."""
        return self.shards[index]

    def shard_for(self, options: JobOptions, shard_key: str | None = None) -> int:
        """The shard a job goes to: by ``shard_key`` if given, else by its
        ``job_id``, else by its dedup id, else the next in turn."""
        key = shard_key or options.job_id or (options.dedup.id if options.dedup else None)
        if key is not None:
            return shard_key_index(key, len(self.shards))
        return next(self._next)

    # -- adding -----------------------------------------------------------

    async def add(
        self,
        name: str,
        data: Any = None,
        options: JobOptions | Mapping[str, Any] | None = None,
        *,
        shard_key: str | None = None,
        **option_fields: Any,
    ) -> Job:
        """Add one job to a shard (see :meth:`shard_for`); ``job.queue``
        names the shard it went to."""
        opts = parse_options(
            dict(options) if isinstance(options, Mapping) else options, **option_fields
        )
        return await self.shards[self.shard_for(opts, shard_key)].add(name, data, opts)

    async def add_bulk(
        self,
        jobs: Iterable[BulkJob | tuple[str, Any] | Mapping[str, Any]],
        shard_key: str | None = None,
    ) -> list[tuple[str, str]]:
        """Add many jobs, each shard's share in one :meth:`Queue.add_bulk`
        (the shards concurrently). Returns ``(shard name, job id)`` in input
        order. Each shard's share is added as ``Queue.add_bulk`` adds; when
        one shard fails, the others' shares may have been added (its error
        is raised)."""
        shares: list[list[BulkJob]] = [[] for _ in self.shards]
        placed: list[tuple[int, int]] = []
        for job in jobs:
            bulk = _as_bulk(job)
            opts = parse_options(
                dict(bulk.options) if isinstance(bulk.options, Mapping) else bulk.options
            )
            shard = self.shard_for(opts, shard_key)
            placed.append((shard, len(shares[shard])))
            shares[shard].append(BulkJob(bulk.name, bulk.data, opts))
        ids = await asyncio.gather(
            *(queue.add_bulk(share) for queue, share in zip(self.shards, shares, strict=True))
        )
        return [(self.shards[shard].name, ids[shard][at]) for shard, at in placed]

    # -- reading ----------------------------------------------------------

    async def get_job(self, job_id: str, shard: int | str | None = None) -> Job | None:
        """The job ``job_id`` of shard ``shard`` (its number or name, as in
        ``job.queue``). Without a shard: the shard a custom id goes to when
        added without a ``shard_key`` (see :meth:`shard_for`); a generated
        id (only digits) needs one, as every shard counts its own ids."""
        if shard is None:
            if job_id.isascii() and job_id.isdigit():
                raise ShardingError(
                    f"job {job_id!r}: generated ids repeat across shards; name the shard"
                )
            shard = shard_key_index(job_id, len(self.shards))
        return await self._shard_of(shard).get_job(job_id)

    def _shard_of(self, shard: int | str) -> Queue:
        if isinstance(shard, int):
            return self.shards[shard]
        for queue in self.shards:
            if queue.name == shard:
                return queue
        raise ShardingError(f"{shard!r} is not a shard of {self.name!r}")

    async def counts(self) -> dict[str, int]:
        """The number of jobs in every state, summed over the shards."""
        return sum_counts(await self.shard_counts())

    async def shard_counts(self) -> list[dict[str, int]]:
        """Each shard's counts, in shard order."""
        return list(await asyncio.gather(*(queue.counts() for queue in self.shards)))

    # -- admin over every shard ------------------------------------------

    async def pause(self) -> None:
        await asyncio.gather(*(queue.pause() for queue in self.shards))

    async def resume(self) -> None:
        await asyncio.gather(*(queue.resume() for queue in self.shards))


def sum_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counts per state added up (every state present, 0 when none)."""
    total = dict.fromkeys(STATES, 0)
    for one in counts:
        for state, value in one.items():
            total[state] = total.get(state, 0) + value
    return total


def _as_bulk(job: BulkJob | tuple[str, Any] | Mapping[str, Any]) -> BulkJob:
    if isinstance(job, BulkJob):
        return job
    if isinstance(job, tuple):
        return BulkJob(*job)
    return BulkJob(**job)
