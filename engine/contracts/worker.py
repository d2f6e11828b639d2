"""Contracts of the worker's scripts: fetch, finish, heartbeat, progress,
sweep and worker_beat.

Each request is the script's ARGV from ``ARGV[2]`` on, by name (see
:mod:`engine.contracts.base`); each ``parse`` turns the script's reply into
named fields. A fetched job arrives as its id, the job-hash fields of
:data:`FETCHED_FIELDS` (``JOB_FIELDS`` in ``lua/includes/fetch.lua``, which a
test holds equal) and its dependencies' results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from engine.contracts.base import OwnKeysRequest, Request
from engine.jobhash import JobField
from engine.keys import worker_key, worker_registry_key


class OutcomeKind(StrEnum):
    """How a run ended; ``OUTCOME`` in ``lua/includes/finish.lua`` mirrors it."""

    COMPLETED = "c"
    """Value: the result, JSON."""
    FAILED = "f"
    """Failed for good. Value: the error message (and a stack)."""
    RETRY = "r"
    """Failed; runs again after ``delay_ms``. Value: the error message."""
    CANCELLED = "x"
    """Stopped by an operator while it ran."""
    HANDED_BACK = "h"
    """Waiting again without spending an attempt (a stop, or a prefetched job
    held too long). Value: the reason, "" for a stop."""
    RATE_LIMITED = "l"
    """The processor asked to wait ``delay_ms``: delayed, no attempt spent."""


# -- fetch and finish ---------------------------------------------------------
#
# The items sent per job (StartedNotice, OutcomeArgs) are not frozen, and the
# replies are named tuples: a frozen dataclass's __init__ sets each field
# through object.__setattr__, about 1 us per job for 11 fields, paid on the
# hot path of every job.


@dataclass(slots=True)
class StartedNotice:
    """A prefetched job the worker started since its last call."""

    job_id: str
    token: str


@dataclass(slots=True)
class OutcomeArgs:
    """One finished run, as ``finish_job`` in ``lua/includes/finish.lua`` takes it."""

    job_id: str
    token: str
    kind: OutcomeKind
    value: str
    stack: str
    runtime_ms: int
    delay_ms: int
    keep: str
    """The job's own retention in the set it ends in, ``"<count>:<age_ms>"``
    (:attr:`engine.options.Keep.rule`), or "" when it has none (the worker's
    applies; it is not sent for a run that does not end the job)."""
    keep_logs: int
    attempt: int
    """The number of this run (1 for the first)."""
    has_dependents: bool


@dataclass(frozen=True, slots=True)
class FetchRequest(Request):
    """Lease up to ``want`` jobs (promoting due delayed ones first)."""

    SCRIPT: ClassVar[str] = "fetch"
    EMITS: ClassVar[tuple[str, ...]] = ("job:waiting", "job:active", "job:failed", "queue:drained")
    WRITES: ClassVar[tuple[str, ...]] = (
        "delayed",
        "waiting",
        "waiting:list",
        "active",
        "failed",
        "limiter",
        "marker",
        "events",
        "job",
        "seq",
        "logs",
        "deps",
        "results",
        "keep",
    )

    worker: str
    lease_ms: int
    want: int
    token: str
    """The lease token of every job this call leases."""
    start_now: int
    """How many of them start at once; the others are prefetched (reserved)."""


@dataclass(frozen=True, slots=True)
class FinishRequest(Request):
    """Record how runs ended, then lease up to ``want`` more: the hot path."""

    SCRIPT: ClassVar[str] = "finish"
    EMITS: ClassVar[tuple[str, ...]] = (
        "job:completed",
        "job:failed",
        "job:retrying",
        "job:cancelled",
        "job:waiting",
        "job:delayed",
        "job:active",
        "queue:drained",
    )
    WRITES: ClassVar[tuple[str, ...]] = (
        "dedup",
        "active",
        "completed",
        "failed",
        "delayed",
        "waiting",
        "waiting:list",
        "pending",
        "limiter",
        "marker",
        "events",
        "job",
        "logs",
        "results",
        "deps",
        "metrics",
        "seq",
        "keep",
        "outbox",
    )

    worker: str
    lease_ms: int
    want: int
    token: str
    start_now: int
    keep_completed: str
    """The worker's retention of completed jobs without a rule of their own
    (:attr:`engine.options.Keep.rule`)."""
    keep_failed: str
    """The same for failed jobs."""
    started: tuple[StartedNotice, ...]
    outcomes: tuple[OutcomeArgs, ...]


class FetchedJob(NamedTuple):
    """One leased job, read by the legend of :data:`FETCHED_FIELDS`."""

    job_id: str
    name: str
    data: str
    """JSON, as stored."""
    options: str
    """JSON, as stored ("" when all options are the defaults)."""
    attempts: int
    """Runs ended before this one."""
    stalls: int
    created: str
    has_dependents: bool
    released: bool
    """Put back by a sweep from a dead worker that had not said it started
    it: it may have run, so it runs isolated."""
    results: Sequence[str]
    """Its dependencies' results, flat: "<queue>:<id>", result JSON, ..."""


