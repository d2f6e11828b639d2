"""The producer and operator side of a queue: add jobs, inspect, administer."""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoPermissionError, ReadOnlyError, ResponseError

from engine.cluster import is_cluster, register_queue
from engine.contracts.add import AddJob, AddReply, pack_add
from engine.contracts.base import call
from engine.contracts.reads import DropGhostsRequest, GetJobsReply, GetJobsRequest
from engine.durability import ReplicaAck, call_acknowledged
from engine.errors import (
    BulkAddError,
    InvalidJobError,
    JobNotFoundError,
    QueueNotFoundError,
)
from engine.events import Event, read_events
from engine.job import Job
from engine.keys import DEFAULT_PREFIX, STATES, QueueKeys, queue_registry_key
from engine.metrics import MetricsWindow, read_metrics
from engine.options import DEFAULT_OPTIONS, JobOptions, parse_options
from engine.priorities import count_waiting_by_priority
from engine.queue_admin import QueueAdmin
from engine.scripts import BoundScript, scripts
from engine.waiting import wait_for_job
from engine.wire import Arg, Channel, close_shared_channel, shared_channel

BULK_CHUNK = 1000
"""Jobs per script call in add_bulk: bounds how long one call holds Redis."""
BULK_CHUNKS_PER_PIPELINE = 8
GHOST_ROUNDS = 100
"""Script calls one page read may make while it meets ghosts (each skips up
to 1,000; on a primary they are dropped as met, so later reads skip none)."""


COUNT_REPLIES = len(STATES) + 1
"""Replies of :func:`pipe_counts`: one per state set, and the waiting list."""


def pipe_counts(pipe: Pipeline, keys: QueueKeys) -> None:
    """Queue the O(1) calls that count a queue's jobs in every state on ``pipe``."""
    for state in STATES:
        pipe.zcard(keys.state(state))
    pipe.llen(keys.waiting_list)


def read_counts(values: list[Any]) -> dict[str, int]:
    """The counts per state from the :data:`COUNT_REPLIES` replies of :func:`pipe_counts`."""
    counts = {state: int(value) for state, value in zip(STATES, values, strict=False)}
    counts["waiting"] += int(values[len(STATES)])
    return counts


@dataclass(frozen=True)
class BulkJob:
    """One job for :meth:`Queue.add_bulk`."""

    name: str
    data: Any = None
    options: JobOptions | Mapping[str, Any] | None = None


REGISTER_EVERY_S = 1.0
"""On a Redis Cluster, how often a Queue's adds refresh its registry entry (see ``Queue._register``)."""


