"""Rates now: jobs finished per second over the last seconds, the backlog's trend,
and how long the oldest waiting job has waited. Read-only, O(1) per queue.

The finish scripts count completed and failed jobs per minute in the metrics
hashes (``engine.metrics``): within its minute such a counter only grows. So
two readings of the previous and the current minute's counters, seconds
apart, tell exactly how many jobs finished between them, whatever happened
in the minutes before. :func:`read_queues` takes one reading of many queues
in two round trips; a :class:`RateTracker` keeps a few seconds of readings
per queue and differentiates them.

Cost per reading: TIME, then per queue one HMGET (two in the first minute
of a day) and, when jobs wait, three reads of the waiting line's ends and up
to three HGETs of their creation times.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from engine.cluster import is_cluster
from engine.jobhash import JobField, stamp_ms
from engine.keys import DEFAULT_PREFIX, QueueKeys

MS_PER_MINUTE = 60_000
MINUTES_PER_DAY = 1440
RATE_WINDOW_MS = 5_000
"""Rates are taken over the readings of the last five seconds (or the last two
readings, when they are further apart)."""


@dataclass(frozen=True)
class QueueReading:
    """One queue's counters at one instant (Redis time)."""

    at_ms: int
    completed: tuple[int, int]
    """Completed in the previous and in the current minute of ``at_ms``."""
    failed: tuple[int, int]
    """Failed for good in the previous and in the current minute."""
    waiting: int
    oldest_created_ms: int | None
    """When the oldest of the jobs at the ends of the waiting line was added: the
    oldest waiting job when they are FIFO of one priority (the usual case), or
    all LIFO; with priorities or both orders mixed, the oldest of those ends."""

    @property
    def minute(self) -> int:
        return self.at_ms // MS_PER_MINUTE


@dataclass(frozen=True)
class QueueRates:
    """What a queue does now, from the readings of the last seconds."""

    completed_per_s: float
    failed_per_s: float
    backlog_per_s: float
    """Change of the waiting count per second: below zero it shrinks."""
    waiting: int
    window_ms: int
    """The time the rates were taken over."""
    oldest_created_ms: int | None
    """When the oldest waiting job was added (None: nothing waits); see
    :attr:`QueueReading.oldest_created_ms`."""

    def oldest_wait_ms(self, now_ms: int) -> int | None:
        """How long the oldest waiting job has waited at ``now_ms``."""
        if self.oldest_created_ms is None:
            return None
        return max(now_ms - self.oldest_created_ms, 0)

    @property
    def drain_s(self) -> float | None:
        """Seconds until nothing waits, if the backlog keeps shrinking at this pace."""
        if self.waiting == 0:
            return 0.0
        if self.backlog_per_s >= 0:
            return None
        return self.waiting / -self.backlog_per_s


def _server_ms(reply: Any) -> int:
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000


async def read_queues(
    redis: Redis,
    waiting: dict[str, int],
    prefix: str = DEFAULT_PREFIX,
    clock_offset_ms: int = 0,
) -> tuple[dict[str, QueueReading], int]:
    """A reading of every queue in ``waiting`` (name: waiting count, as just read).

    The minute's counters are chosen by the local clock corrected by
    ``clock_offset_ms`` (the server's time minus the local one); returns the
    readings and the offset measured now. When the server's minute was not the
    one guessed (a clock jump, a minute that turned in between), no readings.
    """
    guess_ms = int(time.time() * 1000) + clock_offset_ms
    minute = guess_ms // MS_PER_MINUTE
    names = list(waiting)
    # A cluster pipeline cannot carry TIME (it names no key): it goes on its own.
    cluster = is_cluster(redis)
    async with redis.pipeline(transaction=False) as pipe:
        if not cluster:
            pipe.time()
        for name in names:
            keys = QueueKeys(name, prefix)
            _pipe_counters(pipe, keys, minute)
            if waiting[name]:
                pipe.zrange(keys.waiting, 0, 0)
                pipe.lindex(keys.waiting_list, 0)
                pipe.lindex(keys.waiting_list, -1)
        replies = list(await pipe.execute())
    if cluster:
        replies.insert(0, await redis.time())
    now_ms = _server_ms(replies[0])
    offset = now_ms - int(time.time() * 1000)
    if now_ms // MS_PER_MINUTE != minute:
        return {}, offset
    index = 1
    counters: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    ends: dict[str, list[str]] = {}
    same_day = (minute - 1) // MINUTES_PER_DAY == minute // MINUTES_PER_DAY
    for name in names:
        if same_day:
            c_now, f_now, c_prev, f_prev = replies[index]
            index += 1
        else:
            c_now, f_now = replies[index]
            c_prev, f_prev = replies[index + 1]
            index += 2
        counters[name] = ((int(c_prev or 0), int(c_now or 0)), (int(f_prev or 0), int(f_now or 0)))
        if waiting[name]:
            first_prioritised, head, tail = replies[index : index + 3]
            index += 3
            ids = [*first_prioritised, head, tail]
            ends[name] = list(dict.fromkeys(str(i) for i in ids if i is not None))
    created = await _created_ms(redis, ends, prefix)
    readings = {
        name: QueueReading(
            at_ms=now_ms,
            completed=counters[name][0],
            failed=counters[name][1],
            waiting=waiting[name],
            oldest_created_ms=min(created[name], default=None) if name in created else None,
        )
        for name in names
    }
    return readings, offset


