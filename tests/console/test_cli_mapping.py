"""Every row of the README's "old HTTP API" table, run as written there."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from engine.sync import SyncQueue
from tests.console.conftest import Cli, ThreadWorker
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]
StartWorker = Callable[..., ThreadWorker]
README = Path(__file__).parents[2] / "README.md"


def mapped(old: str) -> list[list[str]]:
    """The commands the README's table gives for an old endpoint; ``a|b|c`` in a word
    gives one command per choice."""
    for line in README.read_text().splitlines():
        cells = [
            cell.strip().strip("`").replace("\\|", "|")
            for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]
        ]
        if len(cells) == 2 and cells[0] == old:
            words = shlex.split(cells[1])
            assert words[0] == "messai-console"
            choices = [word.split("|") for word in words[1:]]
            width = max(len(options) for options in choices)
            return [[options[i % len(options)] for options in choices] for i in range(width)]
    raise AssertionError(f"the README has no row for {old}")


def run(cli: Cli, args: list[str], **values: str) -> str:
    filled = [values.get(word, word) for word in args]
    result = cli(*filled)
    assert result.exit_code == 0, (filled, result.stderr)
    return result.stdout


def test_overview(cli: Cli, sync_queue: MakeQueue) -> None:
    sync_queue("paper-processing").add("echo")
    [command] = mapped("GET /api/jobs?view=overview")
    assert command == ["overview"]
    assert "jobs waiting" in run(cli, command)


def test_queues(cli: Cli, sync_queue: MakeQueue) -> None:
    sync_queue("paper-processing").add("echo")
    sync_queue("email-notifications").add("echo")
    [command] = mapped("GET /api/jobs?view=queues")
    assert command == ["queue", "list"]
    out = run(cli, command)
    assert "paper-processing" in out and "email-notifications" in out


def test_performance(cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker) -> None:
    queue = sync_queue("paper-processing")
    queue.add_bulk([("echo", None)] * 3)
    thread_worker(["paper-processing"])
    wait_until(lambda: queue.counts()["completed"] == 3)
    [command] = mapped("GET /api/jobs?view=performance&timeRange=hour")
    assert command == ["performance", "--range", "hour"]
    out = run(cli, command)
    assert re.search(r"paper-processing\s*│\s*3\s", out)


def test_completed_jobs_of_a_queue(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    queue = sync_queue("paper-processing")
    queue.add_bulk([("echo", {"n": n}) for n in range(12)])
    thread_worker(["paper-processing"])
    wait_until(lambda: queue.counts()["completed"] == 12)
    [command] = mapped("GET /api/jobs/paper-processing?view=jobs&status=completed&limit=10")
    assert command == ["job", "list", "paper-processing", "--status", "completed", "--limit", "10"]
    assert "jobs 1-10 of 12" in run(cli, command)
    listed = json.loads(run(cli, [*command, "--json"]))
    assert len(listed["jobs"]) == 10 and {job["state"] for job in listed["jobs"]} == {"completed"}


def test_add_a_job(cli: Cli, sync_queue: MakeQueue) -> None:
    [command] = mapped("POST /api/jobs {type, data}")
    assert command == ["job", "add", "Q", "NAME", "--data", "JSON"]
    job_id = run(
        cli, command, Q="paper-processing", NAME="echo", JSON='{"paper_id": "p-1"}'
    ).strip()
    job = sync_queue("paper-processing").get_job(job_id)
    assert job is not None and job.data == {"paper_id": "p-1"} and job.state == "waiting"


def test_pause_resume_drain(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("paper-processing")
    queue.add_bulk([("echo", None)] * 4)
    pause, resume, drain = mapped("POST /api/jobs/Q {action: pause|resume|drain}")
    assert (pause, resume, drain) == (
        ["queue", "pause", "Q"],
        ["queue", "resume", "Q"],
        ["queue", "drain", "Q"],
    )
    run(cli, pause, Q="paper-processing")
    assert queue.is_paused()
    run(cli, resume, Q="paper-processing")
    assert not queue.is_paused()
    run(cli, [*drain, "--yes"], Q="paper-processing")
    assert queue.counts()["waiting"] == 0


def test_retry_and_cancel(cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker) -> None:
    queue = sync_queue("paper-processing")
    failed = queue.add("fail", attempts=1)
    worker = thread_worker(["paper-processing"])
    wait_until(lambda: queue.counts()["failed"] == 1)
    worker.stop()
    waiting = queue.add("echo")
    retry, cancel = mapped("POST /api/jobs/Q/ID {action: retry|cancel}")
    assert (retry, cancel) == (["job", "retry", "Q", "ID"], ["job", "cancel", "Q", "ID"])
    run(cli, retry, Q="paper-processing", ID=failed.id)
    assert queue.get_job(failed.id).state == "waiting"  # type: ignore[union-attr]
    run(cli, cancel, Q="paper-processing", ID=waiting.id)
    assert queue.get_job(waiting.id) is None
