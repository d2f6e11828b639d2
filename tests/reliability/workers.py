"""Worker processes for the reliability tests: real ``messai-console worker``
OS processes, started from the repo root so that
``tests.reliability.processors`` imports.

Each process writes its stdout (one line per job state change) and stderr
(logs) to files in the test's directory, so a busy worker never blocks on a
full pipe and a failing test can show what the workers said.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine import Job, Queue
from tests.helpers import await_until, wait_until
from tests.reliability.processors import EXEC_DIR_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE = str(Path(sys.executable).parent / "messai-console")
LEASE_MS = 1000
STALL_INTERVAL_MS = 200
SERVING_TIMEOUT_S = 20.0


@dataclass
class WorkerProcess:
    """One running ``messai-console worker`` process."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    label: str
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def has_line(self, job_id: str, state: str) -> bool:
        """Whether the worker printed ``job=<job_id> ... <state>``."""
        needle = f"job={job_id} "
        return any(needle in line and f" {state}" in line for line in self.stdout().splitlines())

    def wait_serving(self, timeout: float = SERVING_TIMEOUT_S) -> None:
        def serving() -> bool:
            if not self.alive():
                raise AssertionError(
                    f"worker {self.label} exited with {self.proc.returncode} before serving:\n"
                    + self.stderr()
                )
            return " serving " in self.stderr()

        wait_until(serving, timeout=timeout, message=f"worker {self.label} never said serving")

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """One SIGTERM: a graceful stop."""
        self.proc.send_signal(signal.SIGTERM)

    def describe(self) -> str:
        return (
            f"--- worker {self.label} (pid {self.pid}, rc {self.proc.poll()}) stderr:\n"
            f"{self.stderr()[-4000:]}"
        )


class WorkerPool:
    """Starts worker processes for one test; :meth:`kill_all` at teardown."""

    def __init__(self, directory: Path, exec_dir: Path) -> None:
        self.directory = directory
        self.exec_dir = exec_dir
        self.workers: list[WorkerProcess] = []

    def start(
        self,
        redis_url: str,
        queue: str | list[str],
        *,
        concurrency: int = 1,
        max_stalled: int = 1,
        shutdown_grace_ms: int = 2000,
        lease_ms: int = LEASE_MS,
        stall_interval_ms: int = STALL_INTERVAL_MS,
        quiet: bool = False,
        wait: bool = True,
    ) -> WorkerProcess:
        """Start one worker process; by default wait until it serves."""
        label = f"w{len(self.workers)}"
        args = [
            CONSOLE,
            "--redis-url",
            redis_url,
            "worker",
            *[
                arg
                for name in ([queue] if isinstance(queue, str) else queue)
                for arg in ("--queue", name)
            ],
            "--concurrency",
            str(concurrency),
            "--processors",
            "tests.reliability.processors:registry",
            "--lease-ms",
            str(lease_ms),
            "--stall-interval-ms",
            str(stall_interval_ms),
            "--max-stalled",
            str(max_stalled),
            "--shutdown-grace-ms",
            str(shutdown_grace_ms),
        ]
        if quiet:
            args.append("--quiet")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env[EXEC_DIR_ENV] = str(self.exec_dir)
        env["PYTHONUNBUFFERED"] = "1"
        stdout_path = self.directory / f"{label}.out"
        stderr_path = self.directory / f"{label}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                args,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        worker = WorkerProcess(proc, stdout_path, stderr_path, label)
        self.workers.append(worker)
        if wait:
            worker.wait_serving()
        return worker

    def alive(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.alive()]

    def describe(self) -> str:
        return "\n".join(worker.describe() for worker in self.workers)

    def kill_all(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.proc.kill()
        for worker in self.workers:
            worker.proc.wait(timeout=10)


async def wait_for_state(queue: Queue, job_id: str, state: str, timeout: float = 15.0) -> Job:
    """Poll until the job is in ``state``; returns it."""
    seen: list[Job | None] = [None]

    async def reached() -> bool:
        seen[0] = await queue.get_job(job_id)
        return seen[0] is not None and seen[0].state == state

    await await_until(
        reached,
        timeout=timeout,
        interval=0.02,
        message=f"job {job_id} did not reach {state} within {timeout:g}s",
    )
    current = seen[0]
    assert current is not None
    return current
