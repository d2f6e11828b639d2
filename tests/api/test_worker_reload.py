"""worker --reload: a changed processor file restarts the worker gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import redis.asyncio

from engine import Queue
from tests.helpers import await_until

PROCESSOR = """
import asyncio
from engine import ProcessorRegistry

async def work(ctx):
    await asyncio.sleep(ctx.data.get("sleep", 0))
    return "{version}"

registry = ProcessorRegistry({{"work": work}})
"""


async def test_a_changed_processor_restarts_the_worker_and_the_running_job_finishes(
    redis_url: str, redis_async: redis.asyncio.Redis, tmp_path: Path
) -> None:
    module = tmp_path / "reloadme_jobs.py"
    module.write_text(PROCESSOR.format(version="v1"))
    queue = Queue("reload-test", redis_async)
    await queue.add("work", {})
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "messai_console.cli", "--redis-url", redis_url,
        "worker", "--reload", "-q", "reload-test", "--processors", "reloadme_jobs:registry",
        "--shutdown-grace-ms", "20000",
    ]  # fmt: skip
    process = _spawn(command, env)
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stderr.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        first = (await queue.get_jobs("waiting", 0, 0) or [None])[0]
        await await_until(lambda: _result_is(queue, "1", "v1"), timeout=60)
        slow = await queue.add("work", {"sleep": 1.5})
        await await_until(lambda: _state_is(queue, slow.id, "active"), timeout=30)
        module.write_text(PROCESSOR.format(version="v2"))
        await await_until(lambda: any("changed" in line for line in lines), timeout=30)
        await await_until(lambda: _state_is(queue, slow.id, "completed"), timeout=30)
        finished = await queue.require_job(slow.id)
        assert finished.result == "v1" and finished.attempts_made == 1, "ran once, to the end"
        await await_until(lambda: sum("serving" in line for line in lines) >= 2, timeout=60)
        after = await queue.add("work", {})
        await await_until(lambda: _result_is(queue, after.id, "v2"), timeout=60)
        assert first is None or first.id == "1"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == 0, "".join(lines)
    assert sum("stopped" in line and "worker" in line for line in lines) >= 2, "".join(lines)


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


async def _state_is(queue: Queue, job_id: str, state: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == state


async def _result_is(queue: Queue, job_id: str, result: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == "completed" and job.result == result
