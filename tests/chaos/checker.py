"""A total-queue checker in the style of Jepsen's: from the history of runs,
the faults injected, the monitor's samples and Redis's final state, it
reports what happened to every job the scenario added.

- lost: neither completed nor failed once the scenario settled (and not stuck);
- duplicates: jobs whose code ran to completion more than once;
- overlaps: jobs with two runs executing at once (a run of a killed
  process ends at its death, one that never ended at the horizon);
- stuck: in ``active`` with no live process running it;
- two-states: seen in more than one state set at one instant;
- crashed: worker processes that exited by themselves;
- max stall: the longest time no job finished while jobs were unfinished
  and a worker alive, outside Redis outages;
- recovery: the longest time from a worker's death or freeze to another
  worker starting its job, and from the end of a Redis outage to the first
  job finished after it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from tests.chaos.history import Run
from tests.chaos.monitor import Sample
from tests.chaos.timeline import Timeline

WORKER_OUTAGES = frozenset({"worker-kill", "worker-stop", "worker-crash"})
EXAMPLES = 5


class DeliveryViolation(AssertionError):
    """The checker found what a scenario does not allow."""


@dataclass
class Report:
    scenario: str
    jobs: int
    completed: int
    failed: int
    lost: int
    duplicates: int
    stuck: int
    two_states: int
    overlaps: int
    crashed: int
    max_stall_s: float
    recovery_s: float | None
    """None when no fault needed recovering from; inf when something never recovered."""
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls(**json.loads(text))

    def require(
        self,
        *,
        max_duplicates: int = 0,
        overlaps_allowed: bool = False,
        failed: int = 0,
        max_stall_s: float,
        max_recovery_s: float | None = None,
        crashes_allowed: bool = False,
    ) -> None:
        """Raise DeliveryViolation naming every property the scenario broke."""
        broken: list[str] = []
        if self.lost:
            broken.append(f"{self.lost} lost")
        if self.stuck:
            broken.append(f"{self.stuck} stuck")
        if self.two_states:
            broken.append(f"{self.two_states} in two states")
        if self.failed != failed:
            broken.append(f"{self.failed} failed, expected {failed}")
        if self.duplicates > max_duplicates:
            broken.append(f"{self.duplicates} ran to completion twice (allowed {max_duplicates})")
        if self.overlaps and not overlaps_allowed:
            broken.append(f"{self.overlaps} ran twice at once")
        if self.crashed and not crashes_allowed:
            broken.append(f"{self.crashed} workers crashed")
        if self.max_stall_s > max_stall_s:
            broken.append(f"progress stalled {_cell(self.max_stall_s)} (bound {max_stall_s:g}s)")
        if (
            max_recovery_s is not None
            and self.recovery_s is not None
            and self.recovery_s > max_recovery_s
        ):
            broken.append(f"recovery took {_cell(self.recovery_s)} (bound {max_recovery_s:g}s)")
        if broken:
            raise DeliveryViolation(f"{self.scenario}: {'; '.join(broken)}\n{self.describe()}")

    def describe(self) -> str:
        lines = [format_table([self])]
        for name, ids in self.examples.items():
            lines.append(f"{name}: {', '.join(ids)}")
        return "\n".join(lines)


@dataclass
class Observation:
    """Everything the checker reads, gathered once the scenario settled."""

    scenario: str
    job_ids: list[str]
    membership: dict[str, list[str]]
    """Final state: job id -> the states it is in."""
    runs: list[Run]
    process_ends: dict[int, float | None]
    """pid -> when it stopped running anything (None: alive at the end)."""
    crashed: int
    samples: list[Sample]
    two_states_seen: dict[str, list[str]]
    timeline: Timeline
    horizon: float
    """When the scenario settled."""
    holders: dict[str, str] = field(default_factory=dict)
    """Active job id -> how its holder stands ("chaos:123 alive"), for the examples."""


def check(obs: Observation) -> Report:
    states = {job_id: obs.membership.get(job_id, []) for job_id in obs.job_ids}
    completed = [j for j, s in states.items() if s == ["completed"]]
    failed = [j for j, s in states.items() if s == ["failed"]]
    runs_by_job: dict[str, list[Run]] = defaultdict(list)
    for run in obs.runs:
        runs_by_job[run.job_id].append(run)

    def running_now(job_id: str) -> bool:
        return any(
            run.open and obs.process_ends.get(run.pid, 0.0) is None for run in runs_by_job[job_id]
        )

    stuck = [j for j, s in states.items() if s == ["active"] and not running_now(j)]
    finished = {*completed, *failed}
    lost = [j for j in obs.job_ids if j not in finished and j not in stuck]
    duplicates = [j for j, runs in runs_by_job.items() if sum(r.end is not None for r in runs) > 1]
    overlaps = [j for j, runs in runs_by_job.items() if _overlapping(runs, obs)]
    two_states = dict(obs.two_states_seen)
    two_states.update({j: s for j, s in obs.membership.items() if len(s) > 1})

    examples = {
        "lost": [f"{j} {states[j] or 'nowhere'}" for j in lost[:EXAMPLES]],
        "stuck": [f"{j} held by {obs.holders.get(j, '?')}" for j in stuck[:EXAMPLES]],
        "two-states": [f"{j} {s}" for j, s in list(two_states.items())[:EXAMPLES]],
        "duplicates": duplicates[:EXAMPLES],
        "overlaps": overlaps[:EXAMPLES],
    }
    return Report(
        scenario=obs.scenario,
        jobs=len(obs.job_ids),
        completed=len(completed),
        failed=len(failed),
        lost=len(lost),
        duplicates=len(duplicates),
        stuck=len(stuck),
        two_states=len(two_states),
        overlaps=len(overlaps),
        crashed=obs.crashed,
        max_stall_s=_max_stall(obs),
        recovery_s=_recovery(obs, runs_by_job),
        examples={name: ids for name, ids in examples.items() if ids},
    )


def _overlapping(runs: list[Run], obs: Observation) -> bool:
    if len(runs) < 2:
        return False
    intervals = sorted(run.interval(obs.process_ends.get(run.pid), obs.horizon) for run in runs)
    latest_end = intervals[0][1]
    for start, end in intervals[1:]:
        if start < latest_end:
            return True
        latest_end = max(latest_end, end)
    return False


def _max_stall(obs: Observation) -> float:
    outages = obs.timeline.outages(obs.horizon)
    stall = 0.0
    last_progress: float | None = None
    last_finished: int | None = None
    for sample in obs.samples:
        in_outage = any(start <= sample.time <= end for start, end in outages)
        finished = sample.finished
        if in_outage or finished is None or last_progress is None or last_finished is None:
            last_progress = sample.time
            if finished is not None:
                last_finished = finished
            continue
        if finished > last_finished or sample.unfinished == 0 or sample.workers_serving == 0:
            last_progress = sample.time
        else:
            stall = max(stall, sample.time - last_progress)
        last_finished = finished
    return stall


def _recovery(obs: Observation, runs_by_job: dict[str, list[Run]]) -> float | None:
    times: list[float] = []
    for fault in obs.timeline.faults:
        if fault.kind in WORKER_OUTAGES and fault.target is not None:
            for run in obs.runs:
                if run.pid != fault.target or run.start > fault.start:
                    continue
                stopped = run.end if run.end is not None else run.cancelled
                if stopped is not None and stopped <= fault.start:
                    continue
                later = [
                    r.start
                    for r in runs_by_job[run.job_id]
                    if r.pid != fault.target and r.start > fault.start
                ]
                if later:
                    times.append(min(later) - fault.start)
                elif run.job_id not in _finished_ids(obs):
                    times.append(math.inf)
        elif fault.kind in ("redis-kill", "redis-freeze", "oom", "flush"):
            healed = fault.end if fault.end is not None else obs.horizon
            times.extend(_first_progress_after(obs.samples, healed))
    return max(times) if times else None


def _finished_ids(obs: Observation) -> set[str]:
    return {j for j, s in obs.membership.items() if s in (["completed"], ["failed"])}


def _first_progress_after(samples: list[Sample], healed: float) -> list[float]:
    """Time from ``healed`` to the first sample that counts more finished jobs
    than the first one read after it ([] when nothing was left to do). The
    finished count just before the fault is no base: jobs that finished
    between that sample and the fault would pass for progress after it."""
    after = [s for s in samples if s.time >= healed and s.finished is not None]
    if not after:
        return [math.inf]
    base = after[0]
    if base.unfinished == 0:
        return [base.time - healed]
    for sample in after[1:]:
        if (sample.finished or 0) > (base.finished or 0) or sample.unfinished == 0:
            return [sample.time - healed]
    return [math.inf]


COLUMNS = (
    ("scenario", "scenario"),
    ("jobs", "jobs"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("lost", "lost"),
    ("duplicates", "dup"),
    ("stuck", "stuck"),
    ("two_states", "2-states"),
    ("overlaps", "overlap"),
    ("crashed", "crashed"),
    ("max_stall_s", "max stall"),
    ("recovery_s", "recovery"),
)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "never" if math.isinf(value) else f"{value:.2f}s"
    return str(value)


def format_table(reports: list[Report]) -> str:
    rows = [[header for _, header in COLUMNS]]
    rows += [[_cell(getattr(report, name)) for name, _ in COLUMNS] for report in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
