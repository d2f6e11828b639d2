"""Chains and flows: order, results passed on, failure propagation, resume on retry."""

from __future__ import annotations

from typing import Any

import pytest

from engine import FlowJob, JobChain, JobContext, Queue, add_flow
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import await_until


async def test_chain_runs_in_order_and_passes_results(
    queue: Queue, start_worker: StartWorker
) -> None:
    seen: list[tuple[str, Any]] = []

    async def step(ctx: JobContext) -> int:
        seen.append((ctx.name, ctx.previous_result))
        return (ctx.previous_result or 0) + ctx.data["add"]

    jobs = await (
        JobChain(queue.redis)
        .add("test-queue", "step", {"add": 1})
        .add("other-queue", "step", {"add": 10})
        .add("test-queue", "step", {"add": 100})
        .execute()
    )
    assert [job.state for job in jobs] == ["waiting", "pending", "pending"]
    assert (await Queue("other-queue", queue.redis).counts())["pending"] == 1
    await start_worker({"step": step}, queues=["test-queue", "other-queue"], concurrency=4)
    last = await wait_for_state(Queue(jobs[2].queue, queue.redis), jobs[2].id, "completed")
    assert last.result == 111
    assert [value for _name, value in seen] == [None, 1, 11]


async def test_failed_step_fails_the_rest_and_retry_resumes(
    queue: Queue, start_worker: StartWorker
) -> None:
    attempts: dict[str, int] = {}

    async def step(ctx: JobContext) -> str:
        attempts[ctx.data["tag"]] = attempts.get(ctx.data["tag"], 0) + 1
        if ctx.data["tag"] == "b" and attempts["b"] == 1:
            raise RuntimeError("pdf unreadable")
        return ctx.data["tag"]

    _a, b, c, d = await (
        JobChain(queue.redis)
        .add("test-queue", "step", {"tag": "a"})
        .add("test-queue", "step", {"tag": "b"})
        .add("test-queue", "step", {"tag": "c"})
        .add("test-queue", "step", {"tag": "d"})
        .execute()
    )
    await start_worker({"step": step}, concurrency=2)
    await wait_for_state(queue, b.id, "failed")
    for later in (c, d):
        failed = await wait_for_state(queue, later.id, "failed")
        assert failed.error.startswith("dependency test-queue:")
        assert "failed" in failed.error
    assert "c" not in attempts and "d" not in attempts
    await queue.retry_job(b.id)
    done = await wait_for_state(queue, d.id, "completed")
    assert done.result == "d"
    assert attempts == {"a": 1, "b": 2, "c": 1, "d": 1}


async def test_flow_parent_gets_all_child_results(queue: Queue, start_worker: StartWorker) -> None:
    async def child(ctx: JobContext) -> int:
        return int(ctx.data["n"])

    async def parent(ctx: JobContext) -> int:
        return sum(ctx.dependency_results.values())

    children = [
        FlowJob("test-queue" if n % 2 else "other-queue", "child", {"n": n}) for n in range(500)
    ]
    jobs = await add_flow(queue.redis, FlowJob("test-queue", "parent", children=children))
    assert jobs[0].state == "pending" and len(jobs) == 501
    await start_worker(
        {"child": child, "parent": parent}, queues=["test-queue", "other-queue"], concurrency=50
    )
    done = await wait_for_state(queue, jobs[0].id, "completed", timeout=30)
    assert done.result == sum(range(500))


async def test_failing_child_fails_parent_unless_ignored(
    queue: Queue, start_worker: StartWorker
) -> None:
    async def parent(ctx: JobContext) -> dict[str, Any]:
        return ctx.dependency_results

    strict = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "parent",
            children=[
                FlowJob("test-queue", "echo", 1),
                FlowJob("test-queue", "fail", {"message": "bad row"}),
            ],
        ),
    )
    lenient = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "parent",
            children=[
                FlowJob("test-queue", "echo", 2),
                FlowJob("test-queue", "fail", {"message": "bad row"}, ignore_failure=True),
            ],
        ),
    )
    await start_worker({"parent": parent}, concurrency=4)
    failed = await wait_for_state(queue, strict[0].id, "failed")
    assert "dependency test-queue:" in (failed.error or "") and "bad row" in (failed.error or "")
    done = await wait_for_state(queue, lenient[0].id, "completed")
    assert sorted(map(str, done.result.values())) == ["2", "{'error': 'RuntimeError: bad row'}"]


async def test_cancelling_a_waiting_step_fails_the_steps_after_it(queue: Queue) -> None:
    first, second = (
        await JobChain(queue.redis).add("test-queue", "noop").add("test-queue", "noop").execute()
    )
    assert await queue.cancel(first.id) == "removed"
    failed = await queue.get_job(second.id)
    assert (
        failed is not None
        and failed.state == "failed"
        and "cancelled before it ran" in (failed.error or "")
    )


async def test_chain_is_created_all_or_nothing(queue: Queue) -> None:
    chain = JobChain(queue.redis).add("test-queue", "noop").add("bad{queue", "noop")
    with pytest.raises(ValueError, match="invalid queue name"):
        await chain.execute()
    assert await queue.redis.dbsize() == 0


