"""``messai-console worker --reload``: restart the worker when a processor's source changes.

The worker runs as a child process in a session of its own (a Ctrl-C in the
terminal reaches only this supervisor). On a change of a ``.py`` file under
the watched directories, the child gets one SIGTERM, the same graceful stop
as in production: it fetches no more, lets running jobs finish within its
grace period, hands the others back to waiting; then a new child starts with
the new code. A child that is still running well past its grace is killed
(its leases expire and the jobs are recovered as after a crash).
"""

from __future__ import annotations

import importlib.util
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import watchfiles

STOP_MARGIN_S = 10.0
"""How long past its shutdown grace a stopping worker may take before it is killed."""


def source_dirs(processors: str | None) -> list[Path]:
    """The job catalog's package and the directory of the ``--processors`` module."""
    paths = [Path(__file__).resolve().parent.parent / "jobs"]
    if processors:
        module = processors.partition(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
            paths.append(Path(spec.origin).resolve().parent)
    return list(dict.fromkeys(paths))


def worker_command(argv: list[str]) -> list[str]:
    """This command line less ``--reload``, run with this Python."""
    return [sys.executable, "-m", "messai_console.cli", *(a for a in argv if a != "--reload")]


def _say(line: str) -> None:
    print(f"reload: {line}", file=sys.stderr, flush=True)


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, start_new_session=True)


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_s + STOP_MARGIN_S)
    except subprocess.TimeoutExpired:
        _say("the worker did not stop in time; killing it")
        process.kill()
        process.wait()


def run_with_reload(argv: list[str], paths: list[Path], grace_s: float) -> int:
    """Run the worker, restarting it gracefully on each change; until Ctrl-C or SIGTERM."""
    command = worker_command(argv)
    watched = [path for path in paths if path.exists()]
    _say("watching " + ", ".join(str(path) for path in watched))
    _say("running " + shlex.join(command[1:]))
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    process = _start(command)
    try:
        for changes in watchfiles.watch(
            *watched, watch_filter=watchfiles.PythonFilter(), debounce=400, step=50
        ):
            names = sorted({Path(path).name for _change, path in changes})
            _say(f"{', '.join(names)} changed; stopping the worker gracefully")
            started = time.monotonic()
            _stop(process, grace_s)
            _say(f"stopped in {time.monotonic() - started:.1f}s; starting it again")
            process = _start(command)
    except KeyboardInterrupt:
        _say("stopping the worker")
    finally:
        try:
            _stop(process, grace_s)
        except KeyboardInterrupt:  # a second Ctrl-C: at once, as the worker itself does
            process.kill()
            process.wait()
    return process.returncode or 0
