"""The runs of every job, read back from the workers' event files (see processors)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One execution of a job's code in one process."""

    job_id: str
    attempt: int
    pid: int
    start: float
    end: float | None = None
    """When its code ran to completion; None if it never did."""
    cancelled: float | None = None
    """When the worker stopped it (its code did not complete)."""

    @property
    def open(self) -> bool:
        """Neither completed nor stopped: running, or ended by its process's death."""
        return self.end is None and self.cancelled is None

    def interval(self, process_end: float | None, horizon: float) -> tuple[float, float]:
        """When it could have been executing: up to its end, else to its process's death."""
        for stop in (self.end, self.cancelled, process_end):
            if stop is not None:
                return self.start, stop
        return self.start, horizon


def read_runs(events_dir: Path, pid: int | None = None) -> list[Run]:
    """Every run (of one process, if ``pid`` is given), in start order. A line
    cut short by a SIGKILL mid-write is skipped."""
    runs: list[Run] = []
    pattern = f"events-{pid}.log" if pid is not None else "events-*.log"
    for path in sorted(events_dir.glob(pattern)):
        open_runs: dict[str, list[Run]] = defaultdict(list)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ")
            if len(parts) != 5 or parts[0] not in ("start", "end", "cancelled"):
                continue
            kind, job_id, attempt, pid, stamp = parts
            try:
                when = float(stamp)
                run = Run(job_id, int(attempt), int(pid), when)
            except ValueError:
                continue
            if kind == "start":
                runs.append(run)
                open_runs[job_id].append(run)
            elif open_runs[job_id]:
                ended = open_runs[job_id].pop(0)
                if kind == "end":
                    ended.end = when
                else:
                    ended.cancelled = when
    runs.sort(key=lambda run: run.start)
    return runs
