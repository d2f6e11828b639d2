"""The per-queue event stream: every state change, written by the scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from engine.cluster import is_cluster
from engine.keys import QueueKeys

EVENTS_MAXLEN = 10_000
"""A queue's stream keeps about this many events (``XADD MAXLEN ~``; copied in
``lua/includes/common.lua``)."""

EVENT_NAMES: tuple[str, ...] = (
    "job:added",
    "job:deduplicated",
    "job:changed",
    "job:duplicated",
    "job:waiting",
    "job:delayed",
    "job:pending",
    "job:active",
    "job:progress",
    "job:completed",
    "job:failed",
    "job:retrying",
    "job:retried",
    "job:stalled",
    "job:removed",
    "job:cancelled",
    "job:cancel-requested",
    "queue:paused",
    "queue:resumed",
    "queue:drained",
    "queue:cleaned",
)


@dataclass(frozen=True)
class Event:
    """One entry of a queue's event stream."""

    queue: str
    stream_id: str
    """The stream entry id (``<ms>-<n>``): Redis's clock when it was written."""
    name: str
    job_id: str | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def timestamp_ms(self) -> int:
        return int(self.stream_id.split("-", 1)[0])

    def to_dict(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "id": self.stream_id,
            "ts": self.timestamp_ms,
            "event": self.name,
            "job_id": self.job_id,
            "fields": self.fields,
        }


def parse_event(queue: str, stream_id: str, raw: dict[str, str]) -> Event:
    fields = dict(raw)
    name = fields.pop("ev", "")
    job_id = fields.pop("id", None)
    return Event(queue=queue, stream_id=stream_id, name=name, job_id=job_id, fields=fields)


async def read_events(
    redis: Redis,
    queues: Sequence[QueueKeys],
    since: str = "$",
    block_ms: int = 5000,
    count: int = 500,
) -> AsyncIterator[Event]:
    """Follow the event streams of ``queues`` from ``since``, blocking for new ones.

    ``since`` is a stream id, ``0`` for everything kept, or ``$`` for only
    events written from now on. Runs until the caller stops iterating.
    """
    by_key = {keys.events: keys.name for keys in queues}
    positions = dict.fromkeys(by_key, since)
    if since == "$":
        # Pin "now" per stream so that no event is missed between two reads.
        for key in by_key:
            info = await redis.xinfo_stream(key) if await redis.exists(key) else None
            positions[key] = str(info["last-generated-id"]) if info else "0-0"
    if is_cluster(redis) and len(positions) > 1:
        # Each stream is in its queue's slot: one XREAD may not name two.
        async for event in _read_each(redis, by_key, positions, block_ms, count):
            yield event
        return
    while True:
        reply: Any = await redis.xread(positions, count=count, block=block_ms)  # type: ignore[arg-type]
        for key, entries in reply or []:
            for stream_id, raw in entries:
                positions[key] = stream_id
                yield parse_event(by_key[key], stream_id, raw)


async def _read_each(
    redis: Redis, by_key: dict[str, str], positions: dict[str, str], block_ms: int, count: int
) -> AsyncIterator[Event]:
    """:func:`read_events` on a Redis Cluster: a reader per stream, each
    blocking in its own XREAD (on its queue's master), feeding one buffer
    that the caller reads in arrival order (by stream, as one XREAD of
    several streams would). A reader's failure ends the iteration with it."""
    buffer: asyncio.Queue[Event | BaseException] = asyncio.Queue(maxsize=count)

    async def follow(key: str) -> None:
        position = positions[key]
        try:
            while True:
                reply: Any = await redis.xread({key: position}, count=count, block=block_ms)
                for _key, entries in reply or []:
                    for stream_id, raw in entries:
                        position = stream_id
                        await buffer.put(parse_event(by_key[key], stream_id, raw))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to the caller
            await buffer.put(error)

    readers = [asyncio.ensure_future(follow(key)) for key in by_key]
    try:
        while True:
            item = await buffer.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def read_history(
    redis: Redis, keys: QueueKeys, since: str = "-", until: str = "+", count: int = 1000
) -> list[Event]:
    """Events kept in the stream between two ids (oldest first), without blocking."""
    entries: Any = await redis.xrange(keys.events, since, until, count=count)
    return [parse_event(keys.name, stream_id, raw) for stream_id, raw in entries]


async def read_older(
    redis: Redis, keys: QueueKeys, before: str = "+", count: int = 200
) -> list[Event]:
    """The ``count`` events kept just before the id ``before`` (``+``: the newest),
    oldest first: one XREVRANGE, whatever the length of the stream."""
    end = before if before == "+" else f"({before}"
    entries: Any = await redis.xrevrange(keys.events, end, "-", count=count)
    return [parse_event(keys.name, stream_id, raw) for stream_id, raw in reversed(entries)]


def stream_order(stream_id: str) -> tuple[int, int]:
    """A stream id as a sort key: by time, then by sequence."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