class Queue(QueueAdmin):
    """A named queue in Redis.

    Jobs are added over one pipelined connection per client and event loop,
    shared by every Queue on that client (concurrent adds share its round
    trips). Clients made by ``engine.connect`` close it when they are closed;
    with a client made otherwise, call :meth:`aclose` when done adding.

    Args:
        name: the queue's name (no braces, colons or control characters).
        redis: an asyncio Redis client created with ``decode_responses=True``
            (see ``engine.connection.connect``).
        prefix: key prefix shared by every queue of one deployment.
        replicas: an add returns once this many replicas have the job (``WAIT``)
            and raises ``ReplicaAckTimeout`` when they do not within
            ``replica_timeout_ms`` (see ``engine.durability``). Default: the
            client's ``REDIS_WAIT_REPLICAS`` (clients made by ``engine.connect``), else 0.
        replica_timeout_ms: how long an add waits for them.
    """

    def __init__(
        self,
        name: str,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        replicas: int | None = None,
        replica_timeout_ms: int = 1000,
    ) -> None:
        self.name = name
        self.redis = redis
        self.keys = QueueKeys(name, prefix)
        cluster = is_cluster(redis)
        self._add = BoundScript(scripts().add, self.keys.script_keys_on(cluster))
        self._cluster = cluster
        self._registered_at = -math.inf
        """On a Redis Cluster, when an add here last put this queue in the
        registry (monotonic seconds; see :meth:`_register`)."""
        self._ack: ReplicaAck | None = (
            getattr(redis, "replica_ack", None)
            if replicas is None
            else (ReplicaAck(replicas, replica_timeout_ms) if replicas else None)
        )

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    async def aclose(self) -> None:
        """Close the connection that adds go over. Every Queue on this client
        shares it; the next add opens a new one. The client stays open."""
        await close_shared_channel(self.redis)

    # -- adding -----------------------------------------------------------

    async def add(
        self,
        name: str,
        data: Any = None,
        options: JobOptions | Mapping[str, Any] | None = None,
        **option_fields: Any,
    ) -> Job:
        """Add one job; options as a JobOptions, a dict or keywords.

        Adding a job whose ``job_id`` exists returns the existing job. So
        does adding one whose ``dedup`` id another job holds (see
        :class:`engine.options.Dedup`): the job returned has
        ``deduplicated`` set (and state ``removed`` when the holder of a
        TTL'd dedup id has since been deleted).
        """
        if options is None and not option_fields:
            opts = DEFAULT_OPTIONS
        else:
            opts = parse_options(
                dict(options) if isinstance(options, Mapping) else options, **option_fields
            )
        reply = await self._add_one(name, data, opts)
        job_id, created = AddReply.parse_one(reply)
        if not created:
            existing = await self.get_job(job_id)
            deduplicated = AddReply.deduplicated(reply)
            if existing is not None:
                existing.deduplicated = deduplicated
                return existing
            if deduplicated:
                gone = Job(job_id, self.name, name, None, "removed", deduplicated=True)
                return gone.bind(self)
        now_ms = int(time.time() * 1000)
        state = "delayed" if opts.delay_ms else "waiting"
        job = Job(
            id=job_id,
            queue=self.name,
            name=name,
            data=data,
            state=state,
            options=opts,
            created_ms=now_ms,
        )
        return job.bind(self)

    async def add_bulk(
        self, jobs: Iterable[BulkJob | tuple[str, Any] | Mapping[str, Any]]
    ) -> list[str]:
        """Add many jobs, a chunk per script call, several calls per round trip.

        Every job is validated before its chunk is sent. Returns the ids in
        order (an existing ``job_id`` is returned as is and not re-added).

        Each chunk is all or nothing (one script call; a script is refused
        before it runs when Redis is out of memory). Chunks go in order; when
        one fails, nothing more is sent and :class:`BulkAddError` says exactly
        which jobs were added: all before ``failed_from``, and among the later
        ones those of ``also_added`` (chunks of the same round trip that Redis
        ran after the failed one). With job ids, calling again with the same
        input adds nothing twice. An invalid job raises InvalidJobError when
        nothing was sent yet, else BulkAddError (its batch was not sent).
        """
        ids: list[str] = []
        iterator = iter(jobs)
        while True:
            batch = list(itertools.islice(iterator, BULK_CHUNK * BULK_CHUNKS_PER_PIPELINE))
            if not batch:
                return ids
            try:
                chunks = [
                    self._bulk_chunk_args(batch[i : i + BULK_CHUNK])
                    for i in range(0, len(batch), BULK_CHUNK)
                ]
            except InvalidJobError as exc:
                if not ids:
                    raise  # nothing was written
                raise BulkAddError(exc, list(ids), len(ids), {}) from exc
            sizes = [min(BULK_CHUNK, len(batch) - i) for i in range(0, len(batch), BULK_CHUNK)]
            if self._cluster:
                await self._register()
            await self._send_chunks(chunks, sizes, ids)

    async def add_once(self, name: str, data: Any, options: JobOptions) -> tuple[str, bool]:
        """Add one job: its id, and whether it was created (False: its
        ``job_id`` existed, or its dedup id is held, and nothing was written)."""
        return AddReply.parse_one(await self._add_one(name, data, options))

    async def _add_one(self, name: str, data: Any, options: JobOptions) -> Any:
        """The add script's reply for one job (see :class:`AddReply`)."""
        args = pack_add([self.keys.base], self.name, (AddJob.of(name, data, options),))
        if self._cluster:
            await self._register()
        channel = shared_channel(self.redis)
        return await channel.run(lambda: self._send_add(channel, args))

    async def _register(self) -> None:
        """On a Redis Cluster: put this queue in the queue registry (another
        slot: the add script cannot) before an add, at most once every
        :data:`REGISTER_EVERY_S` per Queue (and again at once after this Queue
        obliterated it): the registry is never without a queue that has jobs
        for longer than that, even when another process obliterated it."""
        now = time.monotonic()
        if now - self._registered_at < REGISTER_EVERY_S:
            return
        await register_queue(self.redis, self.keys)
        self._registered_at = now

    async def _send_add(self, channel: Channel, args: list[Arg]) -> Any:
        if self._ack is None:
            return await self._add(channel, args)
        return (await call_acknowledged(channel, self._add, [args], self._ack))[0]

    def _bulk_chunk_args(
        self, chunk: list[BulkJob | tuple[str, Any] | Mapping[str, Any]]
    ) -> list[Arg]:
        jobs: list[AddJob] = []
        for item in chunk:
            if isinstance(item, BulkJob):
                spec = item
            elif isinstance(item, tuple):
                spec = BulkJob(*item)
            else:
                spec = BulkJob(**item)
            opts = parse_options(
                dict(spec.options) if isinstance(spec.options, Mapping) else spec.options
            )
            jobs.append(AddJob.of(spec.name, spec.data, opts))
        return pack_add([self.keys.base], self.name, tuple(jobs))

    async def _send_chunks(self, chunks: list[list[Arg]], sizes: list[int], ids: list[str]) -> None:
        """Send ``chunks`` (of ``sizes`` jobs) and extend ``ids`` with their
        jobs' ids; BulkAddError when one fails (``ids``: those added before)."""
        # Pipelined on the shared connection: redis-py's packing costs more than
        # Redis's work for them. The first goes alone, so that a server that
        # lost the script is sent its source once, not once per chunk.
        channel = shared_channel(self.redis)
        ack = self._ack
        if ack is not None:
            # every chunk and its WAIT in one write; a failure (a refusal, or
            # too few replicas in time) leaves what was written to the error
            try:
                acked = await channel.run(
                    lambda: call_acknowledged(channel, self._add, chunks, ack)
                )
            except Exception as exc:
                raise self._bulk_error(exc, ids, [], sizes) from exc
            ids.extend(job_id for reply in acked for job_id in AddReply.parse_ids(reply))
            return
        replies: list[Any] = []
        try:
            replies.append(await channel.run(lambda: self._add(channel, chunks[0])))
        except Exception as exc:  # any failure: say what was written
            raise self._bulk_error(exc, ids, [], sizes) from exc
        replies.extend(
            await asyncio.gather(
                *(channel.run(functools.partial(self._add, channel, args)) for args in chunks[1:]),
                return_exceptions=True,
            )
        )
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, Exception):
                raise reply  # cancelled
        failed = next((i for i, reply in enumerate(replies) if isinstance(reply, Exception)), None)
        if failed is None:
            ids.extend(job_id for reply in replies for job_id in AddReply.parse_ids(reply))
            return
        for reply in replies[:failed]:
            ids.extend(AddReply.parse_ids(reply))
        raise self._bulk_error(replies[failed], ids, replies[failed + 1 :], sizes[failed:])

    @staticmethod
    def _bulk_error(
        cause: Exception, ids: list[str], later: list[Any], sizes: list[int]
    ) -> BulkAddError:
        """The error of a chunk that failed with ``cause`` after ``ids`` were
        added; ``later``: the replies (or errors) of the chunks after it in
        the same round trip; ``sizes``: the failed chunk's size, then theirs."""
        failed_from = len(ids)
        also_added: dict[int, str] = {}
        start = failed_from + sizes[0]
        for reply, size in zip(later, sizes[1:], strict=False):
            if not isinstance(reply, BaseException):
                for offset, job_id in enumerate(AddReply.parse_ids(reply)):
                    also_added[start + offset] = job_id
            start += size
        # a refusal (ResponseError) ran nothing; a lost connection may have run it
        definite = isinstance(cause, ResponseError) and all(
            isinstance(reply, ResponseError) or not isinstance(reply, BaseException)
            for reply in later
        )
        return BulkAddError(cause, list(ids), failed_from, also_added, definite=definite)

    # -- reading ------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job | None:
        """The job with its current state, or None."""
        jobs = await self._get_jobs(GetJobsRequest.by_ids(job_id))
        return jobs[0] if jobs else None

    async def require_job(self, job_id: str) -> Job:
        job = await self.get_job(job_id)
        if job is None:
            raise JobNotFoundError(self.name, job_id)
        return job

    async def get_jobs(self, state: str, start: int = 0, end: int = 49) -> list[Job]:
        """A page of jobs in ``state``: ranks ``start`` to ``end`` inclusive.

        Waiting jobs come in run order, delayed ones by due time, finished
        ones newest first. Ghosts (ids left in the state whose job hash is
        gone) are skipped and dropped from the state (see
        :meth:`drop_ghosts`): the page is full unless the state ends.
        """
        self.keys.state(state)
        newest_first = state in ("completed", "failed")
        request = GetJobsRequest.page(state, start, end, newest_first)
        jobs: list[Job] = []
        for _round in range(GHOST_ROUNDS):
            reply = GetJobsReply.parse(await call(self.redis, self.keys, request))
            jobs.extend(self._jobs(reply))
            dropped = await self.drop_ghosts(reply.ghosts)
            if not reply.ghosts or reply.missing == 0 or reply.ended:
                break
            first = reply.next_rank - dropped  # every ghost dropped was before next_rank
            request = GetJobsRequest.page(state, first, first + reply.missing - 1, newest_first)
        return jobs

    async def _get_jobs(self, request: GetJobsRequest) -> list[Job]:
        reply = GetJobsReply.parse(await call(self.redis, self.keys, request))
        await self.drop_ghosts(reply.ghosts)
        return self._jobs(reply)

    def _jobs(self, reply: GetJobsReply) -> list[Job]:
        return [
            Job.from_hash(self.name, job.id, job.state, job.fields).bind(self) for job in reply.jobs
        ]

    async def drop_ghosts(self, job_ids: Sequence[str]) -> int:
        """Take ids whose job hash is gone out of every state (ids whose
        hash exists stay); reads do it for the ghosts they meet. Returns how
        many were dropped: 0 where Redis refuses them (a replica, or a user
        who may only read)."""
        if not job_ids:
            return 0
        try:
            return int(await call(self.redis, self.keys, DropGhostsRequest(tuple(job_ids))))
        except ResponseError as exc:
            refusal = str(exc).upper()
            if isinstance(exc, ReadOnlyError | NoPermissionError) or refusal.startswith(
                ("READONLY", "NOPERM")
            ):
                return 0
            raise

    async def wait_for(
        self,
        job_id: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the job as last read goes with the error
        on_change: Callable[[Job], None] | None = None,
    ) -> Job:
        """Wait until a job completes; see :meth:`Job.wait` (``on_change``: each re-read)."""
        return await wait_for_job(self, job_id, timeout, on_change)

    async def get_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        lines = await self.redis.lrange(self.keys.logs(job_id), start, end)
        return [str(line) for line in lines]

    async def counts(self) -> dict[str, int]:
        """The number of jobs in every state, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe_counts(pipe, self.keys)
            values = await pipe.execute()
        return read_counts(values)

    async def counts_by_priority(self) -> dict[int, int]:
        """Waiting jobs per priority (0 runs first); priorities without any are left out."""
        return await count_waiting_by_priority(self.redis, self.keys)

    async def stats(self) -> dict[str, Any]:
        """Counts of every state plus ``paused``, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe_counts(pipe, self.keys)
            pipe.hget(self.keys.meta, "paused")
            values = await pipe.execute()
        result: dict[str, Any] = dict(read_counts(values[:COUNT_REPLIES]))
        result["paused"] = values[-1] is not None
        return result

    async def exists(self) -> bool:
        """Whether the queue is in the registry (it has had a job or a setting)."""
        return bool(await self.redis.sismember(queue_registry_key(self.keys.prefix), self.name))

    async def require_exists(self) -> None:
        if not await self.exists():
            raise QueueNotFoundError(self.name)

    async def metrics(self, window: MetricsWindow = "hour") -> list[dict[str, int]]:
        """Per-minute completed, failed and run-time sums over the window."""
        return await read_metrics(self.redis, self.keys, window)

    async def events(
        self, since: str = "$", block_ms: int = 5000, count: int = 500
    ) -> AsyncIterator[Event]:
        """Follow this queue's event stream from ``since`` (``$``: only new ones)."""
        async for event in read_events(self.redis, [self.keys], since, block_ms, count):
            yield event


async def list_queues(redis: Redis, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Every queue name in the registry, sorted."""
    names = await redis.smembers(queue_registry_key(prefix))
    return sorted(str(name) for name in names)
