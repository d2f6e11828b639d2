"""Chains and flows across queues on different masters: the outbox hand-off
(``engine.outbox``). A step that ends writes what its dependent is owed to
its queue's outbox; a deliverer applies it on the dependent's queue and only
then removes it. Here: a crash between the two sides (the scripts called by
hand, as a worker would, with the delivery left out) neither loses nor
doubles the next step, delivering twice is a no-op, and 200 chains and a
500-child flow over three masters complete, in order and once, while worker
processes are SIGKILLed at random."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import redis.asyncio
from redis.crc import key_slot

from engine import FlowJob, JobChain, Queue, add_flow
from engine.contracts.base import call
from engine.contracts.outbox import (
    DeliverReply,
    DeliverRequest,
    Delivery,
    OutboxReply,
    OutboxRequest,
)
from engine.contracts.worker import (
    FetchReply,
    FetchRequest,
    FinishReply,
    FinishRequest,
    OutcomeArgs,
    OutcomeKind,
)
from engine.keys import QueueKeys
from engine.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED
from engine.outbox import deliver_outbox
from tests.cluster.conftest import MASTERS, SLOTS
from tests.helpers import await_until
from tests.reliability.conftest import exec_dir, workers
from tests.reliability.processors import read_parents, read_steps
from tests.reliability.workers import WorkerPool

__all__ = ["exec_dir", "workers"]


def queues_on_three_masters() -> list[str]:
    """Three queue names whose slots belong to the three masters (each
    master owns a third of the slots, in order)."""
    found: dict[int, str] = {}
    index = 0
    while len(found) < MASTERS:
        name = f"hop-{index}"
        third = min(key_slot(f"{{{name}}}".encode()) // (SLOTS // MASTERS), MASTERS - 1)
        found.setdefault(third, name)
        index += 1
    return [found[third] for third in range(MASTERS)]


QUEUES = queues_on_three_masters()
KILLS = 8


async def finish_by_hand(
    client: redis.asyncio.RedisCluster, queue: str, kind: OutcomeKind, value: str
) -> str:
    """Lease one job of ``queue`` and end it as a worker would, in one finish
    call, and deliver nothing (a worker killed right after its finish)."""
    keys = QueueKeys(queue)
    fetched = FetchReply.parse(
        await call(client, keys, FetchRequest("by-hand", 30_000, 1, "tok-1", 1))
    )
    [job] = fetched.jobs
    outcome = OutcomeArgs(job.job_id, "tok-1", kind, value, "", 1, 0, "", 0, 1, job.has_dependents)
    keep = (DEFAULT_KEEP_COMPLETED.rule, DEFAULT_KEEP_FAILED.rule)
    request = FinishRequest("by-hand", 30_000, 0, "tok-2", 0, *keep, (), (outcome,))
    reply = FinishReply.parse(await call(client, keys, request))
    assert not reply.lost
    return job.job_id


async def outbox_entries(client: redis.asyncio.RedisCluster, queue: str) -> OutboxReply:
    """The entries of ``queue``'s outbox (taken and let go at once)."""
    keys = QueueKeys(queue)
    reply = OutboxReply.parse(await call(client, keys, OutboxRequest("peek", 5000, 100)))
    await call(client, keys, OutboxRequest("peek", 5000, 0))
    return reply