FETCHED_FIELDS: tuple[JobField, ...] = (
    JobField.NAME,
    JobField.DATA,
    JobField.OPTIONS,
    JobField.ATTEMPTS,
    JobField.STALLS,
    JobField.CREATED,
    JobField.HAS_DEPENDENTS,
    JobField.HAS_RESULTS,
    JobField.RESERVED,
)
"""The job-hash fields a fetch returns per job, in order (``JOB_FIELDS`` in
``lua/includes/fetch.lua``): each job is its id, these, then its results."""

_STRIDE = 2 + len(FETCHED_FIELDS)
_AT = {field: 1 + i for i, field in enumerate(FETCHED_FIELDS)}
_NAME, _DATA, _OPTIONS = _AT[JobField.NAME], _AT[JobField.DATA], _AT[JobField.OPTIONS]
_ATTEMPTS, _STALLS = _AT[JobField.ATTEMPTS], _AT[JobField.STALLS]
_CREATED, _HAS_DEPENDENTS = _AT[JobField.CREATED], _AT[JobField.HAS_DEPENDENTS]
_RESERVED = _AT[JobField.RESERVED]


def _fetched(flat: Sequence[Any], start: int) -> tuple[FetchedJob, ...]:
    if start >= len(flat):
        return ()
    return tuple(
        [
            FetchedJob(
                str(flat[i]),
                flat[i + _NAME],
                flat[i + _DATA],
                flat[i + _OPTIONS],
                int(flat[i + _ATTEMPTS] or 0),
                int(flat[i + _STALLS] or 0),
                flat[i + _CREATED],
                flat[i + _HAS_DEPENDENTS] == "1",
                flat[i + _RESERVED] == "r",
                flat[i + _STRIDE - 1] or (),
            )
            for i in range(start, len(flat), _STRIDE)
        ]
    )


class FetchReply(NamedTuple):
    """What a fetch (or the fetch half of a finish) answered."""

    status: str
    """"ok", "paused", "busy" (global concurrency reached) or "limited:<ms>"."""
    next_due_ms: int
    """When the earliest delayed job falls due (Redis time, ms), or -1."""
    server_ms: int
    """Redis's time when it answered."""
    jobs: tuple[FetchedJob, ...]

    @property
    def limited_ms(self) -> int | None:
        """How long the queue's rate limit holds back new starts, if it does."""
        if self.status.startswith("limited:"):
            return int(self.status.split(":", 1)[1])
        return None

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> FetchReply:
        return cls(str(reply[0]), int(reply[1]), int(reply[2]), _fetched(reply, 3))


_NONE: frozenset[str] = frozenset()


class FinishReply(NamedTuple):
    """What a finish answered: the fetch half, and the outcomes it refused."""

    fetched: FetchReply
    lost: frozenset[str]
    """Ids whose lease this worker no longer held: their outcome changed nothing."""

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> FinishReply:
        lost_count = int(reply[3])
        first_job = 4 + lost_count
        fetched = FetchReply(
            str(reply[0]), int(reply[1]), int(reply[2]), _fetched(reply, first_job)
        )
        lost = (
            frozenset(str(job_id) for job_id in reply[4:first_job]) if lost_count else frozenset()
        )
        return cls(fetched, lost)


# -- the background duties ------------------------------------------------------


@dataclass(slots=True)
class HeldLease:
    """A job whose lease the worker holds."""

    job_id: str
    token: str


