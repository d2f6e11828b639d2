"""What the console reads from and does to Redis, always through the engine.

The screens never touch Redis themselves: they ask a :class:`Backend` for
plain snapshots (counts, a page of jobs, one job with its logs and events)
and call its queue actions. Every read is bounded: counts are pipelined
O(1) calls, job lists are server-side windows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.codec import dumps
from engine.connection import connect, connect_reader
from engine.errors import InvalidJobError
from engine.events import Event, read_events, read_history, read_older, stream_order
from engine.failures import FailureReport, group_failures
from engine.job import Job
from engine.keys import QueueKeys
from engine.metrics import MetricsWindow, read_metrics
from engine.monitor import (
    WorkerInfo,
    all_queue_stats,
    delayed_due_ms,
    list_workers,
    server_info,
)
from engine.nodes import NodeInfo, NodeWatch
from engine.queue import Queue, list_queues
from engine.rates import QueueRates, RateTracker, read_queues, total_rates
from engine.replicas import wants_replica
from engine.schedules import ScheduleInfo, Schedules
from engine.sentinel import is_sentinel_url
from engine.sharded import shard_name, sharded_queues, sum_counts
from engine.worker.control import WorkerCommand, send_worker_command

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
)
"""Failures that mean "Redis is not there right now" (the console waits and retries)."""

JOB_STATES: tuple[str, ...] = ("waiting", "active", "delayed", "completed", "failed")
"""The states the queue screen has a tab for."""

SEARCH_PAGE = 500
"""Jobs one search step reads: one script call, at most 506 commands."""
OLDER_EVENTS = 200
"""Events one "older" step of the events screen adds: one XREVRANGE of at most
this many entries per queue followed."""


@dataclass(frozen=True)
class QueueSummary:
    """One queue on the overview."""

    name: str
    counts: dict[str, int]
    paused: bool
    workers: int
    """Live workers serving it."""
    rates: QueueRates | None = None
    """Finished per second, backlog trend and oldest wait now (None until two readings)."""


@dataclass(frozen=True)
class Overview:
    queues: list[QueueSummary]
    workers: list[WorkerInfo]
    total: QueueRates | None = None
    """The rates summed over every queue."""
    sharded: dict[str, ShardedSummary] = field(default_factory=dict)
    """Every sharded queue, by name: its shards are rows of ``queues``."""


@dataclass(frozen=True)
class ShardedSummary:
    """A sharded queue on the overview: its counts summed over its shards."""

    shards: int
    counts: dict[str, int]


@dataclass(frozen=True)
class JobPage:
    """One server-side window of a state's jobs."""

    state: str
    total: int
    start: int
    jobs: list[Job]
    due_ms: dict[str, int] = field(default_factory=dict)
    """For delayed jobs: when each runs."""
    scanned: int | None = None
    """For a name filter: how many jobs were looked at (None: no filter)."""


@dataclass(frozen=True)
class SearchStep:
    """What one step of a search found."""

    matches: list[Job]
    read: int
    """Jobs read (fewer than SEARCH_PAGE: the end of the state)."""
    due_ms: dict[str, int] = field(default_factory=dict)


def _contains(job: Job, needle: str) -> bool:
    """Whether the job's name, id or data (as compact JSON) contain ``needle`` (casefolded)."""
    if needle in job.name.casefold() or needle in job.id.casefold():
        return True
    try:
        data = job.data if isinstance(job.data, str) else dumps(job.data)
    except InvalidJobError:
        data = str(job.data)
    return needle in data.casefold()


@dataclass(frozen=True)
class JobDetail:
    job: Job
    logs: list[str]
    """The newest log lines (up to 500)."""
    history: list[Event]
    due_ms: int | None


