"""``queue list|stats|pause|resume|drain|clean|obliterate`` against a real Redis."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from engine.context import JobContext
from engine.sync import SyncQueue
from tests.console.conftest import Cli, ThreadWorker
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]


def test_queue_list_json_has_every_queue_with_its_counts(cli: Cli, sync_queue: MakeQueue) -> None:
    sync_queue("alpha").add("echo")
    beta = sync_queue("beta")
    beta.add("echo", delay_ms=60_000)
    beta.pause()
    result = cli("queue", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "alpha",
            "waiting": 1,
            "active": 0,
            "delayed": 0,
            "completed": 0,
            "failed": 0,
            "pending": 0,
            "paused": False,
        },
        {
            "name": "beta",
            "waiting": 0,
            "active": 0,
            "delayed": 1,
            "completed": 0,
            "failed": 0,
            "pending": 0,
            "paused": True,
        },
    ]
    table = cli("queue", "list")
    assert table.exit_code == 0
    assert "alpha" in table.stdout and "beta" in table.stdout and "yes" in table.stdout


def test_pause_then_resume(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    queue.add("echo")
    result = cli("queue", "pause", "q")
    assert result.exit_code == 0 and "paused" in result.stdout
    assert queue.is_paused()
    assert json.loads(cli("queue", "stats", "q", "--json").stdout)["paused"] is True
    result = cli("queue", "resume", "q")
    assert result.exit_code == 0 and "resumed" in result.stdout
    assert not queue.is_paused()


def test_drain_is_refused_off_a_terminal_without_yes(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    for n in range(3):
        queue.add("echo", {"n": n})
    queue.add("echo", delay_ms=60_000)
    result = cli("queue", "drain", "q")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: refusing to remove the 4 waiting and delayed jobs of queue 'q' without --yes "
        "(stdin is not a terminal)"
    ]
    assert queue.counts()["waiting"] == 3 and queue.counts()["delayed"] == 1

    result = cli("queue", "drain", "q", "--yes")
    assert result.exit_code == 0
    assert "removed 4 waiting and delayed jobs" in result.stdout
    assert queue.counts()["waiting"] == 0 and queue.counts()["delayed"] == 0


def test_clean_deletes_only_jobs_older_than_the_grace(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    queue.add_bulk([("echo", {"n": n}) for n in range(5)])
    refused = cli("queue", "clean", "q", "--state", "waiting")
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert queue.counts()["waiting"] == 5

    young = cli("queue", "clean", "q", "--state", "waiting", "--grace", "1h", "--yes")
    assert young.exit_code == 0 and "deleted 0 waiting jobs" in young.stdout
    assert queue.counts()["waiting"] == 5

    limited = cli("queue", "clean", "q", "--state", "waiting", "--limit", "2", "--yes")
    assert limited.exit_code == 0 and "deleted 2 waiting jobs" in limited.stdout
    assert queue.counts()["waiting"] == 3

    rest = cli("queue", "clean", "q", "-s", "waiting", "-y")
    assert rest.exit_code == 0 and "deleted 3 waiting jobs" in rest.stdout
    assert queue.counts()["waiting"] == 0


def test_clean_rejects_a_state_it_cannot_clean(cli: Cli, sync_queue: MakeQueue) -> None:
    sync_queue("q").add("echo")
    result = cli("queue", "clean", "q", "--state", "active", "--yes")
    assert result.exit_code == 2


def test_obliterate_deletes_every_key_of_the_queue(
    cli: Cli, sync_queue: MakeQueue, redis_url: str
) -> None:
    sync_queue("doomed").add_bulk([("echo", None)] * 3)
    sync_queue("kept").add("echo")
    for name, queue in (("feeds-doomed", "doomed"), ("feeds-kept", "kept")):
        added = cli("schedule", "add", name, "--queue", queue, "--job", "echo", "--every", "1h")
        assert added.exit_code == 0, added.output
    assert cli("queue", "obliterate", "doomed").exit_code == 1
    result = cli("queue", "obliterate", "doomed", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "removed 1 schedule" in result.stdout
    listed = json.loads(cli("schedule", "list", "--json").stdout)
    assert [item["name"] for item in listed] == ["feeds-kept"]
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert not [key for key in client.keys("*") if "{doomed}" in key]
        assert client.smembers("messai:queues") == {"kept"}
    assert cli("queue", "stats", "doomed").exit_code == 1


def test_obliterate_refuses_running_jobs_unless_forced(
    cli: Cli, sync_queue: MakeQueue, thread_worker: Callable[..., ThreadWorker]
) -> None:
    release = threading.Event()

    def hold(ctx: JobContext) -> None:
        release.wait(10)

    queue = sync_queue("busy")
    job = queue.add("hold")
    thread_worker(["busy"], {"hold": hold})
    try:
        wait_until(lambda: queue.counts()["active"] == 1)
        refused = cli("queue", "obliterate", "busy", "--yes")
        assert refused.exit_code == 1 and "active" in refused.stderr
        assert queue.get_job(job.id) is not None
        forced = cli("queue", "obliterate", "busy", "--yes", "--force")
        assert forced.exit_code == 0, forced.stderr
        assert queue.get_job(job.id) is None
    finally:
        release.set()


QUEUE_SCOPED: list[list[str]] = [
    ["queue", "stats", "nope"],
    ["queue", "pause", "nope"],
    ["queue", "resume", "nope"],
    ["queue", "drain", "nope", "--yes"],
    ["queue", "clean", "nope", "--state", "failed", "--yes"],
    ["queue", "obliterate", "nope", "--yes", "--force"],
    ["job", "get", "nope", "1"],
    ["job", "list", "nope", "--status", "waiting"],
    ["job", "retry", "nope", "1"],
    ["job", "retry", "nope", "--all-failed", "--yes"],
    ["job", "cancel", "nope", "1"],
    ["job", "remove", "nope", "1"],
    ["job", "promote", "nope", "1"],
    ["job", "logs", "nope", "1"],
    ["job", "wait", "nope", "1", "--timeout", "1s"],
    ["events", "--queue", "nope"],
    ["performance", "--queue", "nope"],
]


@pytest.mark.parametrize("args", QUEUE_SCOPED, ids=lambda args: " ".join(args[:2]))
def test_unknown_queue_exits_1_and_changes_nothing(
    cli: Cli, sync_queue: MakeQueue, redis_url: str, args: list[str]
) -> None:
    sync_queue("real").add("echo")
    with redis.Redis.from_url(redis_url) as client:
        before: dict[Any, Any] = {key: client.type(key) for key in client.keys("*")}
        result = cli(*args)
        after = {key: client.type(key) for key in client.keys("*")}
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no queue named 'nope'"
    assert after == before


def test_rate_limit_and_concurrency_are_set_shown_and_cleared(
    cli: Cli, sync_queue: MakeQueue
) -> None:
    queue = sync_queue("limited")
    queue.add("echo")

    def stats() -> dict[str, Any]:
        result = cli("queue", "stats", "limited", "--json")
        assert result.exit_code == 0, result.stderr
        return dict(json.loads(result.stdout))

    assert stats()["rate_limit"] is None and stats()["global_concurrency"] is None
    limited = cli("queue", "limit", "limited", "--max", "10", "--per", "2s")
    assert limited.exit_code == 0, limited.stderr
    assert "10 per 2.0s" in limited.stdout
    capped = cli("queue", "concurrency", "limited", "3")
    assert capped.exit_code == 0, capped.stderr
    assert stats()["rate_limit"] == {"max": 10, "per_ms": 2000}
    assert stats()["global_concurrency"] == 3
    table = cli("queue", "stats", "limited").stdout
    assert "rate limit" in table and "10 per 2.0s" in table and "global concurrency" in table
    assert cli("queue", "limit", "limited", "--clear").exit_code == 0
    assert cli("queue", "concurrency", "limited", "--clear").exit_code == 0
    assert stats()["rate_limit"] is None and stats()["global_concurrency"] is None


@pytest.mark.parametrize(
    "args",
    [
        ["queue", "limit", "limited"],
        ["queue", "limit", "limited", "--max", "5", "--clear"],
        ["queue", "limit", "limited", "--max", "0"],
        ["queue", "limit", "limited", "--max", "5", "--per", "soon"],
        ["queue", "concurrency", "limited"],
        ["queue", "concurrency", "limited", "0"],
        ["queue", "concurrency", "limited", "2", "--clear"],
    ],
)
def test_limit_and_concurrency_refuse_bad_arguments(
    cli: Cli, sync_queue: MakeQueue, args: list[str]
) -> None:
    sync_queue("limited").add("echo")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert json.loads(cli("queue", "stats", "limited", "--json").stdout)["rate_limit"] is None


def test_stats_counts_waiting_jobs_per_priority(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("prio")
    queue.add_bulk([("echo", None)] * 3)
    for priority, count in ((1, 2), (10, 4), (0, 1)):
        for _ in range(count):
            queue.add("echo", priority=priority)
    queue.add("echo", priority=7, delay_ms=60_000)
    result = cli("queue", "stats", "prio", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["waiting_by_priority"] == {"0": 1, "1": 2, "5": 3, "10": 4}
    assert "waiting, priority 10" in cli("queue", "stats", "prio").stdout
