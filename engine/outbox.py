"""The hand-off of chains and flows between queues in different slots of a
Redis Cluster.

On one server a step that ends releases the jobs waiting for it in the same
script, whatever their queue. On a cluster another queue's keys are in
another slot, out of the script's reach: the finishing script writes what
the dependent is owed (its result, its failure, or that a failed step was
retried) to the outbox of the finishing job's queue, a stream in that
queue's slot, in the same call as the finish. :func:`deliver_outbox` then
reads the outbox (``outbox.lua``), applies its entries on each dependent's
queue (``deliver.lua``) and only then removes them. Delivery is idempotent
(a result counts once, a failure reaches only a pending job, a revive only
a job failed by that very step), so a crash anywhere between the finish and
the removal neither loses nor doubles a step: the entry stays and is
delivered again, as a no-op if it had landed.

Who delivers: the worker right after a job with dependents ended (in the
background, :class:`Courier`), every worker's sweep for its queues (crash
recovery), and the admin calls that release dependents (drain, clean,
cancel, remove, obliterate, retry). One deliverer holds an outbox at a time
(the claim lasts :data:`HOLD_MS` past its last call), so entries are
applied in the order they were written. A delivery can make the receiving
queue owe others (a failure passed down a chain): its outbox is delivered
next, in the same call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from engine.cluster import is_cluster
from engine.contracts.base import call
from engine.contracts.outbox import (
    DeliverReply,
    DeliverRequest,
    Delivery,
    OutboxReply,
    OutboxRequest,
)
from engine.keys import DEFAULT_PREFIX, QueueKeys

__all__ = ["HOLD_MS", "Courier", "deliver_outbox"]

log = logging.getLogger("engine.outbox")

OUTBOX_PAGE = 200
"""Entries taken from an outbox per call."""
HOLD_MS = 5000
"""How long a deliverer's claim on an outbox lasts after its last call: the
time a crashed deliverer holds up the next one."""
MAX_QUEUES = 100
"""Outboxes one call of :func:`deliver_outbox` delivers, follow-ups included."""


async def deliver_outbox(redis: Any, queue: str, prefix: str = DEFAULT_PREFIX) -> int:
    """Deliver the entries of ``queue``'s outbox, and those its deliveries
    put in other queues' outboxes; returns the entries that changed
    something. Nothing to do on a single server (no outbox there). Returns
    early when another deliverer holds an outbox: it delivers it."""
    if not is_cluster(redis):
        return 0
    todo = [queue]
    applied = done = 0
    while todo and done < MAX_QUEUES:
        name = todo.pop(0)
        done += 1
        count, follow = await _deliver_one(redis, QueueKeys(name, prefix))
        applied += count
        todo.extend(q for q in sorted(follow) if q not in todo)
    return applied


async def _deliver_one(redis: Any, keys: QueueKeys) -> tuple[int, set[str]]:
    holder = uuid.uuid4().hex
    acked: tuple[str, ...] = ()
    applied = 0
    follow: set[str] = set()
    while True:
        request = OutboxRequest(holder, HOLD_MS, OUTBOX_PAGE, acked)
        reply = OutboxReply.parse(await call(redis, keys, request))
        if reply.busy or not reply.entries:
            return applied, follow
        by_queue: dict[str, list[Delivery]] = {}
        for entry in reply.entries:
            by_queue.setdefault(entry.queue, []).append(
                Delivery(entry.kind, entry.job_id, entry.from_id, entry.value, entry.mode)
            )
        for target, deliveries in by_queue.items():
            try:
                target_keys = QueueKeys(target, keys.prefix)
            except ValueError:
                log.warning(
                    "outbox of %s: entry for a bad queue name %r dropped", keys.name, target
                )
                continue
            delivered = DeliverReply.parse(
                await call(redis, target_keys, DeliverRequest(keys.name, tuple(deliveries)))
            )
            applied += delivered.applied
            if delivered.outbox and target != keys.name:
                follow.add(target)
        acked = tuple(entry.entry_id for entry in reply.entries)


class Courier:
    """Delivers outboxes in the background for a worker: one task per queue
    at a time; a request while it runs makes it run once more."""

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def request(self, queue: str) -> None:
        """Deliver ``queue``'s outbox soon."""
        if queue in self._tasks:
            self._again.add(queue)
            return
        self._tasks[queue] = asyncio.get_running_loop().create_task(
            self._run(queue), name=f"outbox:{queue}"
        )

    async def _run(self, queue: str) -> None:
        from engine.worker.faults import REDIS_ERRORS

        try:
            while True:
                self._again.discard(queue)
                try:
                    await deliver_outbox(self.redis, queue, self.prefix)
                except REDIS_ERRORS as exc:
                    # the entries stay: the sweep delivers them
                    log.warning("outbox of %s not delivered yet: %s", queue, exc)
                    return
                if queue not in self._again:
                    return
        finally:
            self._tasks.pop(queue, None)

    async def close(self) -> None:
        """Stop delivering (what is left stays in the outboxes for the sweep)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
