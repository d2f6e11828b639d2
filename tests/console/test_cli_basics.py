"""The first CLI commands, against a real Redis: job add, queue stats, errors."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from messai_console.cli import app
from messai_console.embedded import EmbeddedServer

runner = CliRunner()


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--redis-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_job_add_prints_id_and_stats_json_has_every_state(redis_url: str) -> None:
    code, out, _ = invoke(
        redis_url,
        "job",
        "add",
        "paper-processing",
        "echo",
        "--data",
        '{"paper_id": "p-1"}',
        "--priority",
        "high",
        "--attempts",
        "3",
    )
    assert code == 0
    job_id = out.strip()
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        stored = client.hgetall(f"messai:{{paper-processing}}:job:{job_id}")
    assert json.loads(stored["d"]) == {"paper_id": "p-1"}
    assert stored["pri"] == "1"
    assert json.loads(stored["o"])["attempts"] == 3

    code, out, _ = invoke(
        redis_url, "job", "add", "paper-processing", "echo", "--delay-ms", "60000"
    )
    assert code == 0
    code, out, _ = invoke(redis_url, "queue", "stats", "paper-processing", "--json")
    assert code == 0
    assert json.loads(out) == {
        "waiting": 1,
        "active": 0,
        "delayed": 1,
        "completed": 0,
        "failed": 0,
        "pending": 0,
        "paused": False,
        "rate_limit": None,
        "global_concurrency": None,
        "waiting_by_priority": {"1": 1},
    }


def test_job_add_with_delay_and_job_id(redis_url: str) -> None:
    code, out, _ = invoke(
        redis_url, "job", "add", "q", "echo", "--delay", "10s", "--job-id", "nightly-1", "--json"
    )
    assert code == 0
    job = json.loads(out)
    assert job["id"] == "nightly-1" and job["state"] == "delayed"
    code, out, _ = invoke(redis_url, "job", "add", "q", "echo", "--job-id", "nightly-1")
    assert code == 0 and out.strip() == "nightly-1"
    code, out, _ = invoke(redis_url, "queue", "stats", "q", "--json")
    assert json.loads(out)["delayed"] == 1 and json.loads(out)["waiting"] == 0


def test_unknown_queue_exits_1_with_one_line(redis_url: str) -> None:
    code, _out, err = invoke(redis_url, "queue", "stats", "no-such-queue")
    assert code == 1
    assert err.strip() == "error: no queue named 'no-such-queue'"


@pytest.mark.parametrize("bad", ["{bad json", "@/no/such/file.json"])
def test_malformed_data_is_refused_and_nothing_is_written(redis_url: str, bad: str) -> None:
    code, _, err = invoke(redis_url, "job", "add", "q", "echo", "--data", bad)
    assert code == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_invalid_option_is_refused(redis_url: str) -> None:
    code, _, err = invoke(redis_url, "job", "add", "q", "echo", "--priority", "urgent")
    assert code == 2 and "not a priority" in err


def test_unreachable_redis_exits_3() -> None:
    code, _, err = invoke("redis://127.0.0.1:1/0", "queue", "stats", "q")
    assert code == 3
    assert err.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert len(err.strip().splitlines()) == 1


def test_wrong_password_exits_3_without_showing_it(redis_factory: object) -> None:
    server: EmbeddedServer = redis_factory(password="right-secret")  # type: ignore[operator]
    url = f"redis://:wrong-secret@127.0.0.1:{server.port}/0"
    code, _, err = invoke(url, "queue", "stats", "q")
    assert code == 3
    assert "authentication failed" in err
    assert "wrong-secret" not in err and "right-secret" not in err


def test_no_command_mentions_the_console() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "console" in result.stdout


def test_worker_refuses_a_bad_prefetch_before_touching_redis() -> None:
    # nothing listens on port 1: reaching Redis would fail with a connection error
    code, out, err = invoke("redis://127.0.0.1:1/0", "worker", "--queue", "q", "--prefetch", "x")
    assert code == 2
    assert "'x' is not a prefetch" in out + err
