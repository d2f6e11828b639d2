"""Live updates for many clients: one reader per queue, a bounded mailbox per client.

A :class:`QueueHub` runs ``engine.watch.watch_queue`` once for a queue,
however many clients follow it, turns each event and each second's counts
into JSON once, and drops the text into the mailbox of every client that
follows the queue or the event's job. Dropping never waits: a client whose
mailbox is full (it reads slower than events come) loses its backlog and
gets one ``lagged`` message instead, then goes on with new events, so a slow
client never slows the reader or the others. Hubs stop when their last
client leaves.

Messages (JSON objects, ``type`` first):

- ``event``: ``queue``, ``id`` (stream id, to resume after), ``ts``, ``event``,
  ``job_id``, ``state`` (the job's state after it, null for queue events),
  ``progress`` (for ``job:progress``), ``fields`` (the raw event fields).
- ``counts``: ``queue``, ``counts`` (jobs per state), ``paused``, ``ts``.
- ``job``: ``job`` (the whole job, as ``GET /api/jobs/{queue}/{id}``), sent when
  a job is followed and again after a lag.
- ``lagged``: ``skipped`` (messages dropped), ``resume_from`` (per queue, the
  last event id delivered before them).
- ``subscribed`` and ``error``: answers to a client's requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.codec import loads
from engine.events import Event, parse_event
from engine.queue import Queue
from engine.watch import QueueCounts, state_after, watch_queue
from messai_console.api.responses import safe_json_text

log = logging.getLogger("messai_console.api")

RETRY_AFTER_ERROR_S = 1.0
STOP_WAIT_S = 5.0
"""How long a stopping queue reader may take to end (it is cancelled) before a warning."""


@dataclass(frozen=True)
class Outgoing:
    """One message for a client: its JSON text and what it was about."""

    kind: str
    text: str
    queue: str | None = None
    event_id: str | None = None


def event_message(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "event",
        "queue": event.queue,
        "id": event.stream_id,
        "ts": event.timestamp_ms,
        "event": event.name,
        "job_id": event.job_id,
        "state": state_after(event),
    }
    if event.name == "job:progress":
        try:
            message["progress"] = loads(event.fields.get("p"))
        except ValueError:
            message["progress"] = event.fields.get("p")
    message["fields"] = event.fields
    return message


def event_outgoing(event: Event) -> Outgoing:
    return Outgoing("event", safe_json_text(event_message(event)), event.queue, event.stream_id)


def counts_outgoing(counts: QueueCounts) -> Outgoing:
    return Outgoing("counts", safe_json_text({"type": "counts", **counts.to_dict()}), counts.queue)


def message_outgoing(kind: str, body: dict[str, Any], queue: str | None = None) -> Outgoing:
    return Outgoing(kind, safe_json_text({"type": kind, **body}), queue)


def _id_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class Subscriber:
    """One client's mailbox: at most ``limit`` messages wait; past that, ``lagged``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer: deque[Outgoing] = deque()
        self._ready = asyncio.Event()
        self._held: dict[str, list[Outgoing]] = {}
        self._skipped = 0
        self.delivered: dict[str, str] = {}
        """Per queue, the id of the last event handed to the client (its resume cursor)."""
        self.lagged_count = 0

    def offer(self, item: Outgoing, *, history: bool = False) -> None:
        """Queue ``item`` without waiting (hubs call this for every client);
        ``history``: a replayed event, which goes before the held live ones."""
        if not history and item.queue is not None and item.queue in self._held:
            held = self._held[item.queue]
            if len(held) + len(self._buffer) >= self.limit:
                held.clear()
                self._overflow()
                return
            held.append(item)
            return
        if len(self._buffer) >= self.limit:
            self._overflow()
            return
        self._buffer.append(item)
        self._ready.set()

    def _overflow(self) -> None:
        # The backlog goes, and so does the message that did not fit: the
        # client hears once that it lagged, then gets what comes next.
        dropped = sum(1 for item in self._buffer if item.kind != "lagged") + 1
        self._buffer.clear()
        self._skipped += dropped
        self.lagged_count += 1
        self._buffer.append(Outgoing("lagged", ""))
        self._ready.set()

    def hold(self, queue: str) -> None:
        """Keep ``queue``'s live messages aside until :meth:`release` (history goes first)."""
        self._held.setdefault(queue, [])

    def release(self, queue: str, after_id: str | None) -> None:
        """Deliver the held messages, less events at or before ``after_id`` (already sent)."""
        held = self._held.pop(queue, [])
        for item in held:
            if (
                after_id is not None
                and item.event_id is not None
                and _id_order(item.event_id) <= _id_order(after_id)
            ):
                continue
            self.offer(item)

    async def next(self, wait_s: float | None = None) -> Outgoing | None:
        """The next message, or None after ``wait_s`` seconds without one."""
        while not self._buffer:
            self._ready.clear()
            if wait_s is None:
                await self._ready.wait()
            else:
                try:
                    await asyncio.wait_for(self._ready.wait(), wait_s)
                except TimeoutError:
                    return None
        item = self._buffer.popleft()
        if item.kind == "lagged":
            skipped, self._skipped = self._skipped, 0
            return message_outgoing(
                "lagged",
                {
                    "skipped": skipped,
                    "resume_from": dict(self.delivered),
                    "detail": "this client read too slowly; messages were dropped",
                },
            )
        if item.event_id is not None and item.queue is not None:
            self.delivered[item.queue] = item.event_id
        return item


@dataclass
class _Interest:
    whole_queue: bool = False
    jobs: set[str] = field(default_factory=set)


