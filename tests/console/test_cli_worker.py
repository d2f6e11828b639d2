"""``messai-console worker`` refuses options it cannot run with, in one line, and
keeps finished jobs as ``--keep-completed`` / ``--keep-failed`` say."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from engine.options import Keep
from engine.sync import SyncQueue
from tests.console.conftest import Cli, console_process
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stall-interval-ms", "0"], "--stall-interval-ms must be >= 10"),
        (["--heartbeat-ms", "-1"], "--heartbeat-ms must be > 0"),
        (["--lease-ms", "1000", "--heartbeat-ms", "1000"], "shorter than --lease-ms"),
        (["--max-stalled", "-1"], "--max-stalled must be >= 0"),
        (["--shutdown-grace-ms", "-1"], "--shutdown-grace-ms must be >= 0"),
        (["--shutdown-grace-ms", "900", "--shutdown-timeout-ms", "10"], "--shutdown-timeout-ms"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
        (["--lease-ms", "5"], "--lease-ms must be >= 100"),
    ],
)
def test_invalid_worker_options_are_one_line_errors(
    cli: Cli, args: list[str], message: str
) -> None:
    result = cli("worker", "--queue", "q", *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0], result.output


def test_worker_refuses_a_bad_retention_before_touching_redis(cli: Cli) -> None:
    for flag in ("--keep-completed", "--keep-failed"):
        result = cli("worker", "--queue", "q", flag, "7x")
        assert result.exit_code == 2
        assert "'7x' is not a retention" in result.output


def test_worker_keeps_what_keep_completed_says_and_a_jobs_own_rule_wins(
    cli: Cli, redis_url: str
) -> None:
    own = cli("job", "add", "q", "noop", "--keep-completed", "all")
    assert own.exit_code == 0, own.output
    kept_id = own.stdout.strip()
    ids = [cli("job", "add", "q", "noop").stdout.strip() for _ in range(6)]
    with (
        console_process(
            redis_url,
            "worker",
            "--queue",
            "q",
            "--keep-completed",
            "2",
            "--stall-interval-ms",
            "50",
            "--quiet",
        ) as process,
        redis.Redis.from_url(redis_url, decode_responses=True) as client,
    ):
        completed = "messai:{q}:completed"
        wait_until(
            lambda: set(client.zrange(completed, 0, -1)) == {kept_id, *ids[-2:]},
            timeout=30,
        )
    assert process.returncode == 0


def test_job_add_takes_a_jobs_own_retention(cli: Cli, sync_queue: MakeQueue) -> None:
    result = cli(
        "job", "add", "q", "noop", "--keep-completed", "100,1h", "--keep-failed", "0", "--json"
    )
    assert result.exit_code == 0, result.output
    job = sync_queue("q").get_job(json.loads(result.stdout)["id"])
    assert job is not None
    assert job.options.keep_completed == Keep(count=100, age_ms=3_600_000)
    assert job.options.keep_failed == Keep(count=0)
    bad = cli("job", "add", "q", "noop", "--keep-failed", "soon")
    assert bad.exit_code == 2 and "'soon' is not a retention" in bad.output
