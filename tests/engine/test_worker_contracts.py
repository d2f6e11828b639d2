"""The worker's script contracts: requests pack in header order, replies
parse into named fields, and a fetched job reads by the job-hash legend."""

from __future__ import annotations

import redis.asyncio

from engine import Queue
from engine.contracts.base import call
from engine.contracts.worker import (
    FetchReply,
    FetchRequest,
    FinishReply,
    FinishRequest,
    HeartbeatReply,
    OutcomeArgs,
    OutcomeKind,
    StartedNotice,
    SweepReply,
    WorkerBeatRequest,
    WorkerDetail,
    worker_beat_keys,
)
from engine.scripts import scripts


def test_finish_packs_its_groups_after_their_counts() -> None:
    outcome = OutcomeArgs("7", "t:1", OutcomeKind.RETRY, "boom", "stack", 12, 500, "", 0, 2, True)
    request = FinishRequest(
        "w", 30000, 4, "t:2", 1, "-1:-1", "-1:-1", (StartedNotice("5", "t:0"),), (outcome,)
    )
    assert request.full_argv("p:") == [
        "p:",
        "w",
        30000,
        4,
        "t:2",
        1,
        "-1:-1",
        "-1:-1",
        1,
        "5",
        "t:0",
        1,
        "7",
        "t:1",
        OutcomeKind.RETRY,
        "boom",
        "stack",
        12,
        500,
        "",
        0,
        2,
        "1",
    ]
    assert request.argv() == request.full_argv("p:")[1:]
    empty = FinishRequest("w", 30000, 4, "t:2", 1, "-1:-1", "-1:-1", (), ())
    assert empty.argv() == ["w", 30000, 4, "t:2", 1, "-1:-1", "-1:-1", 0, 0]


def test_replies_parse_into_named_fields() -> None:
    job = ["9", "send", '{"a": 1}', "", "2", "", "1795996050374.123", "1", "1", "r", ["q:1", "3"]]
    fetched = FetchReply.parse(["limited:250", "-1", "1000", *job])
    assert fetched.status == "limited:250" and fetched.limited_ms == 250
    assert fetched.next_due_ms == -1 and fetched.server_ms == 1000
    (only,) = fetched.jobs
    assert (only.job_id, only.name, only.data, only.options) == ("9", "send", '{"a": 1}', "")
    assert (only.attempts, only.stalls, only.has_dependents, only.released) == (2, 0, True, True)
    assert list(only.results) == ["q:1", "3"]
    finished = FinishReply.parse(["ok", "5", "1000", "2", "3", "4", *job])
    assert finished.lost == {"3", "4"} and finished.fetched.jobs == fetched.jobs
    assert finished.fetched.limited_ms is None
    assert HeartbeatReply.parse(["1", "|", "2", "3"]) == HeartbeatReply(("1",), ("2", "3"))
    assert SweepReply.parse([0, 0, 0, 0]).swept is False


async def test_a_fetched_job_reads_by_the_legend(
    queue: Queue, redis_client: redis.asyncio.Redis
) -> None:
    added = await queue.add("echo", {"x": 1}, attempts=3)
    reply = FetchReply.parse(
        await call(redis_client, queue.keys, FetchRequest("w", 30000, 1, "t", 1))
    )
    (job,) = reply.jobs
    assert (job.job_id, job.name, job.data) == (added.id, "echo", '{"x":1}')
    assert '"attempts":3' in job.options and job.attempts == 0 and not job.has_dependents


async def test_worker_beat_lists_and_removes_the_worker(redis_client: redis.asyncio.Redis) -> None:
    keys = worker_beat_keys("messai", "w-1")
    details = (WorkerDetail("host", "h"), WorkerDetail("pid", 42))
    beat = WorkerBeatRequest(False, 30, "w-1", details)
    await scripts().worker_beat(redis_client, keys, beat.full_argv("messai"))
    assert await redis_client.zscore(keys[0], "w-1") is not None
    stored = await redis_client.hgetall(keys[1])
    assert stored["host"] == "h" and stored["pid"] == "42" and "beat" in stored
    gone = WorkerBeatRequest(True, 30, "w-1", ())
    await scripts().worker_beat(redis_client, keys, gone.full_argv("messai"))
    assert await redis_client.zscore(keys[0], "w-1") is None
    assert not await redis_client.exists(keys[1])
