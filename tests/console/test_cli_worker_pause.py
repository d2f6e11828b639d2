"""Pausing a running ``messai-console worker`` process: by signal on its host
(SIGUSR1 / SIGUSR2), and through Redis from another process
(``messai-console workers pause|resume ID``); ``workers list`` shows it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.sync import SyncQueue
from tests.console.conftest import Cli
from tests.helpers import wait_until

QUIET_S = 0.5
"""How long a paused worker is watched for starting nothing (a window for a
negative, not a wait for something to happen)."""


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], worker_id: str) -> None:
        self.process = process
        self.id = worker_id


@pytest.fixture
def worker_process(redis_url: str, tmp_path: Path, cli: Cli) -> Iterator[WorkerProcess]:
    """A `messai-console worker -q q` process, its id read from `workers list`."""
    env = {**os.environ, "MESSAI_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    with (tmp_path / "worker.log").open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "messai_console.cli", "--redis-url", redis_url),
                *("worker", "-q", "q", "-c", "2", "--quiet"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until(lambda: listed(cli) != [], timeout=30, message="the worker never beat")
        [entry] = listed(cli)
        assert entry["pid"] == process.pid
        yield WorkerProcess(process, entry["id"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def listed(cli: Cli) -> list[dict[str, object]]:
    result = cli("workers", "list", "--json")
    assert result.exit_code == 0, result.output
    workers: list[dict[str, object]] = json.loads(result.output)
    return workers


def shown_paused(cli: Cli, paused: bool) -> bool:
    return [entry["paused"] for entry in listed(cli)] == [paused]


def assert_takes_nothing(queue: SyncQueue, job_ids: list[str]) -> None:
    deadline = time.monotonic() + QUIET_S
    while time.monotonic() < deadline:
        assert all(queue.get_job(job_id).state == "waiting" for job_id in job_ids)  # type: ignore[union-attr]
        time.sleep(0.05)


def all_completed(queue: SyncQueue, job_ids: list[str]) -> bool:
    return all(queue.get_job(job_id).state == "completed" for job_id in job_ids)  # type: ignore[union-attr]


@pytest.mark.slow
def test_sigusr1_pauses_and_sigusr2_resumes_a_worker_process(
    redis_url: str, cli: Cli, worker_process: WorkerProcess
) -> None:
    with SyncQueue("q", redis_url) as queue:
        worker_process.process.send_signal(signal.SIGUSR1)
        wait_until(lambda: shown_paused(cli, True), timeout=10)
        job_ids = queue.add_bulk([("noop", None)] * 5)
        assert_takes_nothing(queue, job_ids)
        worker_process.process.send_signal(signal.SIGUSR2)
        wait_until(lambda: all_completed(queue, job_ids), timeout=10)
        wait_until(lambda: shown_paused(cli, False), timeout=10)
    assert worker_process.process.poll() is None  # paused and resumed, never stopped


@pytest.mark.slow
def test_workers_pause_and_resume_reach_a_worker_in_another_process(
    redis_url: str, cli: Cli, worker_process: WorkerProcess
) -> None:
    result = cli("workers", "pause", worker_process.id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"worker {worker_process.id!r} paused"
    wait_until(lambda: shown_paused(cli, True), timeout=10)
    table = cli("workers", "list")
    assert "paused" in table.output and worker_process.id in table.output
    with SyncQueue("q", redis_url) as queue:
        job_ids = queue.add_bulk([("noop", None)] * 5)
        assert_takes_nothing(queue, job_ids)
        result = cli("workers", "resume", worker_process.id)
        assert result.exit_code == 0, result.output
        wait_until(lambda: all_completed(queue, job_ids), timeout=10)
    wait_until(lambda: shown_paused(cli, False), timeout=10)


def test_pausing_an_unknown_worker_or_when_readonly_is_refused(cli: Cli) -> None:
    result = cli("workers", "pause", "no-such-worker")
    assert result.exit_code == 1
    assert (
        result.output.strip() == "error: no live worker 'no-such-worker' in the registry of workers"
    )
    result = cli("--readonly", "workers", "resume", "no-such-worker")
    assert result.exit_code == 1
    assert "--readonly" in result.output
