"""Chaos worker processes: started, killed, frozen, thawed, stopped and respawned.

A worker is either ``python -m tests.chaos.worker_process`` (the engine
alone) or the ``messai-console worker`` CLI, both with the processors of
``tests.chaos.processors``. Each writes its stderr to a file in the test's
directory (a full pipe must never block a worker). A thread per process
waits for its exit, so the time of every death is known to the millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.processors import EVENTS_DIR_ENV
from tests.chaos.timeline import Fault, Timeline
from tests.helpers import await_until

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE = str(Path(sys.executable).parent / "messai-console")
SERVING_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker process."""

    concurrency: int = 4
    lease_ms: int = 1000
    stall_interval_ms: int = 250
    max_stalled: int = 1000
    shutdown_grace_ms: int = 2000
    prefetch: str = "auto"
    cli: bool = False
    """Run the ``messai-console worker`` CLI instead of the engine-only script."""

    def args(self, url: str, queue: str) -> list[str]:
        options = [
            "--concurrency",
            str(self.concurrency),
            "--lease-ms",
            str(self.lease_ms),
            "--stall-interval-ms",
            str(self.stall_interval_ms),
            "--max-stalled",
            str(self.max_stalled),
            "--shutdown-grace-ms",
            str(self.shutdown_grace_ms),
            "--prefetch",
            self.prefetch,
        ]
        if self.cli:
            return [
                CONSOLE,
                "--redis-url",
                url,
                "worker",
                "--queue",
                queue,
                "--processors",
                "tests.chaos.processors:registry",
                "--quiet",
                *options,
            ]
        return [
            sys.executable,
            "-m",
            "tests.chaos.worker_process",
            "--url",
            url,
            "--queue",
            queue,
            *options,
        ]


@dataclass(eq=False)
class WorkerProcess:
    label: str
    proc: subprocess.Popen[bytes]
    spec: WorkerSpec
    stderr_path: Path
    started_at: float = field(default_factory=time.monotonic)
    died_at: float | None = None
    """When the process was seen to exit (set by its waiting thread)."""
    killed_at: float | None = None
    """When the harness sent SIGKILL: the end of anything it ran."""
    terminated: bool = False
    """The harness asked it to stop (SIGTERM): its exit is no crash."""
    _served: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.died_at is None and self.killed_at is None

    @property
    def end_time(self) -> float | None:
        """When it stopped running anything (None while alive)."""
        if self.killed_at is not None:
            return self.killed_at
        return self.died_at

    @property
    def crashed(self) -> bool:
        """It exited on its own: not killed, not asked to stop."""
        return self.died_at is not None and self.killed_at is None and not self.terminated

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def serving(self) -> bool:
        """It said it serves (and a process that served once stays counted as such)."""
        if not self._served:
            self._served = " serving " in self.stderr()
        return self._served

    @property
    def worker_id(self) -> str | None:
        """The engine's id of this worker, from its ``worker <id> serving`` line."""
        for line in self.stderr().splitlines():
            if line.startswith("worker ") and " serving " in line:
                return line.split(" ", 2)[1]
        return None

    def describe(self) -> str:
        return (
            f"--- worker {self.label} (pid {self.pid}, rc {self.proc.returncode}"
            f"{_proc_state(self.pid) if self.proc.returncode is None else ''}) stderr tail:\n"
            f"{self.stderr()[-3000:]}"
        )


class Fleet:
    """The worker processes of one scenario."""

    def __init__(self, directory: Path, events_dir: Path, timeline: Timeline) -> None:
        self.directory = directory
        self.events_dir = events_dir
        self.timeline = timeline
        self.workers: list[WorkerProcess] = []

    def start(self, url: str, queue: str, spec: WorkerSpec) -> WorkerProcess:
        """Start one worker process (without waiting for it to serve)."""
        label = f"w{len(self.workers)}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env[EVENTS_DIR_ENV] = str(self.events_dir)
        env["PYTHONUNBUFFERED"] = "1"
        stderr_path = self.directory / f"{label}.err"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                spec.args(url, queue),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        worker = WorkerProcess(label, proc, spec, stderr_path)
        self.workers.append(worker)
        threading.Thread(target=self._wait_exit, args=(worker,), daemon=True).start()
        return worker

    @staticmethod
    def _wait_exit(worker: WorkerProcess) -> None:
        worker.proc.wait()
        worker.died_at = time.monotonic()

    async def start_serving(
        self, url: str, queue: str, spec: WorkerSpec, count: int = 1
    ) -> list[WorkerProcess]:
        """Start ``count`` workers and wait until every one serves."""
        started = [self.start(url, queue, spec) for _ in range(count)]

        def all_serving() -> bool:
            for worker in started:
                if worker.died_at is not None:
                    raise AssertionError(f"a worker exited before serving:\n{worker.describe()}")
            return all(worker.serving() for worker in started)

        await await_until(all_serving, timeout=SERVING_TIMEOUT_S, interval=0.05)
        return started

    def alive(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.alive()]

    def serving(self) -> list[WorkerProcess]:
        """Alive and serving: a process still starting up (slow on a loaded machine) is not."""
        return [worker for worker in self.workers if worker.alive() and worker.serving()]

    def by_pid(self) -> dict[int, WorkerProcess]:
        return {worker.pid: worker for worker in self.workers}

    def crashes(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.crashed]

    def kill(self, worker: WorkerProcess) -> None:
        """SIGKILL: everything it ran ends now."""
        self.timeline.instant("worker-kill", worker.pid)
        worker.killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            worker.proc.send_signal(signal.SIGKILL)

    def freeze(self, worker: WorkerProcess) -> Fault:
        """SIGSTOP; returns the fault, to be passed to :meth:`thaw`."""
        fault = self.timeline.begin("worker-stop", worker.pid)
        worker.proc.send_signal(signal.SIGSTOP)
        return fault

    def thaw(self, worker: WorkerProcess, fault: Fault) -> None:
        with contextlib.suppress(ProcessLookupError):
            worker.proc.send_signal(signal.SIGCONT)
        self.timeline.heal(fault)

    def terminate(self, worker: WorkerProcess) -> None:
        """One SIGTERM: a graceful stop."""
        self.timeline.instant("worker-term", worker.pid)
        worker.terminated = True
        with contextlib.suppress(ProcessLookupError):
            worker.proc.send_signal(signal.SIGTERM)

    async def keep_alive(
        self, url: str, queue: str, spec: WorkerSpec, count: int, stop: asyncio.Event
    ) -> None:
        """Respawn workers until ``stop``: ``count`` processes are kept running."""
        while not stop.is_set():
            for _ in range(count - len(self.alive())):
                self.start(url, queue, spec)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    def kill_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(signal.SIGCONT)
                    worker.proc.kill()
        for worker in self.workers:
            worker.proc.wait(timeout=10)

    def describe(self) -> str:
        return "\n".join(worker.describe() for worker in self.workers)


def _proc_state(pid: int) -> str:
    """For a process that is still there: its scheduler state and where it waits."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return ""
    state = next(
        (
            line.split(":", 1)[1].strip()
            for line in status.splitlines()
            if line.startswith("State:")
        ),
        "?",
    )
    return f", state {state}, waiting in {wchan or '-'}"