class QueueHub:
    """Reads one queue's events and counts and hands them to its subscribers."""

    def __init__(self, queue: Queue, counts_every_s: float) -> None:
        self.queue = queue
        self.counts_every_s = counts_every_s
        self.interests: dict[Subscriber, _Interest] = {}
        self.ready = asyncio.Event()
        self.position = "$"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hub:{self.queue.name}")

    async def stop(self) -> None:
        """Cancel the reader and wait (a bounded time) for it to end."""
        if self._task is None:
            return
        self._task.cancel()
        done, _ = await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
        if not done:
            log.warning("live updates of %r: the reader did not stop", self.queue.name)
        elif not self._task.cancelled() and self._task.exception() is not None:
            log.warning("live updates of %r: %s", self.queue.name, self._task.exception())

    async def _run(self) -> None:
        while True:
            try:
                if self.position == "$":
                    # Pinned here, so that a restart after an error resumes exactly.
                    self.position = await _last_event_id(self.queue) or "0-0"
                async for item in watch_queue(
                    self.queue, since=self.position, counts_every_s=self.counts_every_s
                ):
                    self._dispatch(item)
            except RedisError as exc:
                log.warning("live updates of %r: %s; retrying", self.queue.name, exc)
                await asyncio.sleep(RETRY_AFTER_ERROR_S)

    def _dispatch(self, item: Event | QueueCounts) -> None:
        if isinstance(item, QueueCounts):
            self.ready.set()
            outgoing = counts_outgoing(item)
            for subscriber, interest in list(self.interests.items()):
                if interest.whole_queue:
                    subscriber.offer(outgoing)
            return
        self.position = item.stream_id
        outgoing = event_outgoing(item)
        for subscriber, interest in list(self.interests.items()):
            if interest.whole_queue or (item.job_id is not None and item.job_id in interest.jobs):
                subscriber.offer(outgoing)


class LiveHub:
    """Every queue's hub, started on the first subscriber and stopped after the last."""

    def __init__(self, redis: Redis, prefix: str, counts_every_s: float = 1.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.counts_every_s = counts_every_s
        self.hubs: dict[str, QueueHub] = {}
        self._lock = asyncio.Lock()

    async def _join(self, subscriber: Subscriber, name: str) -> tuple[QueueHub, _Interest]:
        """Queue ``name``'s hub, started if need be, once it reads, and ``subscriber``'s
        interest in it. ``subscriber`` is among the hub's clients from the start (with an
        empty interest), so that no other client's leaving stops the hub meanwhile."""
        async with self._lock:
            hub = self.hubs.get(name)
            if hub is None:
                hub = self.hubs[name] = QueueHub(
                    Queue(name, self.redis, prefix=self.prefix), self.counts_every_s
                )
                hub.start()
            interest = hub.interests.setdefault(subscriber, _Interest())
        await hub.ready.wait()
        return hub, interest

    async def follow_queue(self, subscriber: Subscriber, name: str, since: str | None) -> None:
        """Send ``subscriber`` every event and the counts of queue ``name``; with ``since``,
        first the events kept after that id."""
        subscriber.hold(name)
        last: str | None = None
        try:
            hub, interest = await self._join(subscriber, name)
            interest.whole_queue = True
            if since:
                last = await self._replay(subscriber, hub.queue, since)
        finally:
            subscriber.release(name, last)

    async def follow_job(
        self, subscriber: Subscriber, name: str, job_id: str, since: str | None
    ) -> dict[str, Any] | None:
        """Send ``subscriber`` the job now, then its events; None when there is no such job."""
        subscriber.hold(name)
        after: str | None = None
        try:
            hub, interest = await self._join(subscriber, name)
            interest.jobs.add(job_id)
            if since:
                after = await self._replay(subscriber, hub.queue, since, job_id)
            else:
                after = await _last_event_id(hub.queue)
            job = await hub.queue.get_job(job_id)
            if job is None:
                interest.jobs.discard(job_id)
                return None
            body = job.to_dict()
            if not since:
                subscriber.offer(message_outgoing("job", {"job": body}, None))
            return body
        finally:
            subscriber.release(name, after)

    async def _replay(
        self, subscriber: Subscriber, queue: Queue, since: str, job_id: str | None = None
    ) -> str | None:
        """The events kept after ``since`` (at most the mailbox's size, then a lag)."""
        start = "-" if since in ("0", "0-0") else f"({since}"
        entries: Any = await self.redis.xrange(
            queue.keys.events, start, "+", count=subscriber.limit + 1
        )
        last: str | None = None
        for stream_id, raw in entries:
            last = stream_id
            event = parse_event(queue.name, stream_id, raw)
            if job_id is None or event.job_id == job_id:
                subscriber.offer(event_outgoing(event), history=True)
        return last

    async def unsubscribe(self, subscriber: Subscriber, name: str | None = None) -> None:
        """Stop sending ``subscriber`` anything of ``name`` (every queue when None)."""
        idle = []
        async with self._lock:
            for queue_name, hub in list(self.hubs.items()):
                if name is not None and queue_name != name:
                    continue
                hub.interests.pop(subscriber, None)
                if not hub.interests:
                    del self.hubs[queue_name]
                    idle.append(hub)
        # Out of the lock: other clients go on joining while these readers end.
        for hub in idle:
            await hub.stop()

    async def close(self) -> None:
        async with self._lock:
            hubs, self.hubs = list(self.hubs.values()), {}
        for hub in hubs:
            await hub.stop()


async def _last_event_id(queue: Queue) -> str | None:
    entries: Any = await queue.redis.xrevrange(queue.keys.events, "+", "-", count=1)
    return str(entries[0][0]) if entries else None
