"""Pausing one worker: it takes no jobs, running ones finish, prefetched ones
go back; from Python, and from another client through Redis (the control
channel, or the stored command read at a heartbeat)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from engine import JobContext, Queue, Worker, WorkerNotFoundError, pause_worker, resume_worker
from engine.keys import worker_control_channel, worker_key
from engine.monitor import WorkerInfo, list_workers
from engine.worker.control import CONTROL_FIELD
from tests.engine.conftest import StartWorker
from tests.helpers import await_until

QUIET_S = 0.4
"""How long a paused worker is watched for starting nothing (a window for a
negative, not a wait for something to happen)."""


class Gates:
    """A processor that holds each job until the test opens its gate."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gate = asyncio.Event()

    async def hold(self, ctx: JobContext) -> str:
        self.started.append(ctx.job_id)
        await self.gate.wait()
        return "done"


async def registry_entry(client: redis.asyncio.Redis, worker: Worker) -> WorkerInfo | None:
    return next((w for w in await list_workers(client) if w.id == worker.id), None)


async def listening(client: redis.asyncio.Redis, worker: Worker) -> bool:
    """The worker subscribed to its control channel (its registry entry comes
    first: a command published before this is heard at a beat)."""
    channel = worker_control_channel(worker.id)
    return dict(await client.pubsub_numsub(channel)).get(channel) == 1


async def shown_paused(client: redis.asyncio.Redis, worker: Worker, paused: bool) -> bool:
    entry = await registry_entry(client, worker)
    return entry is not None and entry.paused is paused


async def counts_are(queue: Queue, **expected: int) -> bool:
    counts = await queue.counts()
    return all(counts[state] == n for state, n in expected.items())


async def test_pause_finishes_running_jobs_hands_back_prefetched_and_resume_goes_on(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    gates = Gates()
    ids = await queue.add_bulk([("hold", None)] * 5)
    worker = await start_worker({"hold": gates.hold}, concurrency=1, prefetch=2)
    await await_until(lambda: gates.started == [ids[0]], timeout=10)
    await await_until(lambda: counts_are(queue, active=3, waiting=2), timeout=10)

    worker.pause()
    assert worker.paused
    # the two prefetched jobs go back at once; the running one runs on
    await await_until(lambda: counts_are(queue, active=1, waiting=4), timeout=10)
    await await_until(lambda: shown_paused(redis_client, worker, True), timeout=10)
    gates.gate.set()
    await await_until(lambda: counts_are(queue, completed=1), timeout=10)
    await asyncio.sleep(QUIET_S)
    assert await counts_are(queue, active=0, waiting=4, completed=1)
    assert gates.started == [ids[0]]

    worker.resume()
    assert not worker.paused
    await await_until(lambda: counts_are(queue, completed=5), timeout=10)
    assert sorted(gates.started) == sorted(ids)
    await await_until(lambda: shown_paused(redis_client, worker, False), timeout=10)


async def test_a_worker_paused_before_it_runs_starts_nothing(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    job = await queue.add("noop")
    worker = Worker("test-queue", redis_client, concurrency=2)
    worker.pause()
    task = asyncio.create_task(worker.run())
    try:
        await await_until(lambda: shown_paused(redis_client, worker, True), timeout=10)
        await asyncio.sleep(QUIET_S)
        assert (await queue.counts())["waiting"] == 1
        worker.resume()
        await await_until(lambda: counts_are(queue, completed=1), timeout=10)
        assert (await queue.get_job(job.id)).worker == worker.id  # type: ignore[union-attr]
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 15)


async def test_pause_and_resume_addressed_through_redis(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    other = await start_worker(concurrency=2)
    worker = await start_worker(concurrency=2)
    await await_until(lambda: listening(redis_client, worker), timeout=10)
    heard = await pause_worker(redis_client, worker.id)
    assert heard == 1  # its listener
    await await_until(lambda: worker.paused, timeout=5)
    assert not other.paused
    await await_until(lambda: shown_paused(redis_client, worker, True), timeout=10)
    ids = await queue.add_bulk([("noop", None)] * 20)
    await await_until(lambda: counts_are(queue, completed=20), timeout=10)
    for job_id in ids:
        assert (await queue.get_job(job_id)).worker == other.id  # type: ignore[union-attr]

    await resume_worker(redis_client, worker.id)
    await await_until(lambda: not worker.paused, timeout=5)
    await await_until(lambda: shown_paused(redis_client, worker, False), timeout=10)


async def test_a_command_whose_message_was_missed_applies_at_the_next_heartbeat(
    start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    worker = await start_worker(concurrency=1, lease_ms=600)  # a beat every 200 ms
    await await_until(lambda: registry_entry(redis_client, worker), timeout=10)
    # stored, never published: as if the listener was reconnecting
    await redis_client.hset(worker_key(worker.id), CONTROL_FIELD, "pause:missed-1")
    await await_until(lambda: worker.paused, timeout=5)
    # applied once: a resume here is not undone by the stored command at later beats
    worker.resume()
    beats = (await registry_entry(redis_client, worker)).last_beat_ms  # type: ignore[union-attr]
    await await_until(
        lambda: _beat_after(redis_client, worker, beats + 400), timeout=10, interval=0.05
    )
    assert not worker.paused


async def test_a_command_left_for_an_earlier_process_of_the_same_id_is_ignored(
    queue: Queue, start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    await redis_client.hset(worker_key("fixed-id"), CONTROL_FIELD, "pause:old-1")
    await queue.add("noop")
    worker = await start_worker(concurrency=1, worker_id="fixed-id")
    await await_until(lambda: counts_are(queue, completed=1), timeout=10)
    assert not worker.paused


async def test_an_unknown_worker_or_command_changes_nothing(
    start_worker: StartWorker, redis_client: redis.asyncio.Redis
) -> None:
    with pytest.raises(WorkerNotFoundError, match="no-such-worker"):
        await pause_worker(redis_client, "no-such-worker")
    assert not await redis_client.exists(worker_key("no-such-worker"))
    worker = await start_worker(concurrency=1)
    await await_until(lambda: listening(redis_client, worker), timeout=10)
    await redis_client.publish(f"messai:worker:{worker.id}:control", "explode:1")
    await pause_worker(redis_client, worker.id)  # heard after the bad one: still listening
    await await_until(lambda: worker.paused, timeout=5)


async def _beat_after(client: redis.asyncio.Redis, worker: Worker, ms: int) -> bool:
    entry = await registry_entry(client, worker)
    return entry is not None and entry.last_beat_ms > ms
