"""Contracts of the operators' scripts on one queue: pause, drain, clean,
obliterate, and retry, cancel, remove or promote a job.

Scripts that refuse (a missing job, a job in the wrong state) answer with an
error reply read by :meth:`engine.contracts.base.Refusal.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from engine.contracts.base import Request, group_item


@dataclass(frozen=True, slots=True)
class PauseRequest(Request):
    """Pause (no job starts; running ones finish) or resume a queue."""

    SCRIPT: ClassVar[str] = "pause"
    EMITS: ClassVar[tuple[str, ...]] = ("queue:paused", "queue:resumed")
    WRITES: ClassVar[tuple[str, ...]] = ("meta", "marker", "events", "registry")

    paused: bool
    queue_name: str
    """For the registry: a paused queue is listed even before its first job."""


_RELEASES_DEPENDENTS: tuple[str, ...] = (
    "job",
    "logs",
    "deps",
    "results",
    "waiting",
    "waiting:list",
    "seq",
    "pending",
    "delayed",
    "failed",
    "events",
    "marker",
    "keep",
    "outbox",
)
"""What failing or releasing the jobs that wait for a deleted one writes
(``includes/deps.lua``), in this and other queues (a dependent that fails
follows its ``remove_on_fail``: the retention keys)."""

_RELEASE_EVENTS: tuple[str, ...] = ("job:failed", "job:waiting", "job:delayed")
"""The events of failing or releasing them: a released job goes to waiting,
or to delayed when it was added with a delay."""


@dataclass(frozen=True, slots=True)
class DrainRequest(Request):
    """Delete up to ``page`` waiting and delayed jobs (active ones run on)."""

    SCRIPT: ClassVar[str] = "drain"
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)
    EMITS: ClassVar[tuple[str, ...]] = ("queue:drained", *_RELEASE_EVENTS)
    WRITES: ClassVar[tuple[str, ...]] = (*_RELEASES_DEPENDENTS, "dedup")

    page: int


@dataclass(frozen=True, slots=True)
class DrainReply:
    removed: int
    remaining: int
    """Waiting and delayed jobs left: call again until 0."""

    @classmethod
    def parse(cls, raw: list[Any]) -> DrainReply:
        return cls(int(raw[0]), int(raw[1]))


@dataclass(frozen=True, slots=True)
class CleanRequest(Request):
    """Delete up to ``page`` jobs of ``state`` older than ``grace_ms``; jobs
    waiting for a deleted waiting or delayed one fail, as with drain."""

    SCRIPT: ClassVar[str] = "clean"
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)
    EMITS: ClassVar[tuple[str, ...]] = ("queue:cleaned", *_RELEASE_EVENTS)
    WRITES: ClassVar[tuple[str, ...]] = (*_RELEASES_DEPENDENTS, "completed", "dedup")

    state: str
    """waiting, delayed, completed or failed."""
    grace_ms: int
    page: int
    offset: int
    """Where the scan of waiting or delayed jobs goes on (0 first; the reply's next)."""


@dataclass(frozen=True, slots=True)
class CleanReply:
    removed: int
    next_offset: int
    """The offset for the next call; -1 when done."""

    @property
    def done(self) -> bool:
        return self.next_offset < 0

    @classmethod
    def parse(cls, raw: list[Any]) -> CleanReply:
        return cls(int(raw[0]), int(raw[1]))


@dataclass(frozen=True, slots=True)
class ObliterateRequest(Request):
    """Delete a page of the queue's jobs, and its keys once no job is left."""

    SCRIPT: ClassVar[str] = "obliterate"
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)
    EMITS: ClassVar[tuple[str, ...]] = _RELEASE_EVENTS
    WRITES: ClassVar[tuple[str, ...]] = (
        *_RELEASES_DEPENDENTS,
        "active",
        "completed",
        "meta",
        "limiter",
        "sweep",
        "metrics",
        "registry",
        "dedup",
    )

    force: bool
    """Go on while jobs are active (their workers then lose their leases)."""
    page: int
    queue_name: str
    """Taken out of the registry with the last key."""
    metrics_days: tuple[int, ...] = field(metadata=group_item("day"))
    """Days whose metrics hashes are deleted (day numbers since the epoch)."""


@dataclass(frozen=True, slots=True)
class ObliterateReply:
    left: int
    """Jobs still left: call again until 0 (the queue is then gone)."""

    @classmethod
    def parse(cls, raw: Any) -> ObliterateReply:
        return cls(int(raw))


