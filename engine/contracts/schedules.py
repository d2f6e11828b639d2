"""Contracts of the schedule scripts. Their KEYS are the deployment's
schedule keys (``engine.keys.schedule_*``), not a queue's: each request
builds them with :meth:`script_keys` and runs with ``call_own_keys``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from engine.codec import dumps
from engine.contracts.add import checked_name
from engine.contracts.base import QUEUE_KEYS, OwnKeysRequest
from engine.keys import (
    QueueKeys,
    schedule_definition_prefix,
    schedule_due_key,
    schedule_names_key,
)
from engine.options import JobOptions


@dataclass(frozen=True, slots=True)
class ScheduleDueRequest(OwnKeysRequest):
    """The schedules whose fire time has come, with Redis's time."""

    SCRIPT: ClassVar[str] = "schedule_due"
    FLAGS: ClassVar[tuple[str, ...]] = ("no-writes",)
    KEYS: ClassVar[tuple[str, ...]] = ("due", "definitions")

    limit: int
    """Most schedules to return."""
    at_ms: int | None = None
    """A time to use instead of Redis's clock (tests of calendar edge cases)."""

    def script_keys(self, prefix: str) -> list[str]:
        return [schedule_due_key(prefix), schedule_definition_prefix(prefix)]


@dataclass(frozen=True, slots=True)
class DueSchedule:
    name: str
    due_ms: int
    spec: str
    """The definition, JSON ("" when the schedule was removed meanwhile)."""
    version: str
    count: int
    """Times it fired so far."""


@dataclass(frozen=True, slots=True)
class ScheduleDueReply:
    now_ms: int
    """Redis's time (or the request's ``at_ms``)."""
    next_due_ms: int | None
    """The earliest fire time of any schedule (None: none is scheduled)."""
    due: list[DueSchedule]

    @classmethod
    def parse(cls, raw: list[Any]) -> ScheduleDueReply:
        head = int(float(raw[1]))
        due = [
            DueSchedule(
                str(raw[i]),
                int(float(raw[i + 1])),
                str(raw[i + 2]),
                str(raw[i + 3]),
                int(raw[i + 4]),
            )
            for i in range(2, len(raw), 5)
        ]
        return cls(int(raw[0]), None if head < 0 else head, due)


@dataclass(frozen=True, slots=True)
class ScheduleUpsertRequest(OwnKeysRequest):
    """Create or replace a schedule (:meth:`removal`: remove it)."""

    SCRIPT: ClassVar[str] = "schedule_upsert"
    KEYS: ClassVar[tuple[str, ...]] = ("due", "definition", "names")
    WRITES: ClassVar[tuple[str, ...]] = ("due", "definition", "names")

    name: str
    spec: str
    """The definition, JSON; "" removes the schedule."""
    first_fire_ms: int
    """-1: it never fires (ended before it began)."""
    version: str
    """New for every definition: fires computed from an older one do nothing."""

    @classmethod
    def removal(cls, name: str) -> ScheduleUpsertRequest:
        return cls(name, "", -1, "")

    def script_keys(self, prefix: str) -> list[str]:
        return [
            schedule_due_key(prefix),
            schedule_definition_prefix(prefix) + self.name,
            schedule_names_key(prefix),
        ]


class ScheduleUpsertReply(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REMOVED = "removed"
    MISSING = "missing"
    """Asked to remove a schedule that does not exist."""

    @classmethod
    def parse(cls, raw: Any) -> ScheduleUpsertReply:
        return cls(str(raw))


@dataclass(frozen=True, slots=True)
class ScheduleFireRequest(OwnKeysRequest):
    """Fire one tick of a schedule unless another scheduler did (or move the
    schedule on without firing, for missed ticks that are skipped)."""

    SCRIPT: ClassVar[str] = "schedule_fire"
    KEYS: ClassVar[tuple[str, ...]] = (QUEUE_KEYS, "due", "definition")
    EMITS: ClassVar[tuple[str, ...]] = ("job:added", "job:duplicated")
    WRITES: ClassVar[tuple[str, ...]] = (
        "due",
        "definition",
        "seq",
        "job",
        "waiting",
        "waiting:list",
        "delayed",
        "events",
        "marker",
        "registry",
    )

    queue_name: str
    schedule: str
    expected_due_ms: int
    """The fire time the scheduler read: the compare-and-set."""
    version: str
    """The definition's version the scheduler read."""
    fire_ms: int
    """The tick fired (the job id is ``schedule:<schedule>:<fire_ms>``)."""
    following_ms: int
    """The next fire time; -1 when the schedule has ended."""
    job_name: str
    data: str
    options: str
    priority: int
    lifo: bool
    delay_ms: int
    fire: bool
    """False moves the schedule on without adding a job (missed ticks skipped)."""

    @classmethod
    def of(
        cls,
        *,
        queue_name: str,
        schedule: str,
        expected_due_ms: int,
        version: str,
        fire_ms: int,
        following_ms: int | None,
        job_name: str,
        data: Any,
        options: JobOptions,
        fire: bool,
    ) -> ScheduleFireRequest:
        return cls(
            queue_name,
            schedule,
            expected_due_ms,
            version,
            fire_ms,
            -1 if following_ms is None else following_ms,
            checked_name(job_name),
            dumps(data),
            options.stored(),
            options.priority,
            options.lifo,
            options.delay_ms,
            fire,
        )

    def script_keys(self, prefix: str) -> list[str]:
        return [
            *QueueKeys(self.queue_name, prefix).script_keys,
            schedule_due_key(prefix),
            schedule_definition_prefix(prefix) + self.schedule,
        ]

    def cluster_keys(self, prefix: str) -> list[str]:
        """On a Redis Cluster, the schedule's keys only: the caller adds the
        job itself first (see ``engine.schedules``)."""
        return self.script_keys(prefix)[-2:]

    def argv_prefix(self, prefix: str) -> str:
        return QueueKeys(self.queue_name, prefix).base


@dataclass(frozen=True, slots=True)
class ScheduleFireReply:
    won: bool
    """This call fired the tick (or moved the schedule on); False: another
    scheduler did, or the schedule changed since it was read."""
    job_id: str
    created: bool

    @classmethod
    def parse(cls, raw: list[Any]) -> ScheduleFireReply:
        if int(raw[0]) != 1:
            return cls(False, "", False)
        return cls(True, str(raw[1]), int(raw[2]) == 1)
