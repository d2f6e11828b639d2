"""Schedules kept in Redis, and the scheduler that fires them.

A schedule creates a job on a queue on a cron expression (with a time zone)
or every N ms, optionally between a start and an end, at most ``limit``
times. Any number of :class:`Scheduler` instances may run: each tick is
fired by exactly one of them (a compare-and-set in one script, and the job
id ``schedule:<name>:<fire ms>`` that cannot be added twice). An instance
that dies loses nothing while another runs.

Missed ticks (every scheduler was down): with ``missed="latest"`` (the
default) the latest missed tick fires once and the schedule continues from
now; with ``missed="skip"`` missed ticks are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.cluster import is_cluster
from engine.codec import dumps, loads
from engine.contracts.base import call_own_keys
from engine.contracts.schedules import (
    ScheduleDueReply,
    ScheduleDueRequest,
    ScheduleFireReply,
    ScheduleFireRequest,
    ScheduleUpsertReply,
    ScheduleUpsertRequest,
)
from engine.cron import (
    InvalidScheduleError,
    from_ms,
    ms,
    next_cron_fire,
    previous_cron_fire,
    validate_cron,
    zone,
)
from engine.keys import DEFAULT_PREFIX, validate_queue_name
from engine.keys import schedule_definition_prefix as definition_prefix
from engine.keys import schedule_due_key as due_key
from engine.keys import schedule_names_key as names_key
from engine.options import parse_options

log = logging.getLogger("engine.schedules")

POLL_S = 0.5
"""A scheduler looks for due schedules at least this often."""
DUE_BATCH = 100


class ScheduleSpec(BaseModel):
    """What a schedule creates, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s{}]+$")]
    queue: str
    job: Annotated[str, Field(min_length=1, max_length=200)]
    data: Any = None
    options: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = None
    tz: str = "UTC"
    every_ms: Annotated[int, Field(ge=100)] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    limit: Annotated[int, Field(ge=1)] | None = None
    immediately: bool = False
    missed: Literal["latest", "skip"] = "latest"

    @model_validator(mode="after")
    def _check(self) -> ScheduleSpec:
        if (self.cron is None) == (self.every_ms is None):
            raise ValueError("give exactly one of cron or every_ms")
        if self.cron is not None:
            validate_cron(self.cron)
        zone(self.tz)
        validate_queue_name(self.queue)
        if parse_options(self.options).dedup is not None:
            raise ValueError("schedules cannot use dedup: each tick is a job of its own")
        dumps(self.data)
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ValueError("end must be after start")
        return self

    def next_after(self, after_ms: int) -> int | None:
        """The first tick strictly after ``after_ms``, within start and end; None when none is left."""
        floor = after_ms
        if self.start_ms is not None and self.start_ms - 1 > floor:
            floor = self.start_ms - 1
        if self.cron is not None:
            tick = ms(next_cron_fire(self.cron, self.tz, from_ms(floor)))
        else:
            assert self.every_ms is not None
            anchor = self.start_ms if self.start_ms is not None else 0
            steps = (floor - anchor) // self.every_ms + 1
            tick = anchor + steps * self.every_ms
        if self.end_ms is not None and tick > self.end_ms:
            return None
        return tick

    def latest_at_or_before(self, now_ms: int, after_ms: int) -> int | None:
        """The latest tick in (``after_ms``, ``now_ms``]."""
        if self.cron is not None:
            found = previous_cron_fire(self.cron, self.tz, from_ms(now_ms), from_ms(after_ms))
            return ms(found) if found is not None else None
        assert self.every_ms is not None
        anchor = self.start_ms if self.start_ms is not None else 0
        tick = anchor + (now_ms - anchor) // self.every_ms * self.every_ms
        return tick if tick > after_ms else None