@dataclass(frozen=True, slots=True)
class HeartbeatRequest(Request):
    """Extend the leases a worker holds on one queue."""

    SCRIPT: ClassVar[str] = "heartbeat"
    WRITES: ClassVar[tuple[str, ...]] = ("active",)
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)

    lease_ms: int
    leases: tuple[HeldLease, ...]


class HeartbeatReply(NamedTuple):
    lost: tuple[str, ...]
    """Leases this worker no longer holds (they ran out and were taken)."""
    cancelled: tuple[str, ...]
    """Jobs an operator asked to stop."""

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> HeartbeatReply:
        split = list(reply).index("|")
        return cls(tuple(str(v) for v in reply[:split]), tuple(str(v) for v in reply[split + 1 :]))


@dataclass(frozen=True, slots=True)
class ProgressRequest(Request):
    """Record a running job's progress and/or a log line, if the lease holds.
    The script answers "ok", or the error "lost" (see :data:`LEASE_LOST`)."""

    SCRIPT: ClassVar[str] = "progress"
    EMITS: ClassVar[tuple[str, ...]] = ("job:progress",)
    WRITES: ClassVar[tuple[str, ...]] = ("job", "logs", "events")

    job_id: str
    token: str
    progress: str
    """JSON, or "" for none."""
    line: str
    """A log line, or "" for none."""
    keep_logs: int
    """Log lines kept (0: all)."""


LEASE_LOST = "lost"
"""The error a script answers when the caller's lease token is no longer the job's."""


@dataclass(frozen=True, slots=True)
class SweepRequest(Request):
    """Recover jobs of vanished workers and trim finished ones, unless a sweep
    (by any worker) ran within the caller's ``interval_ms`` and not ``force``."""

    SCRIPT: ClassVar[str] = "sweep"
    EMITS: ClassVar[tuple[str, ...]] = ("job:stalled", "job:failed", "job:waiting", "job:delayed")
    WRITES: ClassVar[tuple[str, ...]] = (
        "dedup",
        "sweep",
        "active",
        "waiting",
        "waiting:list",
        "failed",
        "completed",
        "pending",
        "marker",
        "events",
        "job",
        "logs",
        "results",
        "deps",
        "metrics",
        "seq",
        "keep",
        "delayed",
        "outbox",
    )

    interval_ms: int
    max_stalled: int
    completed_keep_count: int
    completed_keep_age_ms: int
    failed_keep_count: int
    failed_keep_age_ms: int
    force: bool


class SweepReply(NamedTuple):
    swept: bool
    """False when a sweep ran within the caller's interval (nothing done)."""
    requeued: int
    failed: int
    trimmed: int

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> SweepReply:
        swept, requeued, failed, trimmed = (int(v) for v in reply)
        return cls(swept == 1, requeued, failed, trimmed)


@dataclass(frozen=True, slots=True)
class WorkerDetail:
    """One field of the worker's hash in the registry."""

    field: str
    value: str | int


@dataclass(frozen=True, slots=True)
class WorkerBeatRequest(OwnKeysRequest):
    """Record a worker's heartbeat in the worker registry, or remove it.
    Runs on the keys of :func:`worker_beat_keys`, not a queue's."""

    SCRIPT: ClassVar[str] = "worker_beat"
    KEYS: ClassVar[tuple[str, ...]] = ("workers", "worker")
    WRITES: ClassVar[tuple[str, ...]] = ("workers", "worker")

    gone: bool
    """The worker stops: remove it (the details are not needed)."""
    ttl_s: int
    """The worker's hash expires after this without a beat."""
    worker: str
    details: tuple[WorkerDetail, ...]

    def script_keys(self, prefix: str) -> list[str]:
        return worker_beat_keys(prefix, self.worker)

    def cluster_keys(self, prefix: str) -> list[str]:
        return worker_beat_keys(prefix, self.worker, cluster=True)


def worker_beat_keys(prefix: str, worker_id: str, cluster: bool = False) -> list[str]:
    """KEYS of worker_beat: the registry of workers, and this worker's hash
    (on a Redis Cluster, named to share the registry's slot)."""
    return [worker_registry_key(prefix), worker_key(worker_id, prefix, cluster)]
