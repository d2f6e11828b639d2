"""Contracts of the scripts that add jobs: ``add`` (one queue) and
``add_graph`` (jobs that wait for each other, across queues)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from engine.codec import dumps
from engine.contracts.base import Request
from engine.errors import InvalidJobError
from engine.options import JobOptions
from engine.wire import Arg

MAX_NAME_LENGTH = 200
_new_tuple = tuple.__new__


def checked_name(name: Any) -> str:
    """``name`` if it can name a processor, else InvalidJobError."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidJobError(f"job name must be a string of 1 to {MAX_NAME_LENGTH} characters")
    return name


class AddJob(NamedTuple):
    """One job of :class:`AddRequest`."""

    job_id: str
    """"" takes the next number of the queue's sequence."""
    name: str
    data: str
    """Payload, JSON."""
    options: str
    """Options that differ from the defaults, JSON ("" when none)."""
    priority: int
    lifo: bool
    delay_ms: int
    dedup: str = ""
    """``<mode>:<ttl_ms>:<dedup id>`` ("" when none; :meth:`Dedup.packed`)."""

    @classmethod
    def of(cls, name: str, data: Any, options: JobOptions) -> AddJob:
        """The job ``name`` with ``data`` (encoded here) and validated ``options``."""
        # add_bulk builds one per job: the name check inline and the tuple made
        # directly save half of this method's cost
        if name.__class__ is not str or not 0 < len(name) <= MAX_NAME_LENGTH:
            checked_name(name)
        return _new_tuple(
            cls,
            (
                options.job_id or "",
                name,
                dumps(data),
                options.stored(),
                options.priority,
                options.lifo,
                options.delay_ms,
                options.dedup.packed() if options.dedup is not None else "",
            ),
        )


@dataclass(frozen=True, slots=True)
class AddRequest(Request):
    """Add jobs to one queue; a job whose id exists is left as it is."""

    SCRIPT: ClassVar[str] = "add"
    EMITS: ClassVar[tuple[str, ...]] = (
        "job:added",
        "job:deduplicated",
        "job:removed",
        "job:duplicated",
    )
    WRITES: ClassVar[tuple[str, ...]] = (
        "seq",
        "job",
        "logs",
        "deps",
        "results",
        "dedup",
        "waiting",
        "waiting:list",
        "delayed",
        "events",
        "marker",
        "registry",
    )

    queue_name: str
    """For the registry: the job that begins the queue's sequence registers it."""
    jobs: tuple[AddJob, ...]


pack_add: Callable[[list[Arg], str, tuple[AddJob, ...]], list[Arg]] = AddRequest.values_packer()
"""``pack_add([prefix], queue_name, jobs)`` is ``AddRequest(queue_name, jobs).full_argv(prefix)``
without building the request: a producer's ``Queue.add``."""


DEDUPLICATED = 2
"""The add script's ``created`` for a job not added because another holds its
dedup id (whose id is given instead); 1 is created, 0 an existing job id."""


class AddReply(NamedTuple):
    """Per job of the request, in order: its id and whether this call created it.
    (A NamedTuple, as the request's items: this parser is on a producer's hot path.)"""

    ids: list[str]
    created: list[bool]

    @classmethod
    def parse(cls, raw: list[Any]) -> AddReply:
        return _new_tuple(
            cls, ([str(value) for value in raw[0::2]], [value == 1 for value in raw[1::2]])
        )

    @staticmethod
    def parse_ids(raw: list[Any]) -> list[str]:
        """Only the ids (``add_bulk``)."""
        return [str(value) for value in raw[0::2]]

    @staticmethod
    def parse_one(raw: list[Any]) -> tuple[str, bool]:
        """The reply to a request of one job: its id, and whether it was created."""
        return str(raw[0]), raw[1] == 1

    @staticmethod
    def deduplicated(raw: list[Any]) -> bool:
        """Whether the one job of the request was not added for its dedup id
        (the reply's id is then the job that holds it)."""
        return bool(raw[1] == DEDUPLICATED)


class DependencyMode(StrEnum):
    """What a job's failure for good does to a job waiting for it."""

    FAIL = "fail"
    """The waiting job fails too."""
    IGNORE = "ignore"
    """The waiting job runs anyway, with ``{"error": ...}`` as this job's result."""


class GraphJob(NamedTuple):
    """One job of :class:`AddGraphRequest`."""

    queue: str
    job_id: str
    name: str
    data: str
    options: str
    priority: int
    lifo: bool
    delay_ms: int
    dependencies: int
    """Jobs of this graph it waits for (0: it can run at once)."""
    dependents: str
    """The jobs of this graph that wait for it, as ``<index>:<mode>,...`` with
    indexes from 1 into the request's jobs ("" when none); see :meth:`of`."""

    @classmethod
    def of(
        cls,
        queue: str,
        name: str,
        data: Any,
        options: JobOptions,
        dependencies: int,
        dependents: list[tuple[int, DependencyMode]],
    ) -> GraphJob:
        """``dependents`` as (index from 0 into the request's jobs, mode)."""
        if options.dedup is not None:
            raise InvalidJobError("jobs of flows and chains cannot use dedup")
        return cls(
            queue,
            options.job_id or "",
            checked_name(name),
            dumps(data),
            options.stored(),
            options.priority,
            options.lifo,
            options.delay_ms,
            dependencies,
            ",".join(f"{index + 1}:{mode.value}" for index, mode in dependents),
        )


@dataclass(frozen=True, slots=True)
class AddGraphRequest(Request):
    """Add jobs that wait for each other, in any queues of the deployment, all
    in one call (run on the keys of the first job's queue, for its prefix)."""

    SCRIPT: ClassVar[str] = "add_graph"
    EMITS: ClassVar[tuple[str, ...]] = ("job:added", "job:duplicated")
    WRITES: ClassVar[tuple[str, ...]] = (
        "seq",
        "job",
        "deps",
        "waiting",
        "waiting:list",
        "delayed",
        "pending",
        "events",
        "marker",
        "registry",
    )

    jobs: tuple[GraphJob, ...]


@dataclass(frozen=True, slots=True)
class AddedJob:
    queue: str
    id: str
    created: bool


@dataclass(frozen=True, slots=True)
class AddGraphReply:
    """Per job of the request, in order."""

    jobs: list[AddedJob]

    @classmethod
    def parse(cls, raw: list[Any]) -> AddGraphReply:
        return cls(
            [
                AddedJob(str(raw[i]), str(raw[i + 1]), int(raw[i + 2]) == 1)
                for i in range(0, len(raw), 3)
            ]
        )