def _pipe_counters(pipe: Any, keys: QueueKeys, minute: int) -> None:
    """HMGET the completed and failed counters of ``minute`` and the one before."""
    day, minute_of_day = divmod(minute, MINUTES_PER_DAY)
    now_fields = [f"c{minute_of_day}", f"f{minute_of_day}"]
    if minute_of_day > 0:
        pipe.hmget(
            keys.metrics(day), [*now_fields, f"c{minute_of_day - 1}", f"f{minute_of_day - 1}"]
        )
    else:
        pipe.hmget(keys.metrics(day), now_fields)
        last = MINUTES_PER_DAY - 1
        pipe.hmget(keys.metrics(day - 1), [f"c{last}", f"f{last}"])


async def _created_ms(
    redis: Redis, ends: dict[str, list[str]], prefix: str
) -> dict[str, list[int]]:
    """The creation times of the jobs in ``ends`` (those still there), per queue."""
    if not ends:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for name, ids in ends.items():
            keys = QueueKeys(name, prefix)
            for job_id in ids:
                pipe.hget(keys.job(job_id), JobField.CREATED.value)
        replies = list(await pipe.execute())
    created: dict[str, list[int]] = {}
    index = 0
    for name, ids in ends.items():
        values = replies[index : index + len(ids)]
        index += len(ids)
        created[name] = [int(ms) for v in values if (ms := stamp_ms(v)) is not None]
    return created


def finished_between(earlier: QueueReading, later: QueueReading) -> tuple[int, int] | None:
    """Jobs completed and failed between two readings, exactly; None when the readings
    are more than a minute apart or a counter went back (its metrics were deleted)."""
    if later.minute == earlier.minute:
        completed = later.completed[1] - earlier.completed[1]
        failed = later.failed[1] - earlier.failed[1]
    elif later.minute == earlier.minute + 1:
        completed = later.completed[0] - earlier.completed[1] + later.completed[1]
        failed = later.failed[0] - earlier.failed[1] + later.failed[1]
    else:
        return None
    if completed < 0 or failed < 0:
        return None
    return completed, failed


class RateTracker:
    """The last readings of each queue, and the rates they make.

    Args:
        window_ms: rates are taken over the readings of this last span.
    """

    def __init__(self, window_ms: int = RATE_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._readings: dict[str, deque[tuple[QueueReading, tuple[int, int]]]] = {}
        """Per queue: each reading with the jobs finished since the one before it."""

    def add(self, name: str, reading: QueueReading) -> None:
        history = self._readings.setdefault(name, deque())
        finished = finished_between(history[-1][0], reading) if history else None
        if history and (finished is None or reading.at_ms <= history[-1][0].at_ms):
            history.clear()  # a gap or a reset: start over from this reading
        history.append((reading, finished or (0, 0)))
        # Keep one reading older than the window: the rate then spans the window.
        while len(history) > 2 and history[1][0].at_ms <= reading.at_ms - self.window_ms:
            history.popleft()

    def forget_others(self, names: set[str]) -> None:
        """Drop the readings of queues that are gone."""
        for name in set(self._readings) - names:
            del self._readings[name]

    def rates(self, name: str) -> QueueRates | None:
        """The queue's rates, once it has two readings (None before)."""
        history = self._readings.get(name)
        if not history or len(history) < 2:
            return None
        first, last = history[0][0], history[-1][0]
        elapsed_s = (last.at_ms - first.at_ms) / 1000
        completed = sum(done for _reading, (done, _failed) in list(history)[1:])
        failed = sum(failed for _reading, (_done, failed) in list(history)[1:])
        return QueueRates(
            completed_per_s=completed / elapsed_s,
            failed_per_s=failed / elapsed_s,
            backlog_per_s=(last.waiting - first.waiting) / elapsed_s,
            waiting=last.waiting,
            window_ms=last.at_ms - first.at_ms,
            oldest_created_ms=last.oldest_created_ms,
        )


def total_rates(rates: list[QueueRates]) -> QueueRates | None:
    """The sum over queues (the oldest waiting job is the oldest of theirs)."""
    if not rates:
        return None
    created = [r.oldest_created_ms for r in rates if r.oldest_created_ms is not None]
    return QueueRates(
        completed_per_s=sum(r.completed_per_s for r in rates),
        failed_per_s=sum(r.failed_per_s for r in rates),
        backlog_per_s=sum(r.backlog_per_s for r in rates),
        waiting=sum(r.waiting for r in rates),
        window_ms=max(r.window_ms for r in rates),
        oldest_created_ms=min(created) if created else None,
    )