class Backend:
    """The console's Redis client and the engine calls it makes.

    Reads go over ``redis``, actions over ``master``: the same client, unless
    the URL asks to read from a replica (``read_from_replica=1``, see
    `engine.replicas`), when ``redis`` opens its connections on a replica.

    Args:
        url: the Redis URL.
        prefix: the deployment's key prefix.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        # Few retries and short timeouts: the console must notice a lost Redis at
        # once and say so; its own refresh loop does the reconnecting.
        options: dict[str, Any] = {"retries": 1, "socket_connect_timeout": 2, "socket_timeout": 10}
        self.master: Redis = connect(url, **options)
        self.from_replica = wants_replica(url)
        """Whether the reads go to a replica."""
        self.redis: Redis = connect_reader(url, **options) if self.from_replica else self.master
        self.nodes = NodeWatch(self.master, prefix)
        self.sentinel = is_sentinel_url(url)
        """Whether the master is found through sentinels (a failover can move it)."""
        self.master_at: str | None = None
        """The master's address at the last node read (a cluster's masters, comma-separated)."""
        self.master_moved: tuple[str, str] | None = None
        """(old, new) address when a node read found another master (until taken)."""
        self._queues: dict[str, Queue] = {}
        self._writable: dict[str, Queue] = {}
        self.rates = RateTracker()
        self._clock_offset_ms = 0
        """The server's clock minus this machine's, as last measured."""

    async def close(self) -> None:
        await self.nodes.close()
        if self.redis is not self.master:
            await self.redis.aclose()
        await self.master.aclose()

    async def limits(self, name: str) -> QueueLimits:
        """The queue's rate limit and global concurrency, as its meta hash holds them."""
        rl_max, rl_ms, conc = await self.redis.hmget(
            self.queue(name).keys.meta, ["rl_max", "rl_ms", "conc"]
        )
        return QueueLimits(_int_or_none(rl_max), _int_or_none(rl_ms) or 1000, _int_or_none(conc))

    def queue(self, name: str) -> Queue:
        """Queue ``name`` for reading (on a replica when the console reads from one)."""
        if name not in self._queues:
            self._queues[name] = Queue(name, self.redis, prefix=self.prefix)
        return self._queues[name]

    def writable(self, name: str) -> Queue:
        """Queue ``name`` for actions: always on the master."""
        if self.redis is self.master:
            return self.queue(name)
        if name not in self._writable:
            self._writable[name] = Queue(name, self.master, prefix=self.prefix)
        return self._writable[name]

    # -- reading ------------------------------------------------------------

    async def server(self) -> dict[str, Any]:
        """The master's INFO summary (never the replica's: its warnings are the master's)."""
        return await server_info(self.master)

    async def node_list(self) -> list[NodeInfo]:
        """The master and its replicas (on a cluster: every master, each followed
        by its replicas, with the queues it holds); notes in ``master_moved``
        when a master is another node than at the last read (a failover)."""
        nodes = await self.nodes.read(await self.queue_names())
        # a cluster's serving masters by slot range; the one master elsewhere
        masters = [n for n in nodes if n.role == "master" and n.slots and not n.error]
        masters = masters or nodes[:1]
        address = ", ".join(node.address for node in masters)
        if self.master_at is not None and address != self.master_at:
            # kept until taken: the Nodes screen reads the nodes too, and
            # may be the one that sees the new master first
            self.master_moved = (self.master_at, address)
        self.master_at = address
        return nodes

    def take_master_moved(self) -> tuple[str, str] | None:
        """(old, new) address if a node read found another master since the last take."""
        moved, self.master_moved = self.master_moved, None
        return moved

    async def queue_names(self) -> list[str]:
        return await list_queues(self.redis, self.prefix)

    async def overview(self, now_ms: int) -> Overview:
        stats = await all_queue_stats(self.redis, self.prefix)
        names = sorted(stats)
        readings, self._clock_offset_ms = await read_queues(
            self.redis,
            {name: int(stats[name]["waiting"]) for name in names},
            self.prefix,
            self._clock_offset_ms,
        )
        for name, reading in readings.items():
            self.rates.add(name, reading)
        self.rates.forget_others(set(names))
        workers = await list_workers(self.redis, self.prefix)
        live = [w for w in workers if not w.is_silent(now_ms)]
        queues = [
            QueueSummary(
                name=name,
                counts={k: v for k, v in stats[name].items() if k != "paused"},
                paused=bool(stats[name]["paused"]),
                workers=sum(1 for w in live if name in w.queues),
                rates=self.rates.rates(name),
            )
            for name in names
        ]
        known = [q.rates for q in queues if q.rates is not None]
        total = total_rates(known) if len(known) == len(queues) else None
        return Overview(
            queues=queues,
            workers=workers,
            total=total,
            sharded=await self._sharded(queues),
        )

    async def _sharded(self, queues: list[QueueSummary]) -> dict[str, ShardedSummary]:
        by_name = {q.name: q for q in queues}
        result = {}
        for name, count in (await sharded_queues(self.redis, self.prefix)).items():
            expected = [shard_name(name, i, count) for i in range(count)]
            shards = [by_name[shard] for shard in expected if shard in by_name]
            result[name] = ShardedSummary(count, sum_counts(q.counts for q in shards))
        return result

    async def failures(self, name: str) -> FailureReport:
        """The newest failed jobs of ``name``, grouped by error."""
        return await group_failures(self.redis, name, self.prefix)

    async def workers(self) -> list[WorkerInfo]:
        return await list_workers(self.redis, self.prefix)

    async def command_worker(self, worker_id: str, command: WorkerCommand) -> int:
        """Pause or resume one worker wherever it runs; how many heard it at once."""
        return await send_worker_command(self.redis, worker_id, command, self.prefix)

    async def counts(self, name: str) -> dict[str, Any]:
        return await self.queue(name).stats()

    async def page(
        self,
        name: str,
        state: str,
        start: int,
        size: int,
        total: int,
        reverse: bool = False,
    ) -> JobPage:
        """Jobs ``start`` .. ``start + size - 1`` of ``state`` in the set's order (or the
        reverse of it): one script call, whatever the size of the set."""
        queue = self.queue(name)
        if reverse:
            # Rank r from the other end is rank total-1-r in the natural order.
            low, high = max(total - start - size, 0), total - start - 1
            jobs = list(reversed(await queue.get_jobs(state, low, high))) if high >= 0 else []
        else:
            jobs = await queue.get_jobs(state, start, start + size - 1)
        due = await self._due(name, state, jobs)
        return JobPage(state=state, total=total, start=start, jobs=jobs, due_ms=due)

    async def search_step(
        self, name: str, state: str, text: str, start: int, total: int, reverse: bool = False
    ) -> SearchStep:
        """One bounded step of a search through ``state``: the SEARCH_PAGE jobs from rank
        ``start`` (one script call), those whose name, id or data contain ``text``."""
        window = await self.page(name, state, start, SEARCH_PAGE, total, reverse)
        needle = text.casefold()
        matches = [job for job in window.jobs if _contains(job, needle)]
        due = await self._due(name, state, matches)
        return SearchStep(matches=matches, read=len(window.jobs), due_ms=due)

    async def exact_job(self, name: str, state: str, job_id: str) -> Job | None:
        """The job with this id, if it is in ``state`` (a search shows it first)."""
        job = await self.queue(name).get_job(job_id)
        return job if job is not None and job.state == state else None

    async def _due(self, name: str, state: str, jobs: list[Job]) -> dict[str, int]:
        if state != "delayed" or not jobs:
            return {}
        return await delayed_due_ms(self.redis, name, [j.id for j in jobs], self.prefix)

    async def job(self, name: str, job_id: str, log_lines: int = 500) -> JobDetail | None:
        queue = self.queue(name)
        job = await queue.get_job(job_id)
        if job is None:
            return None
        logs = await queue.get_logs(job_id, -log_lines, -1)
        # The job's events start when it was added: read from there, bounded.
        since = f"{job.created_ms}-0" if job.created_ms else "-"
        history = [
            event
            for event in await read_history(self.redis, queue.keys, since, "+", count=2000)
            if event.job_id == job_id
        ]
        due = None
        if job.state == "delayed":
            due = (await delayed_due_ms(self.redis, name, [job_id], self.prefix)).get(job_id)
        return JobDetail(job=job, logs=logs, history=history, due_ms=due)

    async def metrics(
        self, names: list[str], window: MetricsWindow, now_ms: int
    ) -> list[dict[str, int]]:
        """Per-minute points summed over ``names``."""
        total: list[dict[str, int]] = []
        for name in names:
            points = await read_metrics(
                self.redis, QueueKeys(name, self.prefix), window, now_ms=now_ms
            )
            if not total:
                total = [dict(p) for p in points]
                continue
            for acc, point in zip(total, points, strict=True):
                for key in ("completed", "failed", "run_time_ms"):
                    acc[key] += point[key]
        return total

    async def follow(
        self, names: list[str], since: str = "$", block_ms: int = 1000
    ) -> AsyncIterator[Event]:
        """Follow the event streams of ``names`` (blocking reads of at most ``block_ms``)."""
        keys = [QueueKeys(name, self.prefix) for name in names]
        async for event in read_events(self.redis, keys, since, block_ms=block_ms):
            yield event

    async def older_events(self, before: dict[str, str], count: int = OLDER_EVENTS) -> list[Event]:
        """The ``count`` newest events, over all queues of ``before``, older than the id
        ``before`` gives each queue; oldest first. One XREVRANGE per queue."""
        found: list[Event] = []
        for name, stream_id in before.items():
            found.extend(
                await read_older(self.redis, QueueKeys(name, self.prefix), stream_id, count)
            )
        found.sort(key=lambda event: stream_order(event.stream_id))
        return found[-count:] if count else []

    async def schedules(self) -> list[ScheduleInfo]:
        """Every schedule, soonest first (one pipelined read)."""
        return await Schedules(self.redis, self.prefix).list()

    async def remove_schedule(self, name: str) -> bool:
        """Delete a schedule; False when there was none by that name."""
        return await Schedules(self.master, self.prefix).remove(name)

    async def find_job(self, job_id: str) -> list[str]:
        """The queues that hold a job with this id."""
        found = []
        for name in await self.queue_names():
            if await self.queue(name).get_job(job_id) is not None:
                found.append(name)
        return found


@dataclass(frozen=True)
class QueueLimits:
    """A queue's live limits (None: none set)."""

    max_starts: int | None
    """At most this many job starts per ``duration_ms``, across all workers."""
    duration_ms: int
    concurrency: int | None
    """At most this many active jobs across all workers."""


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None
