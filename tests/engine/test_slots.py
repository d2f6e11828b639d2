"""The worker's slot account: its operations keep the invariant, the check
catches a broken account, and real workers pass it after every exchange
(with and without prefetch, at concurrency 1 and 50, through a stop that
hands jobs back)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio

from engine import Backoff, JobContext, ProcessorRegistry, Queue
from engine.contracts.worker import OutcomeKind
from engine.keys import QueueKeys
from engine.options import DEFAULT_OPTIONS
from engine.wire import Channel
from engine.worker.exchange import Exchange, PrefetchPolicy, QueueState
from engine.worker.runner import JobRunner
from engine.worker.slots import Outcome, RunningJob, Slots, SlotsError
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until

KEYS = QueueKeys("slots")


def _job(job_id: str, reserved: bool = False, keys: QueueKeys = KEYS) -> RunningJob:
    context = JobContext(
        job_id=job_id,
        queue=keys.name,
        name="noop",
        data=None,
        attempt=1,
        options=DEFAULT_OPTIONS,
        worker_id="w",
        _send=None,  # type: ignore[arg-type]
        _loop=None,  # type: ignore[arg-type]
    )
    job = RunningJob(keys, job_id, "t", "noop", DEFAULT_OPTIONS, 1, context)
    job.reserved = reserved
    return job


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_the_operations_keep_the_invariant() -> None:
    slots = Slots(concurrency=1, max_in_flight=2)
    slots.exchange_sent()
    slots.fetch_sent(want=2, start_now=1)
    slots.check(capacity=2)
    slots.fetch_answered(want=2, start_now=1)
    first, second = _job("1"), _job("2", reserved=True)
    slots.lease(first)
    slots.lease(second)
    slots.exchange_done()
    slots.check(capacity=2)
    started = slots.start_next()
    assert started is first and slots.start_next() is None  # one slot
    first.task = asyncio.ensure_future(_forever())
    slots.check(capacity=2)
    slots.finish(first, Outcome.of(first, OutcomeKind.COMPLETED, "null"))
    first.task.cancel()
    assert slots.start_next() is second
    second.task = asyncio.ensure_future(_forever())
    assert slots.has_report
    slots.check(capacity=2)
    # the start of a prefetched job is reported once, and not for a job that ended
    assert slots.take_notices(KEYS.name, []) == [second]
    slots.abandon(second)  # its lease is lost while it runs
    assert slots.held_count == 0 and slots.active == 1
    slots.check()
    slots.finish(second, None)
    second.task.cancel()
    assert [o.job for o in slots.take_outcomes()] == [first]
    slots.check()
    assert slots.idle


async def test_an_abandoned_run_ending_leaves_the_new_lease_of_its_job_held() -> None:
    # The lease of a running job was lost, and this same worker leased the
    # job again: when the abandoned run ends, the new lease must stay held
    # (else its heartbeat stops and it stalls).
    slots = Slots(concurrency=2, max_in_flight=2)
    old = _job("1")
    slots.lease(old)
    assert slots.start_next() is old
    old.task = asyncio.ensure_future(_forever())
    slots.abandon(old)
    new = _job("1")
    slots.lease(new)
    slots.finish(old, None)
    old.task.cancel()
    assert slots.get(KEYS.name, "1") is new
    slots.check()


async def test_the_check_catches_a_broken_account() -> None:
    slots = Slots(concurrency=2, max_in_flight=2)
    job = _job("1")
    slots.lease(job)
    slots.active += 1  # a slot counted without a job started
    with pytest.raises(SlotsError, match="active = 1"):
        slots.check()
    slots = Slots(concurrency=2, max_in_flight=2)
    slots.lease(job)
    slots.put_back([Outcome.of(job, OutcomeKind.COMPLETED, "null")])  # ended, yet held
    with pytest.raises(SlotsError, match="still held"):
        slots.check()
    slots = Slots(concurrency=2, max_in_flight=2)
    slots.fetch_sent(want=3, start_now=1)  # no exchange counted as sent
    with pytest.raises(SlotsError, match="no exchange in flight"):
        slots.check()
    slots.exchange_sent()
    with pytest.raises(SlotsError, match="capacity 2"):
        slots.check(capacity=2)


@pytest.mark.parametrize("concurrency", [1, 50])
@pytest.mark.parametrize("prefetch", [0, 2, None])
async def test_workers_keep_the_account_through_runs_and_a_stop(
    queue: Queue, start_worker: StartWorker, concurrency: int, prefetch: int | None
) -> None:
    release = asyncio.Event()

    async def gate(ctx: JobContext) -> None:
        await release.wait()

    async def flaky(ctx: JobContext) -> None:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    worker = await start_worker(
        {"gate": gate, "flaky": flaky},
        concurrency=concurrency,
        prefetch=prefetch,
        shutdown_grace_ms=200,
    )
    await queue.add_bulk([("noop", None)] * 150)
    for _ in range(10):
        await queue.add("flaky", attempts=2, backoff=Backoff(type="fixed", delay_ms=0))
    await queue.add("fail", "for good")

    async def all_ended() -> bool:
        counts = await queue.counts()
        return counts["completed"] == 160 and counts["failed"] == 1

    await await_until(all_ended, timeout=30, message="the jobs did not all end")
    assert worker.slots.checks > 0
    # a stop while jobs run and others wait leased behind them: all go back
    gated = await queue.add_bulk([("gate", None)] * (concurrency + 3))

    async def all_leased() -> bool:
        return worker.slots.active == min(concurrency, len(gated))

    await await_until(all_leased, timeout=10, message="the gate jobs did not start")
    checks = worker.slots.checks
    worker.request_stop()
    await await_until(lambda: worker.slots.idle, timeout=10, message="the stop did not end")
    assert worker.slots.checks > checks  # the hand-back went out in checked exchanges
    for job_id in gated:
        await wait_for_state(queue, job_id, "waiting")
    release.set()


async def test_an_exchange_never_asks_for_fewer_than_no_jobs(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    # Auto prefetch turned off (long jobs) while prefetched jobs are held:
    # more jobs are held than slots exist. An outcome still goes out, and
    # its call must ask for no jobs, not for a negative number (which made
    # the account count slots that are not there, and a concurrent fetch
    # lease beyond them).
    slots = Slots(concurrency=2, max_in_flight=2)
    policy = PrefetchPolicy(concurrency=2, prefetch=None)
    policy.note_run_time(1.0)
    assert policy.now == 0
    held = [_job(str(i), reserved=True, keys=queue.keys) for i in range(3)]
    for job in held:
        slots.lease(job)
    ended = _job("9", keys=queue.keys)
    slots.put_back([Outcome.of(ended, OutcomeKind.COMPLETED, "null")])
    pool = ThreadPoolExecutor(1)
    runner = JobRunner(
        worker_id="w",
        redis=redis_client,
        processors=ProcessorRegistry(),
        pool=pool,
        ended=lambda *_: None,
        lease_lost=lambda *_: None,
    )
    channel = Channel(redis_client)
    reported: list[bool] = []
    exchange = Exchange(
        worker_id="w",
        lease_ms=30_000,
        queues=[QueueState.of(queue.keys)],
        channel=channel,
        slots=slots,
        policy=policy,
        runner=runner,
        launch=lambda: None,
        reported=lambda _outcome, lost: reported.append(lost),
        check_slots=True,
    )
    try:
        await exchange.run()
    finally:
        await channel.close()
        pool.shutdown()
    assert reported == [True]  # sent (and refused: that job was never leased)
    assert slots.reserved == slots.starting == 0 and slots.held_count == 3
