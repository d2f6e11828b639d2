"""``job add|get|list|retry|cancel|remove|promote|logs|wait`` against a real Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from engine import FlowJob, InvalidJobError, add_flow
from engine.context import JobContext
from engine.sync import SyncQueue
from messai_console.cli.job.watch import new_lines
from tests.console.conftest import Cli, ThreadWorker
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]
StartWorker = Callable[..., ThreadWorker]

JOB_KEYS = {
    "id",
    "queue",
    "name",
    "state",
    "data",
    "options",
    "attempts_made",
    "stalls",
    "manual_retries",
    "progress",
    "result",
    "error",
    "stack",
    "created_ms",
    "started_ms",
    "finished_ms",
    "run_time_ms",
    "worker",
    "cancelled",
}


def failed_jobs(queue: SyncQueue, start_worker: StartWorker, count: int) -> list[str]:
    ids = queue.add_bulk(
        [
            {"name": "fail", "data": {"message": f"boom {n}"}, "options": {"attempts": 1}}
            for n in range(count)
        ]
    )
    start_worker([queue.queue.name], concurrency=16)
    wait_until(lambda: queue.counts()["failed"] == count, timeout=20)
    return ids


def test_add_from_a_json_lines_file(cli: Cli, sync_queue: MakeQueue, tmp_path: Path) -> None:
    lines = tmp_path / "papers.jsonl"
    lines.write_text("".join(json.dumps({"paper_id": f"p-{n}"}) + "\n" for n in range(2500)) + "\n")
    result = cli("job", "add", "q", "echo", "--file", str(lines), "--priority", "low", "--json")
    assert result.exit_code == 0, result.stderr
    added = json.loads(result.stdout)
    assert set(added) == {"queue", "count", "ids"}
    assert added["queue"] == "q" and added["count"] == 2500 and len(set(added["ids"])) == 2500
    queue = sync_queue("q")
    assert queue.counts()["waiting"] == 2500
    first = queue.get_job(added["ids"][0])
    assert first is not None and first.data == {"paper_id": "p-0"}
    assert first.options.priority == 10

    plain = cli("job", "add", "q", "echo", "--file", "-", input='{"a": 1}\n{"a": 2}\n')
    assert plain.exit_code == 0 and len(plain.stdout.split()) == 2
    assert queue.counts()["waiting"] == 2502


def test_add_from_a_file_with_a_bad_line_adds_nothing(
    cli: Cli, redis_url: str, tmp_path: Path
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"ok": 1}\n{"ok": 2}\nnot json\n')
    result = cli("job", "add", "q", "echo", "--file", str(lines))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --file line 3 is not valid JSON: Expecting value"
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
    both = cli("job", "add", "q", "echo", "--file", str(lines), "--data", "{}")
    assert both.exit_code == 2


def test_add_checks_data_through_the_job_catalog(
    cli: Cli, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, Any]] = []

    def validate_job(queue: str, name: str, data: Any) -> Any:
        seen.append((queue, name, data))
        if "paper_id" not in data:
            raise InvalidJobError("extract_pdf: paper_id: field required")
        return {**data, "normalised": True}

    catalog = types.ModuleType("messai_console.jobs.catalog")
    catalog.validate_job = validate_job  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "messai_console.jobs.catalog", catalog)

    refused = cli("job", "add", "paper-processing", "extract_pdf", "--data", '{"paper": 1}')
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error: extract_pdf: paper_id: field required"
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0

    added = cli(
        "job", "add", "paper-processing", "extract_pdf", "--data", '{"paper_id": "p"}', "--json"
    )
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["data"] == {"paper_id": "p", "normalised": True}
    assert seen[-1] == ("paper-processing", "extract_pdf", {"paper_id": "p"})


def test_add_refuses_a_catalog_payload_with_bad_fields(cli: Cli, redis_url: str) -> None:
    result = cli("job", "add", "paper-processing", "extract_pdf", "--data", '{"bogus": 1}')
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "paper_id" in result.stderr
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_add_accepts_any_data_while_there_is_no_catalog(
    cli: Cli, sync_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "messai_console.jobs.catalog", None)
    result = cli("job", "add", "q", "anything", "--data", '{"free": ["form"]}')
    assert result.exit_code == 0, result.stderr
    job = sync_queue("q").get_job(result.stdout.strip())
    assert job is not None and job.data == {"free": ["form"]}


def test_get_prints_the_job_and_json_has_every_key(cli: Cli, sync_queue: MakeQueue) -> None:
    job = sync_queue("q").add("echo", {"paper_id": "p-7"}, attempts=4)
    described = cli("job", "get", "q", job.id, "--json")
    assert described.exit_code == 0
    data = json.loads(described.stdout)
    assert set(data) == JOB_KEYS
    assert data["data"] == {"paper_id": "p-7"} and data["options"] == {"attempts": 4}
    table = cli("job", "get", "q", job.id)
    assert (
        table.exit_code == 0 and '{"paper_id": "p-7"}' in table.stdout and "waiting" in table.stdout
    )


def test_piped_job_get_and_list_lines_end_where_their_text_does(
    sync_queue: MakeQueue, redis_url: str
) -> None:
    """Into a pipe a long value keeps its row whole, and no line is padded to it."""
    queue = sync_queue("q")
    long_job = queue.add("echo", {"text": "x" * 1500})
    queue.add("echo", {"n": 1})

    def piped(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "messai_console.cli", "--redis-url", redis_url, *args],
            capture_output=True,  # stdout is a pipe, not a terminal
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.splitlines()

    lines = piped("job", "get", "q", long_job.id)
    assert all(line == line.rstrip() for line in lines)
    [data] = [line for line in lines if line.split("│")[0].strip() == "data"]
    assert "x" * 1500 in data  # one line, neither cut nor wrapped
    assert max(len(line) for line in lines if "data" not in line and "─" not in line) < 100
    listed = piped("job", "list", "q", "--status", "waiting")
    assert all(line == line.rstrip() for line in listed)
    assert max(len(line) for line in listed) < 200


def test_unknown_job_exits_1(cli: Cli, sync_queue: MakeQueue) -> None:
    sync_queue("q").add("echo")
    for args in (["get"], ["logs"], ["wait"], ["cancel"], ["remove"], ["promote"], ["retry"]):
        result = cli("job", *args, "q", "missing")
        assert result.exit_code == 1, args
        assert result.stderr.strip() == "error: no job 'missing' in queue 'q'", args


def test_list_pages_through_a_state(cli: Cli, sync_queue: MakeQueue) -> None:
    ids = sync_queue("q").add_bulk([("echo", {"n": n}) for n in range(25)])
    page = cli(
        "job", "list", "q", "--status", "waiting", "--limit", "10", "--offset", "20", "--json"
    )
    assert page.exit_code == 0
    listed = json.loads(page.stdout)
    assert set(listed) == {"queue", "status", "total", "offset", "limit", "jobs"}
    assert listed["total"] == 25 and listed["offset"] == 20 and listed["limit"] == 10
    assert [job["id"] for job in listed["jobs"]] == ids[20:]
    assert set(listed["jobs"][0]) == JOB_KEYS
    table = cli("job", "list", "q", "--status", "waiting", "--limit", "3")
    assert table.exit_code == 0 and "jobs 1-3 of 25" in table.stdout
    assert cli("job", "list", "q", "--status", "sideways").exit_code == 2
    assert cli("job", "list", "q", "--status", "waiting", "--limit", "0").exit_code == 2


def test_retry_one_failed_job(cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker) -> None:
    queue = sync_queue("q")
    [job_id] = failed_jobs(queue, thread_worker, 1)
    result = cli("job", "retry", "q", job_id)
    assert result.exit_code == 0, result.stderr
    job = queue.get_job(job_id)
    assert (
        job is not None and job.manual_retries == 1 and job.state in ("waiting", "active", "failed")
    )
    assert cli("job", "retry", "q").exit_code == 2
    assert cli("job", "retry", "q", job_id, "--all-failed").exit_code == 2


def test_retry_all_failed_asks_beyond_a_thousand(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    queue = sync_queue("q")
    failed_jobs(queue, thread_worker, 1001)
    queue.pause()  # keep the retried jobs waiting
    refused = cli("job", "retry", "q", "--all-failed")
    assert refused.exit_code == 1 and "retry 1001 failed jobs" in refused.stderr
    assert queue.counts()["failed"] == 1001
    result = cli("job", "retry", "q", "--all-failed", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "retried 1001 failed jobs" in result.stdout
    assert queue.counts()["failed"] == 0 and queue.counts()["waiting"] == 1001


def test_retry_all_failed_needs_no_yes_for_a_few(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    queue = sync_queue("q")
    failed_jobs(queue, thread_worker, 3)
    queue.pause()
    result = cli("job", "retry", "q", "--all-failed")
    assert result.exit_code == 0, result.stderr
    assert queue.counts()["waiting"] == 3 and queue.counts()["failed"] == 0


def test_cancel_remove_and_promote(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    waiting = queue.add("echo")
    delayed = queue.add("echo", delay_ms=3_600_000)
    doomed = queue.add("echo")

    cancelled = cli("job", "cancel", "q", waiting.id)
    assert cancelled.exit_code == 0 and "cancelled before it started" in cancelled.stdout
    assert queue.get_job(waiting.id) is None

    promoted = cli("job", "promote", "q", delayed.id)
    assert promoted.exit_code == 0
    job = queue.get_job(delayed.id)
    assert job is not None and job.state == "waiting"
    again = cli("job", "promote", "q", delayed.id)
    assert again.exit_code == 1 and "not delayed" in again.stderr

    removed = cli("job", "remove", "q", doomed.id)
    assert removed.exit_code == 0 and "it was waiting" in removed.stdout
    assert queue.get_job(doomed.id) is None


def test_logs_and_follow(cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker) -> None:
    async def chatty(ctx: JobContext) -> None:
        await ctx.log("first line")
        await asyncio.sleep(0.3)  # the job's own work: the follower must pick up what comes later
        await ctx.log("second line")

    queue = sync_queue("q")
    job = queue.add("chatty")
    thread_worker(["q"], {"chatty": chatty})
    wait_until(lambda: queue.get_logs(job.id) == ["first line"])
    followed = cli("job", "logs", "q", job.id, "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert followed.stdout.splitlines() == ["first line", "second line"]
    assert queue.get_job(job.id).state == "completed"  # type: ignore[union-attr]

    as_json = cli("job", "logs", "q", job.id, "--json")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        {"queue": "q", "job_id": job.id, "line": "first line"},
        {"queue": "q", "job_id": job.id, "line": "second line"},
    ]


def test_new_lines_survives_a_trimmed_log() -> None:
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d"]) == ["d"]  # capped at 3: "a" dropped
    assert new_lines(["x", "x"], ["x", "x", "x"]) == ["x"]
    assert new_lines(["a"], ["b", "c"]) == ["b", "c"]  # all of it was trimmed away
    assert new_lines(["a", "b"], ["a", "b"]) == []


def test_wait_exits_0_when_completed_and_1_when_failed(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    queue = sync_queue("q")
    good = queue.add("sleep", {"ms": 100})
    bad = queue.add("fail", {"message": "disk full"}, attempts=1)
    thread_worker(["q"], concurrency=2)
    completed = cli("job", "wait", "q", good.id, "--timeout", "10s")
    assert completed.exit_code == 0, completed.stderr
    assert completed.stdout.startswith(f"job {good.id} completed in ")
    failed = cli("job", "wait", "q", bad.id, "--json")
    assert failed.exit_code == 1
    assert failed.stderr.strip() == f"error: job {bad.id} failed: RuntimeError: disk full"
    assert json.loads(failed.stdout)["state"] == "failed"


def test_wait_gives_up_after_the_timeout(cli: Cli, sync_queue: MakeQueue) -> None:
    job = sync_queue("q").add("echo", delay_ms=3_600_000)
    result = cli("job", "wait", "q", job.id, "--timeout", "200ms")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: timed out after 200ms: job {job.id} is still delayed"


def test_remove_says_how_many_jobs_of_a_flow_went_with_it(
    cli: Cli, sync_queue: MakeQueue, redis_url: str
) -> None:
    queue = sync_queue("q")

    async def flow() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            children = [FlowJob("q", "echo", {"n": n}) for n in range(3)]
            return (await add_flow(client, FlowJob("q", "echo", children=children)))[0].id
        finally:
            await client.aclose()

    parent = asyncio.run(flow())
    removed = cli("job", "remove", "q", parent)
    assert removed.exit_code == 0
    assert "it was pending), with 3 jobs it waited for that had not run" in removed.stdout
    assert queue.counts()["waiting"] == 0