def test_the_queues_are_on_three_masters() -> None:
    slots = [key_slot(f"{{{name}}}".encode()) for name in QUEUES]
    assert len({slot // (SLOTS // MASTERS) for slot in slots}) == MASTERS


async def test_a_step_ended_but_not_delivered_is_delivered_once(
    redis_client: redis.asyncio.RedisCluster,
) -> None:
    first, second, third = QUEUES
    a, b, c = await (
        JobChain(redis_client)
        .add(first, "step", {"i": 0})
        .add(second, "step", {"i": 1})
        .add(third, "step", {"i": 2})
        .execute()
    )
    assert await finish_by_hand(redis_client, first, OutcomeKind.COMPLETED, "41") == a.id
    # the crash: the step is completed, the next one still waits
    second_queue = Queue(second, redis_client)
    assert (await second_queue.get_job(b.id)).state == "pending"  # type: ignore[union-attr]
    taken = await outbox_entries(redis_client, first)
    assert [(e.queue, e.job_id, e.kind, e.from_id, e.value) for e in taken.entries] == [
        (second, b.id, "r", a.id, "41")
    ]
    entry = taken.entries[0]
    delivery = Delivery(entry.kind, entry.job_id, entry.from_id, entry.value, entry.mode)
    # delivered, then the deliverer dies before removing the entry; a second
    # deliverer (the sweep) delivers it again: a no-op
    once = DeliverReply.parse(
        await call(redis_client, QueueKeys(second), DeliverRequest(first, (delivery,)))
    )
    twice = DeliverReply.parse(
        await call(redis_client, QueueKeys(second), DeliverRequest(first, (delivery, delivery)))
    )
    assert (once.applied, twice.applied) == (1, 0)
    assert await deliver_outbox(redis_client, first) == 0  # the entry, applied before
    assert (await outbox_entries(redis_client, first)).entries == []
    counts = await second_queue.counts()
    assert (counts["waiting"], counts["pending"]) == (1, 0)
    job = await second_queue.get_job(b.id)
    assert job is not None and job.state == "waiting"
    results = await redis_client.hgetall(QueueKeys(second).key(f"job:{b.id}:results"))
    assert results == {f"{first}:{a.id}": "41"}
    # the next step runs on and hands over in turn
    assert await finish_by_hand(redis_client, second, OutcomeKind.COMPLETED, "42") == b.id
    assert await deliver_outbox(redis_client, second) == 1
    assert (await Queue(third, redis_client).get_job(c.id)).state == "waiting"  # type: ignore[union-attr]


async def test_a_failure_is_passed_down_once_and_a_retry_revives_the_rest(
    redis_client: redis.asyncio.RedisCluster,
) -> None:
    first, second, third = QUEUES
    a, b, c = await (
        JobChain(redis_client).add(first, "step").add(second, "step").add(third, "step").execute()
    )
    await finish_by_hand(redis_client, first, OutcomeKind.FAILED, "pdf unreadable")
    assert await deliver_outbox(redis_client, first) == 2  # b, then c through b's outbox
    assert await deliver_outbox(redis_client, first) == 0
    for queue, job in ((second, b), (third, c)):
        failed = await Queue(queue, redis_client).get_job(job.id)
        assert failed is not None and failed.state == "failed"
        assert failed.error is not None and "pdf unreadable" in failed.error
    # the same failure delivered again changes nothing
    again = Delivery("f", b.id, a.id, "pdf unreadable", "fail")
    reply = DeliverReply.parse(
        await call(redis_client, QueueKeys(second), DeliverRequest(first, (again,)))
    )
    assert reply.applied == 0
    await Queue(first, redis_client).retry_job(a.id)  # delivers the revive
    for queue, job in ((second, b), (third, c)):
        revived = await Queue(queue, redis_client).get_job(job.id)
        assert revived is not None and revived.state == "pending"
    await finish_by_hand(redis_client, first, OutcomeKind.COMPLETED, "1")
    await deliver_outbox(redis_client, first)
    assert (await Queue(second, redis_client).get_job(b.id)).state == "waiting"  # type: ignore[union-attr]


async def test_a_flow_is_added_dependents_first(
    redis_client: redis.asyncio.RedisCluster,
) -> None:
    first, second, third = QUEUES
    jobs = await add_flow(
        redis_client,
        FlowJob(
            first,
            "parent",
            children=[FlowJob(second, "child"), FlowJob(third, "child"), FlowJob(first, "child")],
        ),
    )
    parent, *children = jobs
    assert [job.state for job in jobs] == ["pending", "waiting", "waiting", "waiting"]
    # the parent came first: every child's creation event is later than its
    added = {}
    for job in jobs:
        events = await redis_client.xrange(QueueKeys(job.queue).events)
        [stamp] = [entry_id for entry_id, fields in events if fields.get("id") == job.id]
        added[job.queue, job.id] = stamp
    assert all(added[child.queue, child.id] > added[parent.queue, parent.id] for child in children)
    kids = await redis_client.hget(QueueKeys(first).job(parent.id), "kids")
    assert sorted(kids.splitlines()) == sorted(f"{c.queue}|{c.id}" for c in children)


def _steps_in_order(steps: dict[int, dict[int, list[tuple[float, float]]]], chains: int) -> None:
    assert sorted(steps) == list(range(chains))
    for chain, runs in steps.items():
        assert sorted(runs) == [0, 1, 2], f"chain {chain} ran steps {sorted(runs)}"
        for index in (1, 2):
            previous_done = max(end for _start, end in runs[index - 1])
            first_start = min(start for start, _end in runs[index])
            assert first_start >= previous_done, (
                f"chain {chain}: step {index} started before step {index - 1} ended"
            )


@pytest.mark.timeout(300)
async def test_chains_and_a_flow_over_three_masters_survive_killed_workers(
    redis_url: str,
    redis_client: redis.asyncio.RedisCluster,
    workers: WorkerPool,
    exec_dir: Path,
) -> None:
    chains, children = 200, 500
    for chain in range(chains):
        builder = JobChain(redis_client)
        for index in range(3):
            builder.add(
                QUEUES[(chain + index) % 3], "step", {"chain": chain, "index": index, "ms": 30}
            )
        await builder.execute()
    flow = await add_flow(
        redis_client,
        FlowJob(
            QUEUES[0],
            "parent",
            children=[
                FlowJob(QUEUES[index % 3], "step", {"chain": chains + index, "index": 0, "ms": 10})
                for index in range(children)
            ],
        ),
    )
    parent = flow[0]
    total = chains * 3 + children + 1
    queues = [Queue(name, redis_client) for name in QUEUES]

    def start() -> None:
        workers.start(redis_url, QUEUES, concurrency=4, max_stalled=1000, quiet=True, wait=False)

    for _ in range(4):
        start()

    async def completed() -> int:
        return sum([(await q.counts())["completed"] for q in queues])

    # One kill each time another tenth of the jobs has completed (10% to
    # 80%): as many kills on a quiet machine as on a loaded one, where a
    # kill every so many seconds made 1 on the first and 30 on the second.
    # The parent then runs unkilled (a job killed while it runs runs again:
    # at least once, by design; that it runs once shows it was released once).
    rng = random.Random(15)
    kills = 0
    started = time.monotonic()
    for tenth in range(1, KILLS + 1):
        target = total * tenth // 10

        async def reached(target: int = target) -> bool:
            return await completed() >= target

        await await_until(reached, timeout=120, interval=0.02)
        alive = workers.alive()
        if alive:
            rng.choice(alive).kill()
            kills += 1
        start()

    async def all_done() -> bool:
        return await completed() == total

    try:
        await await_until(all_done, timeout=120, interval=0.2)
    finally:
        print(f"{kills} workers killed, all done in {time.monotonic() - started:.1f} s")
    assert sum([(await q.counts())["failed"] for q in queues]) == 0
    assert sum([(await q.counts())["pending"] for q in queues]) == 0
    steps = read_steps(exec_dir)
    _steps_in_order({c: runs for c, runs in steps.items() if c < chains}, chains)
    assert sorted(c for c in steps if c >= chains) == list(range(chains, chains + children))
    assert read_parents(exec_dir) == [(f"{QUEUES[0]}:{parent.id}", children)]
    for name in QUEUES:
        assert (await outbox_entries(redis_client, name)).entries == []
    assert kills >= 5
