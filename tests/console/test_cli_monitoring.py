"""``overview``, ``events`` and ``performance`` against a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.keys import STATES
from engine.sync import SyncQueue
from messai_console.cli.monitor.performance import p95
from tests.console.conftest import Cli, ThreadWorker
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]
StartWorker = Callable[..., ThreadWorker]
EVENT_KEYS = {"queue", "id", "ts", "event", "job_id", "fields"}
SUMMARY_KEYS = {
    "completed",
    "failed",
    "throughput_per_min",
    "mean_run_time_ms",
    "p95_run_time_ms",
    "p95_sample",
}


def test_overview_json(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker, redis_url: str
) -> None:
    first = sync_queue("first")
    first.add_bulk([("echo", None)] * 3)
    second = sync_queue("second")
    second.add("echo", delay_ms=60_000)
    second.pause()
    thread_worker(["first"])
    wait_until(lambda: first.counts()["completed"] == 3)
    result = cli("overview", "--json")
    assert result.exit_code == 0, result.stderr
    overview = json.loads(result.stdout)
    assert set(overview) == {"queues", "paused_queues", "jobs", "workers", "redis", "nodes"}
    assert [node["role"] for node in overview["nodes"]] == ["master"]
    assert overview["queues"] == 2 and overview["paused_queues"] == 1
    assert overview["jobs"] == dict.fromkeys(STATES, 0) | {"completed": 3, "delayed": 1}
    assert overview["workers"]["online"] == 1
    assert set(overview["workers"]) == {"online", "silent", "running", "concurrency"}
    assert set(overview["redis"]) >= {
        "url",
        "version",
        "used_memory_human",
        "connected_clients",
        "ops_per_sec",
        "persistence",
        "maxmemory_policy",
        "warnings",
    }
    assert overview["redis"]["url"] == redis_url
    # The test server keeps no append-only file: the warning is printed too.
    table = cli("overview")
    assert table.exit_code == 0 and "workers online" in table.stdout
    assert "warning: append-only file is off" in table.stderr


def test_overview_never_shows_the_password(redis_factory: object) -> None:
    from typer.testing import CliRunner

    from messai_console.cli import app

    server = redis_factory(password="s3cret-pw")  # type: ignore[operator]
    url = f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"
    for args in (["overview", "--json"], ["overview"]):
        result = CliRunner().invoke(app, ["--redis-url", url, *args])
        assert result.exit_code == 0, result.stderr
        assert "s3cret-pw" not in result.stdout + result.stderr
    assert (
        json.loads(CliRunner().invoke(app, ["--redis-url", url, "overview", "--json"]).stdout)[
            "redis"
        ]["url"]
        == f"redis://:***@127.0.0.1:{server.port}/0"
    )


def test_events_history_filters_and_since(cli: Cli, sync_queue: MakeQueue) -> None:
    one, two = sync_queue("one"), sync_queue("two")
    a = one.add("echo")
    b = two.add("echo")
    one.pause()
    result = cli("events", "--json")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(event) == EVENT_KEYS for event in events)
    # Oldest first; the order of two queues' events within one millisecond is unknowable.
    assert [order(e["id"]) for e in events] == sorted(order(e["id"]) for e in events)
    assert [(e["event"], e["job_id"]) for e in events if e["queue"] == "one"] == [
        ("job:added", a.id),
        ("queue:paused", None),
    ]
    assert [(e["event"], e["job_id"]) for e in events if e["queue"] == "two"] == [
        ("job:added", b.id)
    ]
    assert events[0]["fields"]["n"] == "echo"

    only_two = cli("events", "--queue", "two", "--json")
    assert [json.loads(line)["queue"] for line in only_two.stdout.splitlines()] == ["two"]
    since = events[0]["id"]
    after_first = cli("events", "--since", since, "--json")
    assert [json.loads(line)["id"] for line in after_first.stdout.splitlines()] == [
        e["id"] for e in events if order(e["id"]) > order(since)
    ]
    latest = cli("events", "--limit", "1")
    assert latest.exit_code == 0 and len(latest.stdout.splitlines()) == 1
    newest = max(order(e["id"]) for e in events)
    assert order(latest.stdout.split()[2]) == newest
    assert cli("events", "--since", "yesterday").exit_code == 2


def order(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


@pytest.fixture
def follower(redis_url: str) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``messai-console events --follow ...`` as a process; killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "messai_console.cli", "--redis-url", redis_url, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.communicate(timeout=10)


def test_events_follow_prints_new_events_of_new_queues(
    sync_queue: MakeQueue, follower: Callable[..., subprocess.Popen[str]]
) -> None:
    old = sync_queue("old")
    first = old.add("echo")
    process = follower("events", "--follow", "--since", "0", "--json")
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["job_id"] == first.id  # history from 0
    later = sync_queue("later-queue").add("echo")  # a queue created while following
    event = json.loads(process.stdout.readline())
    assert (event["queue"], event["event"], event["job_id"]) == (
        "later-queue",
        "job:added",
        later.id,
    )
    assert process.poll() is None


def test_performance_counts_rates_and_run_times(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    fast, slow = sync_queue("fast"), sync_queue("slow")
    fast.add_bulk([("echo", {"n": n}) for n in range(6)])
    fast.add("fail", {"message": "no"}, attempts=1)
    slow.add_bulk([("sleep", {"ms": 20})] * 2)
    thread_worker(["fast", "slow"], concurrency=4)
    wait_until(lambda: fast.counts()["failed"] == 1 and fast.counts()["completed"] == 6)
    wait_until(lambda: slow.counts()["completed"] == 2)

    result = cli("performance", "--range", "hour", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"range", "minutes", "since_ms", "until_ms", "queues", "total", "series"}
    assert report["range"] == "hour" and report["minutes"] == 60 and len(report["series"]) == 60
    by_queue = {row.pop("queue"): row for row in report["queues"]}
    assert set(by_queue["fast"]) == SUMMARY_KEYS
    assert (by_queue["fast"]["completed"], by_queue["fast"]["failed"]) == (6, 1)
    assert by_queue["fast"]["throughput_per_min"] == round(7 / 60, 3)
    assert by_queue["slow"]["p95_sample"] == 2
    assert by_queue["slow"]["p95_run_time_ms"] >= 20
    assert by_queue["slow"]["mean_run_time_ms"] >= 20
    assert report["total"]["completed"] == 8 and report["total"]["p95_sample"] == 9
    assert sum(point["completed"] for point in report["series"]) == 8

    week = json.loads(cli("performance", "--range", "week", "--queue", "slow", "--json").stdout)
    assert [row["queue"] for row in week["queues"]] == ["slow"] and week["minutes"] == 10080
    table = cli("performance", "--range", "day")
    assert table.exit_code == 0 and "all queues" in table.stdout
    assert cli("performance", "--range", "month").exit_code == 2


def test_p95_is_the_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([7]) == 7
    assert p95(list(range(1, 101))) == 95
    assert p95(list(range(1, 21))) == 19
