"""Worker processes that die: SIGKILL mid-job, and a job that kills every worker."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio

from engine import Queue
from engine.events import read_history
from tests.helpers import await_until
from tests.reliability.processors import read_executions
from tests.reliability.workers import WorkerPool, WorkerProcess, wait_for_state

Q = "reliability"


async def _released(client: redis.asyncio.Redis, queue: Queue, job_id: str) -> int:
    """Times a sweep put ``job_id`` back from a dead worker that had
    prefetched it and not yet said it started it."""
    # the whole stream (capped at 10,000 entries): read_history's default page
    # of the oldest 1,000 missed a release late in a run of 600 jobs
    return sum(
        1
        for event in await read_history(client, queue.keys, count=100_000)
        if event.name == "job:waiting"
        and event.job_id == job_id
        and event.fields.get("reason") == "released"
    )


async def test_job_of_a_killed_worker_is_completed_by_another(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    queue = Queue(Q, redis_client)
    job = await queue.add("slow", {"ms": 5000})
    first = workers.start(redis_url, Q)
    await await_until(lambda: first.has_line(job.id, "active"), message="job never started")
    await await_until(lambda: read_executions(exec_dir, "start")[job.id] == 1)
    assert (await queue.require_job(job.id)).state == "active"

    first.kill()
    assert read_executions(exec_dir, "end")[job.id] == 0, "the job finished before the kill"
    (exec_dir / "fast").touch()  # the second run need not take 5 s again
    second = workers.start(redis_url, Q)

    done = await wait_for_state(queue, job.id, "completed")
    assert done.stalls == 1
    assert done.attempts_made == 1  # a stall does not spend an attempt
    # The worker prints its line just after Redis recorded the outcome.
    await await_until(lambda: second.has_line(job.id, "completed"))
    assert read_executions(exec_dir, "start")[job.id] == 2
    assert read_executions(exec_dir, "end")[job.id] == 1
    stalled = [
        event
        for event in await read_history(redis_client, queue.keys)
        if event.name == "job:stalled" and event.job_id == job.id
    ]
    assert len(stalled) == 1
    assert stalled[0].fields.get("stalls") == "1"


async def test_poison_pill_fails_after_max_stalled_while_other_jobs_complete(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    queue = Queue(Q, redis_client)
    # Concurrency 1: a worker killed by the pill holds no other job, so the
    # other jobs are never collateral stalls (with max_stalled=1, a job on
    # two dying workers would fail too, by design).
    before = await queue.add_bulk([("count", {"ms": 20})] * 100)
    pill = await queue.add("suicide")
    after = await queue.add_bulk([("count", {"ms": 20})] * 100)
    others = set(before) | set(after)

    def start() -> WorkerProcess:
        return workers.start(redis_url, Q, concurrency=1, max_stalled=1, wait=False)

    live = [start(), start()]

    async def pill_failed() -> bool:
        # Replace the workers that the pill killed, as a supervisor would.
        for i, worker in enumerate(live):
            if not worker.alive():
                live[i] = start()
        job = await queue.require_job(pill.id)
        return job.state == "failed"

    await await_until(
        pill_failed, timeout=40, interval=0.05, message="the poison pill never failed"
    )
    failed = await queue.require_job(pill.id)
    assert failed.error is not None and "stalled" in failed.error
    assert failed.stalls == 2
    # It ran once per allowed stall plus the last one, and killed a worker each
    # time; a prefetched pill can kill its worker before the worker says it
    # started it: then it went back released, not stalled, and its next run
    # was isolated and counted (at most one such run: --max-stalled + 2).
    released = await _released(redis_client, queue, pill.id)
    assert released <= 1
    assert read_executions(exec_dir)[pill.id] == 2 + released

    def deaths() -> int:
        return sum(not worker.alive() for worker in workers.workers)

    await await_until(lambda: deaths() == 2 + released)

    async def others_done() -> bool:
        return (await queue.counts())["completed"] == len(others)

    await await_until(others_done, timeout=30, message="the other jobs did not all complete")
    counts = await queue.counts()
    assert counts["failed"] == 1
    assert counts["waiting"] == counts["active"] == counts["delayed"] == 0
    executions = read_executions(exec_dir)
    assert {job_id: executions[job_id] for job_id in others} == dict.fromkeys(others, 1)
    assert deaths() == 2 + released, "a worker died of something else than the pill"


async def test_a_poison_pill_among_busy_neighbours_fails_alone(
    redis_url: str, redis_client: redis.asyncio.Redis, workers: WorkerPool, exec_dir: Path
) -> None:
    # Concurrency 4 and the default --max-stalled 1: the jobs running beside
    # the pill when it kills its worker count a stall too, but a job back from
    # a stall runs alone, so none of them can be beside the pill again.
    queue = Queue(Q, redis_client)
    before = await queue.add_bulk([("count", {"ms": 10})] * 300)
    pill = await queue.add("suicide")
    after = await queue.add_bulk([("count", {"ms": 10})] * 300)
    others = set(before) | set(after)

    def start() -> WorkerProcess:
        return workers.start(redis_url, Q, concurrency=4, max_stalled=1, wait=False)

    live = [start(), start(), start()]

    async def settled() -> bool:
        for i, worker in enumerate(live):
            if not worker.alive():
                live[i] = start()
        counts = await queue.counts()
        return counts["completed"] + counts["failed"] == len(others) + 1

    await await_until(settled, timeout=90, interval=0.05, message="the jobs did not all end")
    failed = await queue.get_jobs("failed", 0, -1)
    assert [job.id for job in failed] == [pill.id], [(job.id, job.error) for job in failed]
    assert (await queue.require_job(pill.id)).stalls == 2
    released = await _released(redis_client, queue, pill.id)
    assert released <= 1  # see the test above
    assert read_executions(exec_dir)[pill.id] == 2 + released
