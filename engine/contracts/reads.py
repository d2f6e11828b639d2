"""Contract of ``get_jobs``: jobs with their state, in one consistent read."""

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
    """The jobs that exist, in the request's order."""

    jobs: list[StoredJob]

    @classmethod
    def parse(cls, raw: list[Any]) -> GetJobsReply:
        jobs = []
        for i in range(0, len(raw), 3):
            flat = raw[i + 2]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            jobs.append(StoredJob(str(raw[i]), str(raw[i + 1]), fields))
        return cls(jobs)
