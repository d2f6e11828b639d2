"""Fixtures for the reliability tests: worker processes and their execution log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.worker.lifecycle import CHECK_SLOTS_ENV
from tests.loops import LOOP_FACTORIES, loop_factories
from tests.reliability.workers import WorkerPool

if LOOP_FACTORIES is not None:  # MESSAI_TEST_LOOP=uvloop (see tests/loops.py)
    pytest_asyncio_loop_factories = loop_factories


@pytest.fixture(autouse=True)
def check_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker (in-process, or a process started from here) checks its
    slot account after every exchange and fails on a break."""
    monkeypatch.setenv(CHECK_SLOTS_ENV, "1")


@pytest.fixture
def exec_dir(tmp_path: Path) -> Path:
    """Where the processors of this test's workers record their runs."""
    directory = tmp_path / "exec"
    directory.mkdir()
    return directory


@pytest.fixture
def workers(tmp_path: Path, exec_dir: Path, request: pytest.FixtureRequest) -> Iterator[WorkerPool]:
    """Start worker processes with ``workers.start(url, queue, ...)``; every one
    is killed at teardown. Their stderr is shown when the test fails."""
    pool = WorkerPool(tmp_path, exec_dir)
    try:
        yield pool
    finally:
        pool.kill_all()
        request.node.add_report_section("teardown", "worker logs", pool.describe())