async def test_next_step_on_the_same_queue_starts_at_once(
    queue: Queue, start_worker: StartWorker
) -> None:
    import time

    starts: list[float] = []

    async def step(ctx: JobContext) -> None:
        starts.append(time.monotonic())

    await start_worker({"step": step}, concurrency=4)
    last = (
        await JobChain(queue.redis)
        .add("test-queue", "step")
        .add("test-queue", "step")
        .add("test-queue", "step")
        .execute()
    )[-1]
    await wait_for_state(queue, last.id, "completed")
    # well under the worker's 2-second idle recheck: the release woke it
    assert starts[-1] - starts[0] < 1.0


async def test_draining_a_queue_fails_the_steps_waiting_on_it(queue: Queue) -> None:
    _first, second = (
        await JobChain(queue.redis).add("test-queue", "noop").add("other-queue", "noop").execute()
    )
    assert await queue.drain() == 1
    failed = await Queue("other-queue", queue.redis).get_job(second.id)
    assert (
        failed is not None
        and failed.state == "failed"
        and "drained before it ran" in (failed.error or "")
    )


async def _clean_the_child(queue: Queue) -> None:
    # a job added in the same millisecond is not older than a grace of 0
    cleaned = 0

    async def clean() -> bool:
        nonlocal cleaned
        cleaned += await queue.clean("waiting")
        return cleaned > 0

    await await_until(clean)
    assert cleaned == 1


async def test_cleaning_a_flows_only_child_settles_its_parent(queue: Queue) -> None:
    """clean("waiting") fails the parent of a child it deletes, as drain
    does, or lets it run when the child's failure is ignored."""
    strict = await add_flow(
        queue.redis, FlowJob("other-queue", "parent", children=[FlowJob("test-queue", "c")])
    )
    await _clean_the_child(queue)
    other = Queue("other-queue", queue.redis)
    failed = await other.get_job(strict[0].id)
    assert failed is not None and failed.state == "failed"
    assert "cleaned before it ran" in (failed.error or "")

    lenient = await add_flow(
        queue.redis,
        FlowJob(
            "other-queue", "parent", children=[FlowJob("test-queue", "c", ignore_failure=True)]
        ),
    )
    await _clean_the_child(queue)
    released = await other.get_job(lenient[0].id)
    assert released is not None and released.state == "waiting"
    assert (await other.counts())["pending"] == 0


async def test_a_parents_delay_starts_when_its_last_child_ends(
    queue: Queue, start_worker: StartWorker
) -> None:
    delay = 1500
    jobs = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "parent",
            options={"delay_ms": delay},
            children=[FlowJob("test-queue", "c")],
        ),
    )
    await start_worker({"c": lambda ctx: 1, "parent": lambda ctx: 2})
    child = await wait_for_state(queue, jobs[1].id, "completed")
    parent = await wait_for_state(queue, jobs[0].id, "delayed", timeout=1.0)
    due = await queue.redis.zscore(queue.keys.state("delayed"), parent.id)
    assert due == child.finished_ms + delay
    done = await wait_for_state(queue, parent.id, "completed", timeout=10)
    assert done.started_ms >= child.finished_ms + delay


async def test_removing_a_parent_removes_its_descendants_that_have_not_run(
    queue: Queue,
) -> None:
    other = Queue("other-queue", queue.redis)
    jobs = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "parent",
            children=[
                FlowJob("test-queue", "a"),
                FlowJob(
                    "other-queue",
                    "b",
                    children=[FlowJob("other-queue", "g", options={"delay_ms": 60_000})],
                ),
            ],
        ),
    )
    parent, a, b, g = jobs
    removal = await queue.remove_job(parent.id)
    assert (removal.state, removal.descendants) == ("pending", 3)
    assert await queue.get_job(a.id) is None
    assert await other.get_job(b.id) is None and await other.get_job(g.id) is None
    assert sum((await queue.counts()).values()) == 0
    assert sum((await other.counts()).values()) == 0
    stream = await other.redis.xrange(other.keys.events)
    removed = [fields["id"] for _sid, fields in stream if fields["ev"] == "job:removed"]
    assert sorted(removed) == sorted([b.id, g.id])


async def test_removing_a_parent_is_refused_while_a_descendant_runs(
    queue: Queue, start_worker: StartWorker
) -> None:
    import asyncio

    from engine.errors import InvalidStateError

    release = asyncio.Event()

    async def slow(ctx: JobContext) -> None:
        await release.wait()

    jobs = await add_flow(
        queue.redis,
        FlowJob(
            "test-queue",
            "parent",
            children=[
                FlowJob("other-queue", "b", children=[FlowJob("test-queue", "slow")]),
            ],
        ),
    )
    parent, b, running = jobs
    await start_worker({"slow": slow})
    await wait_for_state(queue, running.id, "active")
    with pytest.raises(InvalidStateError, match=f"test-queue:{running.id} is running"):
        await queue.remove(parent.id)
    assert (await queue.get_job(parent.id)).state == "pending"
    assert (await Queue("other-queue", queue.redis).get_job(b.id)).state == "pending"
    release.set()
    await wait_for_state(Queue("other-queue", queue.redis), b.id, "waiting")


async def test_removing_a_chains_last_step_removes_the_steps_not_run(queue: Queue) -> None:
    """A chain is a flow whose every job has one child: the step before."""
    first, second, last = (
        await JobChain(queue.redis)
        .add("test-queue", "noop")
        .add("other-queue", "noop")
        .add("test-queue", "noop")
        .execute()
    )
    removal = await queue.remove_job(last.id)
    assert (removal.state, removal.descendants) == ("pending", 2)
    assert await queue.get_job(first.id) is None
    assert await Queue("other-queue", queue.redis).get_job(second.id) is None
