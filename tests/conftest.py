"""Shared fixtures: throwaway Redis servers started from the test run itself.

Tests never use a Redis the machine happens to run (127.0.0.1:6379), nor the
user's real data directory: at import this module points MESSAI_DATA_DIR at a
temporary directory and removes REDIS_URL and friends from the environment.
Tests that need them set their own with `monkeypatch`. (Note that `.env` /
`.env.local` in the working directory are still read by the settings models;
pass `_env_file=None` when a test must ignore them.)

The servers come from `messai_console.embedded` (the application's own
redis-server code; the engine never imports it).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from messai_console.embedded import (
    EmbeddedRedisError,
    EmbeddedServer,
    start_server,
    stop_embedded,
)
from tests.helpers import RedisFactory

_ENV_TO_CLEAR = (
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "MESSAI_EMBEDDED",
    "MESSAI_PREFIX",
)
for _name in _ENV_TO_CLEAR:
    os.environ.pop(_name, None)
# Short (unix socket paths are limited to ~107 bytes) and private to this process
# (each xdist worker imports conftest itself).
_DATA_DIR = Path(tempfile.mkdtemp(prefix="messai-test-"))
os.environ["MESSAI_DATA_DIR"] = str(_DATA_DIR)
# Also when the session never starts (usage errors, collection-only runs).
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)


#: Slow tests outside tests/console and tests/catalog (which mark their own with
#: @pytest.mark.slow): over about 3 s each with `pytest -n 2 --durations=50` on two
#: shared cores. Every test under tests/reliability is slow too. `just test-fast`
#: (`pytest -m "not slow"`) skips them; `just test` and .ci/run run everything.
SLOW_TESTS = frozenset(
    {
        "tests/engine/test_schedules.py::test_three_scheduler_processes_with_one_killed_fire_every_tick_once",
        "tests/tui/test_actions.py::test_readonly_refuses_every_action_and_opens_no_dialog",
        "tests/tui/test_hostile.py::test_hostile_names_data_and_errors_render_inert",
        "tests/tui/test_live.py::test_a_queue_of_200000_waiting_jobs_loads_one_page_at_a_time",
        "tests/tui/test_schedules_events.py::test_delete_removes_the_schedule_after_confirm_and_cancel_keeps_it",
        "tests/tui/test_snapshots.py::test_snapshots_of_every_screen",
    }
)
SLOW_DIRECTORIES = ("tests/reliability/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.nodeid.partition("[")[0]  # every parameter of a slow test
        if name in SLOW_TESTS or name.startswith(SLOW_DIRECTORIES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir() -> Iterator[Path]:
    """Stop any embedded server a test left in the temporary data dir, then remove it."""
    yield _DATA_DIR
    with contextlib.suppress(EmbeddedRedisError, OSError):
        stop_embedded(_DATA_DIR)
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A throwaway Redis (no persistence) on a free loopback TCP port, one per test process."""
    server = start_server(
        tmp_path_factory.mktemp("redis"), persistent=False, unix_socket=False, port=None
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedServer) -> str:
    """The session server's URL, emptied (FLUSHALL) before the test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client (decoded responses) on the emptied session server."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[RedisFactory]:
    """Start extra servers on demand; all are stopped at teardown.

    `redis_factory(persistent=True)` gives an AOF server in a fresh directory under
    `tmp_path`; pass the same `port` and `data_dir` again to restart it (for example
    after `os.kill(server.pid, signal.SIGKILL)`). Extra keyword arguments go to
    `start_server` (`password=`, `redis_server_binary=`, `unix_socket=True`, ...).
    """
    started: list[EmbeddedServer] = []
    counter = itertools.count()

    def factory(
        persistent: bool = False,
        port: int | None = None,
        data_dir: Path | None = None,
        **kwargs: Any,
    ) -> EmbeddedServer:
        directory = data_dir if data_dir is not None else tmp_path / f"redis-{next(counter)}"
        options: dict[str, Any] = {"unix_socket": False}
        options.update(kwargs)
        server = start_server(directory, persistent=persistent, port=port, **options)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            with contextlib.suppress(EmbeddedRedisError, OSError):
                server.stop(timeout=5)
