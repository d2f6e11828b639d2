"""Hostile job text, --readonly, the console entry point, and confirmation on a real terminal."""

from __future__ import annotations

import importlib
import json
import os
import pty
import select
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.context import JobContext
from engine.sync import SyncQueue
from messai_console.cli import app
from tests.console.conftest import Cli, ThreadWorker
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]
StartWorker = Callable[..., ThreadWorker]

HOSTILE = "\x1b]0;pwned\x07 [bold]x[/] [link=file:///etc]y \x1b[2J"


def texts(value: object) -> Iterator[str]:
    """Every string inside a parsed JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def test_hostile_names_errors_and_logs_are_printed_inert(
    cli: Cli, sync_queue: MakeQueue, thread_worker: StartWorker
) -> None:
    async def hostile(ctx: JobContext) -> None:
        await ctx.log(HOSTILE)
        raise RuntimeError(HOSTILE)

    queue = sync_queue("q")
    job = queue.add(HOSTILE, {"text": HOSTILE}, attempts=1)
    thread_worker(["q"], {HOSTILE: hostile})
    wait_until(lambda: queue.counts()["failed"] == 1)

    outputs = {
        " ".join(args): cli(*args)
        for args in (
            ["job", "get", "q", job.id],
            ["job", "get", "q", job.id, "--json"],
            ["job", "list", "q", "--status", "failed"],
            ["job", "list", "q", "--status", "failed", "--json"],
            ["events"],
            ["events", "--json"],
            ["job", "logs", "q", job.id],
            ["job", "logs", "q", job.id, "--json"],
        )
    }
    for command, result in outputs.items():
        assert result.exit_code == 0, (command, result.stderr)
        printed = result.stdout + result.stderr
        assert "\x1b" not in printed and "\x07" not in printed, command
        if "--json" in command:  # escaped by JSON, intact once parsed
            parsed = [json.loads(line) for line in result.stdout.splitlines()]
            assert any(HOSTILE in text for text in texts(parsed)), command
        else:
            assert "[bold]x[/]" in printed and "[link=file:///etc]y" in printed, command
            assert "\\x1b]0;pwned\\x07" in printed, command

    wait = cli("job", "wait", "q", job.id)
    assert wait.exit_code == 1
    assert "\x1b" not in wait.stderr and "[bold]x[/]" in wait.stderr


def test_readonly_refuses_every_change(cli: Cli, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    job = queue.add("echo", delay_ms=60_000)
    for args in (
        ["job", "add", "q", "echo"],
        ["job", "promote", "q", job.id],
        ["job", "cancel", "q", job.id],
        ["queue", "pause", "q"],
        ["queue", "drain", "q", "--yes"],
        ["queue", "limit", "q", "--max", "10", "--per", "1s"],
        ["queue", "limit", "q", "--clear"],
        ["queue", "concurrency", "q", "3"],
        ["queue", "concurrency", "q", "--clear"],
    ):
        result = cli("--readonly", *args)
        assert result.exit_code == 1, args
        assert "--readonly" in result.stderr
    assert not queue.is_paused() and queue.counts()["delayed"] == 1
    stats = cli("--readonly", "queue", "stats", "q", "--json")
    assert stats.exit_code == 0
    assert json.loads(stats.stdout)["rate_limit"] is None
    assert json.loads(stats.stdout)["global_concurrency"] is None


def test_no_command_opens_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, bool]] = []

    def run_console(url: str, prefix: str, readonly: bool = False) -> None:
        calls.append((url, prefix, readonly))

    tui = types.ModuleType("messai_console.tui")
    tui.run_console = run_console  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "messai_console.tui", tui)
    args = ["--redis-url", "redis://127.0.0.1:1/0", "--readonly"]
    off_terminal = CliRunner().invoke(app, args)
    assert off_terminal.exit_code == 0 and "needs a terminal" in off_terminal.stdout
    assert calls == []
    # The package exports the Typer app under the module's name: reach the module itself.
    app_module = importlib.import_module("messai_console.cli.app")
    monkeypatch.setattr(app_module, "on_terminal", lambda: True)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert calls == [("redis://127.0.0.1:1/0", "messai", True)]


def test_no_command_without_the_console_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "messai_console.tui", None)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0
    assert result.stdout.startswith("The console is not built yet")


def run_on_terminal(args: list[str], answer: bytes, timeout: float = 20) -> tuple[int, str]:
    """Run the command with stdin, stdout and stderr on a pseudo-terminal; type ``answer``
    once the question shows. Returns the exit code and everything it printed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "messai_console.cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=Path(__file__).parent,
        close_fds=True,
    )
    os.close(terminal)
    printed, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                printed += chunk
                if not answered and b"[y/N]" in printed:
                    os.write(controller, answer)
                    answered = True
            elif process.poll() is not None:
                break
        return process.wait(timeout=10), printed.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


@pytest.mark.slow
def test_drain_asks_on_a_terminal(redis_url: str, sync_queue: MakeQueue) -> None:
    queue = sync_queue("q")
    queue.add_bulk([("echo", None)] * 3)
    command = ["--redis-url", redis_url, "queue", "drain", "q"]
    code, printed = run_on_terminal(command, b"n\n")
    assert code == 1, printed
    assert "Remove the 3 waiting and delayed jobs of queue 'q'? [y/N]" in printed
    assert "cancelled; nothing changed" in printed
    assert queue.counts()["waiting"] == 3
    code, printed = run_on_terminal(command, b"y\n")
    assert code == 0, printed
    assert queue.counts()["waiting"] == 0


def test_json_output_is_ascii_only(cli: Cli, sync_queue: MakeQueue) -> None:
    job = sync_queue("q").add("echo", {"title": "Über \u202e evil"})
    result = cli("job", "get", "q", job.id, "--json")
    assert result.stdout.isascii()
    assert json.loads(result.stdout)["data"] == {"title": "Über \u202e evil"}