def parse_spec(**fields: Any) -> ScheduleSpec:
    """A ScheduleSpec, or InvalidScheduleError naming what is wrong (one line)."""
    try:
        return ScheduleSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'schedule'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidScheduleError(f"invalid schedule: {problems}") from None


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule as stored, with its next and last fire."""

    spec: ScheduleSpec
    next_ms: int | None
    last_ms: int | None
    count: int
    ended: bool

    def to_dict(self) -> dict[str, Any]:
        tz = zone(self.spec.tz)

        def both(value: int | None) -> dict[str, str] | None:
            if value is None:
                return None
            instant = datetime.fromtimestamp(value / 1000, UTC)
            return {"local": instant.astimezone(tz).isoformat(), "utc": instant.isoformat()}

        return {
            **self.spec.model_dump(),
            "next_fire": both(self.next_ms),
            "last_fire": both(self.last_ms),
            "next_ms": self.next_ms,
            "last_ms": self.last_ms,
            "count": self.count,
            "ended": self.ended,
        }


class Schedules:
    """Create, replace, remove and list schedules."""

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    async def upsert(self, spec: ScheduleSpec) -> str:
        """Create or replace ``spec.name``; returns "created" or "updated".

        Raises InvalidScheduleError when ``end_ms`` has already passed."""
        now_ms = await self._now_ms()
        if spec.end_ms is not None and spec.end_ms <= now_ms:
            ended = from_ms(spec.end_ms).isoformat()
            raise InvalidScheduleError(
                f"schedule {spec.name!r} ends at {ended}, which has passed; nothing would fire"
            )
        first = now_ms if spec.immediately else spec.next_after(now_ms)
        if spec.immediately and spec.start_ms is not None and spec.start_ms > now_ms:
            first = spec.start_ms
        request = ScheduleUpsertRequest(
            name=spec.name,
            spec=dumps(spec.model_dump(), "schedule"),
            first_fire_ms=-1 if first is None else first,
            version=uuid.uuid4().hex,
        )
        reply = await call_own_keys(self.redis, self.prefix, request)
        return ScheduleUpsertReply.parse(reply).value

    async def remove(self, name: str) -> bool:
        request = ScheduleUpsertRequest.removal(name)
        reply = ScheduleUpsertReply.parse(await call_own_keys(self.redis, self.prefix, request))
        return reply is ScheduleUpsertReply.REMOVED

    async def remove_for_queue(self, queue: str) -> list[str]:
        """Remove every schedule that creates jobs on ``queue``; returns their names."""
        removed = []
        for info in await self.list():
            if info.spec.queue == queue and await self.remove(info.spec.name):
                removed.append(info.spec.name)
        return removed

    async def get(self, name: str) -> ScheduleInfo | None:
        fields: dict[str, str] = await self.redis.hgetall(definition_prefix(self.prefix) + name)  # type: ignore[assignment]
        if not fields:
            return None
        score = await self.redis.zscore(due_key(self.prefix), name)
        return _info(fields, score)

    async def list(self) -> list[ScheduleInfo]:
        """Every schedule, soonest first (ended ones last)."""
        names = {str(name) for name in await self.redis.smembers(names_key(self.prefix))}
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in sorted(names):
                pipe.hgetall(definition_prefix(self.prefix) + name)
                pipe.zscore(due_key(self.prefix), name)
            replies = await pipe.execute()
        infos = [_info(replies[i], replies[i + 1]) for i in range(0, len(replies), 2) if replies[i]]
        return sorted(
            infos, key=lambda info: (info.next_ms is None, info.next_ms or 0, info.spec.name)
        )

    async def _now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _info(fields: dict[str, str], score: float | None) -> ScheduleInfo:
    spec = ScheduleSpec.model_validate(loads(fields["spec"]))
    last = fields.get("last")
    return ScheduleInfo(
        spec=spec,
        next_ms=int(score) if score is not None else None,
        last_ms=int(last) if last else None,
        count=int(fields.get("count", 0)),
        ended="ended" in fields,
    )


class Scheduler:
    """Fires due schedules until :meth:`request_stop`.

    Args:
        redis: an asyncio client (``decode_responses=True``).
        prefix: key prefix of the deployment.
        poll_s: the longest pause between two looks at the due schedules.
    """

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX, poll_s: float = POLL_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.poll_s = poll_s
        self._stop = asyncio.Event()
        self.fired = 0

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                pause = await self.tick()
                failures = 0
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                pause = min(0.1 * 2**failures, 5.0)
                log.warning("scheduler: Redis unreachable (%s); retrying in %.1fs", exc, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)

    async def tick(self, at_ms: int | None = None) -> float:
        """Fire what is due; returns how long to wait before the next look.

        ``at_ms`` replaces Redis's clock (for tests of calendar edge cases)."""
        request = ScheduleDueRequest(limit=DUE_BATCH, at_ms=at_ms)
        reply = ScheduleDueReply.parse(await call_own_keys(self.redis, self.prefix, request))
        for due in reply.due:
            if not due.spec:
                continue
            try:
                spec = ScheduleSpec.model_validate(loads(due.spec))
                await self._fire(spec, due.due_ms, due.version, due.count, reply.now_ms)
            except (InvalidScheduleError, ValidationError, ValueError) as exc:
                log.error("schedule %s cannot fire: %s", due.name, exc)
        if len(reply.due) >= DUE_BATCH:
            return 0.0
        if reply.next_due_ms is None:
            return self.poll_s
        return min(max((reply.next_due_ms - reply.now_ms) / 1000, 0.0), self.poll_s)

    async def _add_on_cluster(
        self, spec: ScheduleSpec, due_ms: int, version: str, tick: int
    ) -> bool | None:
        """On a Redis Cluster, add the tick's job before schedule_fire moves the
        schedule on (the queue is in another slot). Its id is the tick's own, so
        schedulers that race, or one that retries after a crash, add it once.
        Whether it was created; None (nothing added) when the schedule moved
        on or changed since it was read."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(due_key(self.prefix), spec.name)
            pipe.hget(definition_prefix(self.prefix) + spec.name, "ver")
            current, current_version = await pipe.execute()
        if current is None or int(float(current)) != due_ms or current_version != version:
            return None
        from engine.queue import Queue  # engine.queue imports this module

        queue = Queue(spec.queue, self.redis, prefix=self.prefix)
        options = parse_options(spec.options, job_id=f"schedule:{spec.name}:{tick}")
        _job_id, created = await queue.add_once(spec.job, spec.data, options)
        return created

    async def _fire(
        self, spec: ScheduleSpec, due_ms: int, version: str, count: int, now_ms: int
    ) -> None:
        tick = due_ms
        fire = True
        following = spec.next_after(due_ms)
        if following is not None and following <= now_ms:
            # ticks were missed while no scheduler ran
            if spec.missed == "latest":
                tick = spec.latest_at_or_before(now_ms, due_ms) or due_ms
            else:
                fire = False
            following = spec.next_after(max(tick, now_ms))
        if spec.limit is not None and count + 1 >= spec.limit:
            following = None
        request = ScheduleFireRequest.of(
            queue_name=spec.queue,
            schedule=spec.name,
            expected_due_ms=due_ms,
            version=version,
            fire_ms=tick,
            following_ms=following,
            job_name=spec.job,
            data=spec.data,
            options=parse_options(spec.options),
            fire=fire,
        )
        added: bool | None = None
        if fire and is_cluster(self.redis):
            added = await self._add_on_cluster(spec, due_ms, version, tick)
            if added is None:
                return
        reply = ScheduleFireReply.parse(await call_own_keys(self.redis, self.prefix, request))
        if added is not None:
            reply = replace(reply, created=added)
        if reply.won and fire:
            self.fired += 1
            log.info("schedule %s fired job %s on %s", spec.name, reply.job_id, spec.queue)