@dataclass(frozen=True, slots=True)
class RetryRequest(Request):
    """Send a failed job (or the oldest ``page`` failed jobs) back to waiting
    with fresh attempts."""

    SCRIPT: ClassVar[str] = "retry"
    EMITS: ClassVar[tuple[str, ...]] = ("job:retried", "job:pending", "job:failed")
    WRITES: ClassVar[tuple[str, ...]] = (
        "failed",
        "pending",
        "waiting",
        "waiting:list",
        "seq",
        "marker",
        "job",
        "logs",
        "events",
        "deps",
        "results",
        "keep",
        "outbox",
    )

    job_id: str
    """"" retries a page of the oldest failed jobs."""
    page: int

    @classmethod
    def one(cls, job_id: str) -> RetryRequest:
        return cls(job_id, 0)

    @classmethod
    def oldest(cls, page: int) -> RetryRequest:
        return cls("", page)


@dataclass(frozen=True, slots=True)
class RetryReply:
    retried: int

    @classmethod
    def parse(cls, raw: Any) -> RetryReply:
        return cls(int(raw))


@dataclass(frozen=True, slots=True)
class CancelRequest(Request):
    """Remove a job that has not started, or tell the worker of an active one."""

    SCRIPT: ClassVar[str] = "cancel"
    EMITS: ClassVar[tuple[str, ...]] = (
        "job:cancelled",
        "job:cancel-requested",
        *_RELEASE_EVENTS,
    )
    WRITES: ClassVar[tuple[str, ...]] = (*_RELEASES_DEPENDENTS, "dedup")

    job_id: str
    cancel_channel: str
    """Where the job's worker listens (``QueueKeys.cancel_channel``)."""


class CancelReply(StrEnum):
    REMOVED = "removed"
    """It had not started: it is gone."""
    REQUESTED = "requested"
    """It runs: its worker was told, and it ends as cancelled."""

    @classmethod
    def parse(cls, raw: Any) -> CancelReply:
        return cls(str(raw))


@dataclass(frozen=True, slots=True)
class RemoveRequest(Request):
    """Delete a job that is not running, with the jobs it waits for that
    have not run (a flow's descendants, in any queue); refused while one of
    them runs."""

    SCRIPT: ClassVar[str] = "remove"
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)
    EMITS: ClassVar[tuple[str, ...]] = ("job:removed", *_RELEASE_EVENTS)
    WRITES: ClassVar[tuple[str, ...]] = (*_RELEASES_DEPENDENTS, "completed", "dedup")

    job_id: str


@dataclass(frozen=True, slots=True)
class RemoveReply:
    state: str
    """The state it was removed from ("orphan": a hash in no state)."""
    descendants: int = 0
    """Jobs it waited for, however deep, that had not run: removed with it."""
    elsewhere: tuple[tuple[str, str], ...] = ()
    """On a Redis Cluster, (queue, id) of those in other queues, which the
    script cannot reach: the caller removes them there."""

    @classmethod
    def parse(cls, raw: Any) -> RemoveReply:
        others = tuple(
            (queue, job_id) for queue, _, job_id in (str(entry).partition("|") for entry in raw[2:])
        )
        return cls(str(raw[0]), int(raw[1]), others)


@dataclass(frozen=True, slots=True)
class PromoteRequest(Request):
    """Move a delayed job to waiting now."""

    SCRIPT: ClassVar[str] = "promote"
    EMITS: ClassVar[tuple[str, ...]] = ("job:waiting", "job:failed")
    WRITES: ClassVar[tuple[str, ...]] = (
        "delayed",
        "waiting",
        "waiting:list",
        "failed",
        "seq",
        "marker",
        "events",
        "job",
        "logs",
        "deps",
        "results",
        "keep",
    )

    job_id: str


class JobChange(StrEnum):
    """What :class:`ChangeRequest` changes on a job that has not started."""

    PRIORITY = "priority"
    """The value is the new priority (0 runs first)."""
    DELAY = "delay"
    """The value is the delay in ms from now (0: waiting now)."""
    DATA = "data"
    """The value is the new payload, JSON."""


@dataclass(frozen=True, slots=True)
class ChangeRequest(Request):
    """Change the priority, delay or data of a waiting or delayed job."""

    SCRIPT: ClassVar[str] = "change"
    EMITS: ClassVar[tuple[str, ...]] = ("job:changed",)
    WRITES: ClassVar[tuple[str, ...]] = (
        "waiting",
        "waiting:list",
        "delayed",
        "seq",
        "marker",
        "events",
        "job",
    )

    job_id: str
    change: JobChange
    value: str


@dataclass(frozen=True, slots=True)
class ChangeReply:
    state: str
    """The job's state after the change: waiting or delayed."""

    @classmethod
    def parse(cls, raw: Any) -> ChangeReply:
        return cls(str(raw))
