"""Fixtures for CLI tests: invoke the command on the test Redis, run workers in threads.

CLI commands run their own event loop (``asyncio.run``), so CLI tests are
plain functions; a worker they need runs on its own loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from engine import Worker
from engine.connection import connect
from engine.sync import SyncQueue
from messai_console.cli import app

Cli = Callable[..., Result]

CONSOLE = str(Path(sys.executable).parent / "messai-console")


@contextlib.contextmanager
def console_process(redis_url: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``messai-console --redis-url URL ARGS...`` in a process of its own (no
    catalog schedules, output dropped), stopped with SIGTERM and waited for
    when the block ends; its ``returncode`` is set then."""
    process = subprocess.Popen(
        [CONSOLE, "--redis-url", redis_url, *args],
        env={**os.environ, "INIT_SCHEDULED_JOBS": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


@pytest.fixture
def cli(redis_url: str) -> Cli:
    """``cli("queue", "stats", "q", input=...)``: the command against the test Redis."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, ["--redis-url", redis_url, *args], input=input)

    return invoke


@pytest.fixture
def sync_queue(redis_url: str) -> Iterator[Callable[[str], SyncQueue]]:
    """``sync_queue("q")``: a blocking Queue on the test Redis, closed at teardown."""
    opened: list[SyncQueue] = []

    def make(name: str) -> SyncQueue:
        queue = SyncQueue(name, redis_url)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()


class ThreadWorker:
    """A Worker on its own event loop in a thread, stopped from the test's thread."""

    def __init__(
        self, url: str, queues: list[str], processors: Mapping[str, Any] | None, **options: Any
    ) -> None:
        self._url, self._queues, self._processors, self._options = (
            url,
            queues,
            processors,
            options,
        )
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: Worker | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-worker", daemon=True)

    def start(self) -> ThreadWorker:
        self._thread.start()
        assert self._started.wait(10), "the worker thread did not start"
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self._started.set()

    async def _main(self) -> None:
        client = connect(self._url)
        try:
            self._loop = asyncio.get_running_loop()
            self._worker = Worker(self._queues, client, self._processors, **self._options)
            self._started.set()
            await self._worker.run()
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self._loop is not None and self._worker is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._worker.request_stop)
        self._thread.join(15)
        assert not self._thread.is_alive(), "the worker did not stop within 15 s"
        if self.error is not None:
            raise self.error


@pytest.fixture
def thread_worker(redis_url: str) -> Iterator[Callable[..., ThreadWorker]]:
    """``thread_worker(["q"], {"name": processor}, concurrency=2)``: started now, stopped at teardown."""
    running: list[ThreadWorker] = []

    def start(
        queues: list[str], processors: Mapping[str, Any] | None = None, **options: Any
    ) -> ThreadWorker:
        options.setdefault("shutdown_grace_ms", 2000)
        worker = ThreadWorker(redis_url, queues, processors, **options).start()
        running.append(worker)
        return worker

    yield start
    for worker in running:
        worker.stop()
