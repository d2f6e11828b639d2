"""``schedule add|list|remove``, ``jobs init|list|clean`` and ``scheduler`` against a real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from engine.schedules import definition_prefix, due_key
from messai_console.jobs.scheduled import SCHEDULED_TASKS
from tests.console.conftest import Cli, console_process
from tests.helpers import wait_until

SCHEDULE_KEYS = {
    "name",
    "queue",
    "job",
    "cron",
    "tz",
    "every_ms",
    "next_fire",
    "last_fire",
    "count",
    "ended",
}


def test_schedule_add_list_remove(cli: Cli, redis_url: str) -> None:
    result = cli(
        "schedule",
        "add",
        "nightly",
        "--queue",
        "reports",
        "--job",
        "echo",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
        "--data",
        '{"x": 1}',
    )
    assert result.exit_code == 0, result.output
    assert "schedule nightly created" in result.stdout
    listed = json.loads(cli("schedule", "list", "--json").stdout)
    assert len(listed) == 1 and set(listed[0]) >= SCHEDULE_KEYS
    assert (
        listed[0]["next_fire"]["local"][11:16] == "02:30"
        or listed[0]["next_fire"]["local"][11:16] == "03:00"
    )
    assert listed[0]["data"] == {"x": 1}
    again = cli(
        "schedule", "add", "nightly", "--queue", "reports", "--job", "echo", "--every", "10m"
    )
    assert "schedule nightly updated" in again.stdout
    [replaced] = json.loads(cli("schedule", "list", "--json").stdout)
    assert replaced["cron"] is None and replaced["every_ms"] == 600_000
    assert cli("schedule", "remove", "nightly").exit_code == 0
    gone = cli("schedule", "remove", "nightly")
    assert gone.exit_code == 1 and "no schedule named 'nightly'" in gone.stderr
    with redis.Redis.from_url(redis_url) as client:
        assert client.zcard(due_key()) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "61 * * * *"], "invalid cron"),
        (["--cron", "0 6 * * *", "--tz", "Moon/Base"], "unknown time zone"),
    ],
)
def test_bad_schedule_is_refused_and_nothing_written(
    cli: Cli, redis_url: str, args: list[str], message: str
) -> None:
    result = cli("schedule", "add", "bad", "--queue", "q", "--job", "echo", *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_cron_and_every_are_exclusive(cli: Cli) -> None:
    result = cli(
        "schedule",
        "add",
        "x",
        "--queue",
        "q",
        "--job",
        "echo",
        "--cron",
        "* * * * *",
        "--every",
        "1m",
    )
    assert result.exit_code == 2


def test_jobs_init_list_clean(cli: Cli, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAI_TIMEZONE", "Europe/Berlin")
    result = cli("jobs", "init")
    assert result.exit_code == 0
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        task.name for task in SCHEDULED_TASKS
    ]
    listed = json.loads(cli("jobs", "list", "--json").stdout)
    assert {item["name"] for item in listed} == {task.name for task in SCHEDULED_TASKS}
    assert all(
        item["tz"] == "Europe/Berlin" and item["queue"] == "scheduled-tasks" for item in listed
    )
    cli("schedule", "add", "mine", "--queue", "q", "--job", "echo", "--every", "1h")
    assert "removed 4 scheduled tasks" in cli("jobs", "clean").stdout
    assert [item["name"] for item in json.loads(cli("schedule", "list", "--json").stdout)] == [
        "mine"
    ]
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert not client.exists(definition_prefix() + "daily_report")


def test_scheduler_command_fires_and_stops_on_sigterm(
    cli: Cli, redis_url: str, tmp_path: Path
) -> None:
    cli(
        "schedule",
        "add",
        "tick",
        "--queue",
        "ticks",
        "--job",
        "noop",
        "--every",
        "200ms",
        "--limit",
        "3",
    )
    env = {**os.environ, "INIT_SCHEDULED_JOBS": "false"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "messai-console"),
            "--redis-url",
            redis_url,
            "scheduler",
            "--poll-ms",
            "50",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            # default-priority jobs wait in the queue's list (engine/keys.py)
            wait_until(lambda: client.llen("messai:{ticks}:waiting:list") == 3, timeout=20)
            assert not client.exists(
                "messai:{scheduled-tasks}:waiting", "messai:{scheduled-tasks}:waiting:list"
            )
            assert (
                client.scard("messai:{schedules}:names") == 1
            )  # INIT_SCHEDULED_JOBS=false: nothing added
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "scheduler stopped after firing 3 ticks" in stderr


def test_job_add_applies_the_catalog_defaults_under_the_operators_options(cli: Cli) -> None:
    added = json.loads(
        cli("job", "add", "ml-training", "prediction", "--data", "{}", "--json").stdout
    )
    assert added["options"]["priority"] == 10  # ml-training runs at low priority by default
    mine = json.loads(
        cli(
            "job",
            "add",
            "ml-training",
            "prediction",
            "--data",
            "{}",
            "--priority",
            "high",
            "--json",
        ).stdout
    )
    assert mine["options"]["priority"] == 1


def test_worker_with_scheduler_fires_and_runs_the_jobs(cli: Cli, redis_url: str) -> None:
    cli(
        "schedule",
        "add",
        "ping",
        "--queue",
        "pings",
        "--job",
        "echo",
        "--data",
        '"pong"',
        "--every",
        "300ms",
        "--limit",
        "2",
    )
    with (
        console_process(
            redis_url,
            "worker",
            "--queue",
            "pings",
            "--with-scheduler",
            "--quiet",
        ) as process,
        redis.Redis.from_url(redis_url, decode_responses=True) as client,
    ):
        wait_until(lambda: client.zcard("messai:{pings}:completed") == 2, timeout=30)
    assert process.returncode == 0


def test_schedule_add_refuses_an_end_that_has_passed(cli: Cli) -> None:
    result = cli(
        "schedule", "add", "late", "--queue", "q", "--job", "echo", "--every", "1m",
        "--end", "2020-01-01T00:00",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "has passed" in result.output
    assert json.loads(cli("schedule", "list", "--json").stdout) == []


def test_schedule_add_takes_a_six_field_cron_with_seconds(cli: Cli) -> None:
    result = cli(
        "schedule", "add", "precise", "--queue", "q", "--job", "echo",
        "--cron", "15 30 2 * * *", "--tz", "Europe/Berlin", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["result"] == "created" and described["cron"] == "15 30 2 * * *"
    assert described["next_fire"]["local"][11:19] in ("02:30:15", "03:00:15")
    refused = cli(
        "schedule", "add", "bad", "--queue", "q", "--job", "echo", "--cron", "61 * * * * *"
    )  # fmt: skip
    assert refused.exit_code == 1 and "invalid" in refused.stderr
