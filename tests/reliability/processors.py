"""Processors for the reliability tests, loaded by worker processes with
``--processors tests.reliability.processors:registry``.

Every run is recorded OUTSIDE the engine, so that a test can count what
really ran even when Redis itself is killed: each worker process appends
lines to its own file ``<TEST_EXEC_DIR>/exec-<pid>.log`` (written and
flushed before the processor returns or kills its process; a SIGKILL does
not lose what was already written, the kernel holds it). A line is
``<event> <job id> <attempt>``, events ``run`` (count, suicide, kill_once),
``start`` and ``end`` (slow).

Switches, also files in ``TEST_EXEC_DIR`` (they survive Redis restarts):
``fast`` makes ``slow`` return at once; ``killed-<job id>`` marks that
``kill_once`` has already killed a worker for that job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from engine import JobContext, ProcessorRegistry

EXEC_DIR_ENV = "TEST_EXEC_DIR"

registry = ProcessorRegistry()

_log: IO[str] | None = None


def _exec_dir() -> Path:
    return Path(os.environ[EXEC_DIR_ENV])


def _record(event: str, ctx: JobContext) -> None:
    global _log
    if _log is None:
        _log = (_exec_dir() / f"exec-{os.getpid()}.log").open("a", encoding="utf-8")
    _log.write(f"{event} {ctx.job_id} {ctx.attempt}\n")
    _log.flush()


def _data(ctx: JobContext) -> dict[str, Any]:
    return ctx.data if isinstance(ctx.data, dict) else {}


@registry.register("count")
async def count(ctx: JobContext) -> str:
    """Records one execution; sleeps ``data["ms"]`` (default 0) to simulate work."""
    _record("run", ctx)
    ms = int(_data(ctx).get("ms", 0))
    if ms:
        await asyncio.sleep(ms / 1000)
    return ctx.job_id


@registry.register("slow")
async def slow(ctx: JobContext) -> str:
    """Records its start, sleeps ``data["ms"]`` (unless the ``fast`` switch is on), records its end."""
    _record("start", ctx)
    if not (_exec_dir() / "fast").exists():
        await asyncio.sleep(int(_data(ctx).get("ms", 1000)) / 1000)
    _record("end", ctx)
    return "slept"


@registry.register("suicide")
async def suicide(ctx: JobContext) -> None:
    """Kills its own worker process, every time."""
    _record("run", ctx)
    os.kill(os.getpid(), signal.SIGKILL)


@registry.register("kill_once")
async def kill_once(ctx: JobContext) -> str:
    """Kills its worker the first time it runs for a job id; succeeds afterwards."""
    _record("run", ctx)
    try:
        fd = os.open(_exec_dir() / f"killed-{ctx.job_id}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "survived"
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


@registry.register("step")
async def step(ctx: JobContext) -> int:
    """A chain step: records ``step <chain> <index> <start> <end>`` (wall clock) to
    ``steps-<pid>.log``; sleeps ``data["ms"]``; returns its index."""
    data = _data(ctx)
    started = time.time()
    await asyncio.sleep(int(data.get("ms", 0)) / 1000)
    with (_exec_dir() / f"steps-{os.getpid()}.log").open("a", encoding="utf-8") as log:
        log.write(f"step {data['chain']} {data['index']} {started:.6f} {time.time():.6f}\n")
    return int(data["index"])


def read_steps(exec_dir: Path) -> dict[int, dict[int, list[tuple[float, float]]]]:
    """chain -> step index -> [(start, end)] of every completed run."""
    steps: dict[int, dict[int, list[tuple[float, float]]]] = {}
    for path in exec_dir.glob("steps-*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "step":
                runs = steps.setdefault(int(parts[1]), {}).setdefault(int(parts[2]), [])
                runs.append((float(parts[3]), float(parts[4])))
    return steps


def read_executions(exec_dir: Path, event: str = "run") -> Counter[str]:
    """How many times each job id logged ``event``, across every worker process's file."""
    counts: Counter[str] = Counter()
    for path in exec_dir.glob("exec-*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            # a process killed mid-write could leave a partial last line
            if len(parts) == 3 and parts[0] == event:
                counts[parts[1]] += 1
    return counts


def recording_processes(exec_dir: Path) -> int:
    """How many worker processes recorded at least one run."""
    return len(list(exec_dir.glob("exec-*.log")))


@registry.register("parent")
async def parent(ctx: JobContext) -> int:
    """A flow's parent: records ``parent <queue>:<id> <results>`` to
    ``parents-<pid>.log`` (how many child results it received)."""
    with (_exec_dir() / f"parents-{os.getpid()}.log").open("a", encoding="utf-8") as log:
        log.write(f"parent {ctx.queue}:{ctx.job_id} {len(ctx.dependency_results)}\n")
    return len(ctx.dependency_results)


def read_parents(exec_dir: Path) -> list[tuple[str, int]]:
    """(parent "<queue>:<id>", child results received) per run of a parent."""
    runs = []
    for path in exec_dir.glob("parents-*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "parent":
                runs.append((parts[1], int(parts[2])))
    return runs
