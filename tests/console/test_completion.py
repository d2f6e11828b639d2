"""Shell completion offers queue names read from Redis, through the environment
variables the shells' completion scripts set (as typer's own tests do)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from engine.sync import SyncQueue
from messai_console.cli.completion import COMPLETION_DEADLINE_S


def complete(words: str, shell: str = "bash", **env: str) -> subprocess.CompletedProcess[str]:
    """What the shell's completion script gets back for the command line ``words``."""
    shell_env = (
        {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
        if shell == "bash"
        else {"_TYPER_COMPLETE_ARGS": words}
    )
    return subprocess.run(
        [sys.executable, "-m", "messai_console.cli"],
        env={
            **os.environ,
            "_MESSAI_CONSOLE_COMPLETE": f"complete_{shell}",
            **shell_env,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def three_queues(redis_url: str) -> None:
    for name in ("papers", "papers-2", "emails"):
        queue = SyncQueue(name, redis_url)
        queue.add("echo")
        queue.close()


@pytest.mark.usefixtures("three_queues")
def test_queue_arguments_complete_from_the_registry(redis_url: str) -> None:
    line = f"messai-console --redis-url {redis_url}"
    done = complete(f"{line} queue stats pa")
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, ["papers", "papers-2"], "")
    assert complete(f"{line} job get ").stdout.split() == ["emails", "papers", "papers-2"]
    assert complete(f"{line} events -q e").stdout.split() == ["emails"]
    assert complete(f"{line} worker --queue papers-").stdout.split() == ["papers-2"]
    zsh = complete(f"{line} job retry em", shell="zsh")
    assert zsh.returncode == 0 and '"emails"' in zsh.stdout and "papers" not in zsh.stdout


@pytest.mark.usefixtures("three_queues")
def test_completion_reads_the_configured_redis_url(redis_url: str) -> None:
    done = complete("messai-console queue pause pap", REDIS_URL=redis_url)
    assert done.stdout.split() == ["papers", "papers-2"]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.mark.parametrize("where", ["closed", "silent"])
def test_completion_with_redis_unreachable_offers_nothing_quietly_and_soon(
    where: str, silent_server: str
) -> None:
    url = "redis://127.0.0.1:1/0" if where == "closed" else silent_server
    began = time.monotonic()
    done = complete(f"messai-console --redis-url {url} queue stats pa")
    started_alone = time.monotonic()
    complete("messai-console --redis-url x version ")  # no queue to complete: startup alone
    startup = time.monotonic() - started_alone
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "", "")
    # the wait for Redis adds at most the deadline (and a loaded machine's slack)
    assert started_alone - began < startup + COMPLETION_DEADLINE_S + 3
