"""Contracts of ``get_jobs`` (jobs with their state, in one consistent read)
and ``drop_ghosts`` (ids left in a state without their job hash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.contracts.base import Request, group_item


@dataclass(frozen=True, slots=True)
class GetJobsRequest(Request):
    """A page of one state (:meth:`page`) or the jobs of given ids (:meth:`by_ids`)."""

    SCRIPT: ClassVar[str] = "get_jobs"
    FLAGS: ClassVar[tuple[str, ...]] = ("no-writes",)

    state: str
    """The state to page through; "" reads the jobs of ``ids``."""
    start: int
    """First rank of the page, from 0 (negative: from the end)."""
    stop: int
    """Last rank of the page, inclusive."""
    newest_first: bool
    """Reverse order (waiting jobs come in run order, the others by score)."""
    ids: tuple[str, ...] = field(default=(), metadata=group_item("id"))

    @classmethod
    def page(cls, state: str, start: int, stop: int, newest_first: bool) -> GetJobsRequest:
        return cls(state, start, stop, newest_first)

    @classmethod
    def by_ids(cls, *ids: str) -> GetJobsRequest:
        return cls("", 0, -1, False, ids)


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job's hash as stored, with the state it was found in ("unknown":
    a hash in no state)."""

    id: str
    state: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class GetJobsReply:
    """The jobs that exist, in the request's order, and the ghosts met (ids
    in a state whose hash is gone)."""

    jobs: list[StoredJob]
    ghosts: list[str]
    next_rank: int
    """The rank after the last one read (a page read goes on from there)."""
    missing: int
    """Jobs the page still lacks (it met more ghosts than it may skip, or
    the state ended)."""
    ended: bool
    """The state has no more jobs after ``next_rank``."""

    @classmethod
    def parse(cls, raw: list[Any]) -> GetJobsReply:
        jobs = []
        for i in range(4, len(raw), 3):
            flat = raw[i + 2]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            jobs.append(StoredJob(str(raw[i]), str(raw[i + 1]), fields))
        ghosts = [str(ghost) for ghost in raw[3]]
        return cls(jobs, ghosts, int(raw[0]), int(raw[1]), bool(int(raw[2])))


@dataclass(frozen=True, slots=True)
class DropGhostsRequest(Request):
    """Take ids whose job hash is gone out of every state (those that
    :class:`GetJobsReply` reports); ids whose hash exists stay."""

    SCRIPT: ClassVar[str] = "drop_ghosts"
    FLAGS: ClassVar[tuple[str, ...]] = ("allow-oom",)
    WRITES: ClassVar[tuple[str, ...]] = (
        "waiting",
        "waiting:list",
        "active",
        "delayed",
        "completed",
        "failed",
        "pending",
    )

    ids: tuple[str, ...] = field(metadata=group_item("id"))
