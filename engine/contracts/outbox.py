"""The hand-off between queues in different slots of a Redis Cluster:
``outbox``, ``deliver``, and the per-queue creation of a chain or flow
(``reserve_ids``, ``add_graph_part``). See :mod:`engine.outbox`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from engine.contracts.base import Request, group_item


@dataclass(frozen=True, slots=True)
class OutboxRequest(Request):
    """Remove the entries applied, and take the next ones of a queue's outbox."""

    SCRIPT: ClassVar[str] = "outbox"
    WRITES: ClassVar[tuple[str, ...]] = ("outbox",)

    holder: str
    hold_ms: int
    want: int
    acked: tuple[str, ...] = field(default=(), metadata=group_item("entry_id"))


class OutboxEntry(NamedTuple):
    """What job ``from_id`` of the outbox's queue owes job ``job_id`` of ``queue``."""

    entry_id: str
    queue: str
    job_id: str
    kind: str
    """"r" its result, "f" its failure, "v" it was retried."""
    from_id: str
    value: str
    mode: str


@dataclass(frozen=True, slots=True)
class OutboxReply:
    busy: bool
    """Another deliverer holds the outbox."""
    entries: list[OutboxEntry]
    """Empty (and not busy): the outbox is empty and let go."""

    @classmethod
    def parse(cls, raw: Any) -> OutboxReply:
        if isinstance(raw, str | bytes):
            return cls(True, [])
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in raw]
        return cls(False, [OutboxEntry(*values[i : i + 7]) for i in range(0, len(values), 7)])


class Delivery(NamedTuple):
    """One entry of :class:`DeliverRequest`."""

    kind: str
    job_id: str
    from_id: str
    value: str
    mode: str


@dataclass(frozen=True, slots=True)
class DeliverRequest(Request):
    """Apply on a queue what jobs of ``from_queue`` owe its jobs (idempotent)."""

    SCRIPT: ClassVar[str] = "deliver"
    EMITS: ClassVar[tuple[str, ...]] = ("job:failed", "job:pending", "job:waiting", "job:delayed")
    WRITES: ClassVar[tuple[str, ...]] = (
        "pending",
        "failed",
        "waiting",
        "waiting:list",
        "delayed",
        "seq",
        "marker",
        "events",
        "job",
        "logs",
        "deps",
        "results",
        "outbox",
        "keep",
    )

    from_queue: str
    entries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class DeliverReply:
    applied: int
    """Entries that changed something (0 for a delivery made before)."""
    outbox: int
    """Entries in the receiving queue's own outbox: what its jobs owe in turn."""

    @classmethod
    def parse(cls, raw: Any) -> DeliverReply:
        return cls(int(raw[0]), int(raw[1]))


@dataclass(frozen=True, slots=True)
class ReserveIdsRequest(Request):
    """Take ``count`` numbers of a queue's sequence as job ids for later."""

    SCRIPT: ClassVar[str] = "reserve_ids"
    WRITES: ClassVar[tuple[str, ...]] = ("seq",)

    count: int


class GraphPartJob(NamedTuple):
    """One job of :class:`AddGraphPartRequest`."""

    job_id: str
    name: str
    data: str
    options: str
    priority: int
    lifo: bool
    delay_ms: int
    dependencies: int
    dependents: str
    """``<queue>|<id>|<mode>`` lines: the jobs that wait for it."""
    children: str
    """``<queue>|<id>`` lines: the jobs it waits for."""


@dataclass(frozen=True, slots=True)
class AddGraphPartRequest(Request):
    """Add one queue's jobs of a chain or flow spread over queues in different slots."""

    SCRIPT: ClassVar[str] = "add_graph_part"
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

    jobs: tuple[GraphPartJob, ...]


@dataclass(frozen=True, slots=True)
class AddGraphPartReply:
    """Per job of the request, in order: (id, created)."""

    jobs: list[tuple[str, bool]]

    @classmethod
    def parse(cls, raw: list[Any]) -> AddGraphPartReply:
        return cls([(str(raw[i]), int(raw[i + 1]) == 1) for i in range(0, len(raw), 2)])
