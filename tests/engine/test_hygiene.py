"""The engine stands alone, and survives losing its scripts and functions."""

from __future__ import annotations

import subprocess
import sys

from engine import Queue
from tests.engine.conftest import StartWorker, wait_for_state


def test_importing_engine_loads_no_console_packages() -> None:
    code = (
        "import sys, engine, engine.worker, engine.queue, engine.connection, engine.embedded;"
        "print(','.join(m for m in ('textual', 'rich', 'typer') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


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
    libraries = await queue.redis.function_list(library="messai_add_*")
    assert len(libraries) == 1, libraries
