"""``job priority|delay|update``, ``job add --backoff NAME`` and ``worker --backoff-strategies``."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator

import pytest
import typer

from engine.sync import SyncQueue
from messai_console.cli.run.worker import load_backoff_strategies
from tests.console.conftest import Cli

MakeQueue = Callable[[str], SyncQueue]


def test_priority_delay_and_update_change_a_waiting_job(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    first = queue.add("echo", {"n": 1})
    second = queue.add("echo", {"n": 2})

    moved = cli("job", "priority", "q", second.id, "high")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.strip() == f"job {second.id} now has priority 1 (waiting)"
    assert [job.id for job in queue.get_jobs("waiting")] == [second.id, first.id]

    delayed = cli("job", "delay", "q", first.id, "10m")
    assert delayed.exit_code == 0, delayed.output
    assert delayed.stdout.strip() == f"job {first.id} is due in 600000 ms"
    assert queue.counts()["delayed"] == 1
    back = cli("job", "delay", "q", first.id, "0")
    assert back.stdout.strip() == f"job {first.id} is waiting"

    updated = cli("job", "update", "q", first.id, "--data", '{"n": 10}')
    assert updated.exit_code == 0, updated.output
    job = queue.get_job(first.id)
    assert job is not None and job.data == {"n": 10}


def test_bad_values_and_missing_jobs_are_one_line_errors(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    kept = queue.add("echo", {"n": 2})
    for args in (["priority", kept.id, "urgent"], ["delay", kept.id, "soon"]):
        result = cli("job", args[0], "q", *args[1:])
        assert result.exit_code == 2, args  # usage: a bad value
    for args in (["priority", "missing", "1"], ["delay", "missing", "1s"]):
        result = cli("job", args[0], "q", *args[1:])
        assert result.exit_code == 1, args
        assert result.stderr.strip() == "error: no job 'missing' in queue 'q'", args
    result = cli("job", "update", "q", "missing", "--data", "{}")
    assert result.stderr.strip() == "error: no job 'missing' in queue 'q'"


def test_add_with_a_named_backoff_strategy(cli: Cli, sync_queue: MakeQueue) -> None:
    added = cli("job", "add", "q", "echo", "--attempts", "3", "--backoff", "linear")
    assert added.exit_code == 0, added.output
    job = sync_queue("q").get_job(added.stdout.strip())
    assert job is not None and job.options.backoff is not None
    assert job.options.backoff.type == "linear"
    refused = cli("job", "add", "q", "echo", "--backoff", "fixed")
    assert refused.exit_code == 2 and "is not a backoff" in refused.output


@pytest.fixture
def strategies_module() -> Iterator[str]:
    module = types.ModuleType("cli_backoffs")
    module.good = {"linear": lambda attempt, error: 100 * attempt}  # type: ignore[attr-defined]
    module.builtin = {"fixed": lambda attempt, error: 1}  # type: ignore[attr-defined]
    module.not_a_dict = 3  # type: ignore[attr-defined]
    sys.modules["cli_backoffs"] = module
    yield "cli_backoffs"
    del sys.modules["cli_backoffs"]


def test_worker_loads_backoff_strategies_from_a_module(strategies_module: str) -> None:
    loaded = load_backoff_strategies(f"{strategies_module}:good")
    assert loaded["linear"](2, ValueError()) == 200
    with pytest.raises(typer.BadParameter, match="is built in"):
        load_backoff_strategies(f"{strategies_module}:builtin")
    with pytest.raises(typer.BadParameter, match="not a dict"):
        load_backoff_strategies(f"{strategies_module}:not_a_dict")


def test_add_with_dedup_prints_the_holder_and_says_so(cli: Cli, sync_queue: MakeQueue) -> None:
    first = cli("job", "add", "q", "echo", "--dedup", "nightly", "--dedup-ttl", "1m")
    assert first.exit_code == 0, first.output
    holder = first.stdout.strip()
    again = cli("job", "add", "q", "echo", "--dedup", "nightly", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == holder
    assert json.loads(again.stdout)["deduplicated"] is True
    assert f"warning: not added: job {holder} holds dedup id nightly" in again.stderr
    job = sync_queue("q").get_job(holder)
    assert job is not None and job.options.dedup is not None
    assert job.options.dedup.ttl_ms == 60_000
    alone = cli("job", "add", "q", "echo", "--dedup-mode", "replace")
    assert alone.exit_code == 2 and "need --dedup" in alone.output
    refused = cli("job", "add", "q", "echo", "--dedup", "x", "--dedup-mode", "extend")
    assert refused.exit_code == 1 and "extend needs ttl_ms" in refused.stderr
