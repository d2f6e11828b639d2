"""The jobs a worker holds, and the one account of its slots.

A job leased by a fetch is *held* from the reply until its outcome is
queued for the next exchange. While held it is either *buffered* (leased,
not started: prefetched, or just arrived) or *running* (its task runs). A
job whose lease was lost is no longer held, but its task may still run
until the processor notices (*abandoned*): it still occupies a slot.

Beside the jobs, the account counts what the exchanges in flight will bring
(``reserved`` jobs asked for, ``starting`` of them to start at once) and
what the next exchange must tell Redis (``outcomes``, and ``notices`` of
prefetched jobs that started). Every change goes through a named operation
here, and :meth:`Slots.check` states the invariant that ties the counts
together.

A job that comes back from a stall, or that a sweep put back from a dead
worker before it heard the job start (*isolated*), runs alone: it arrives
reserved and alone in its call (``lua/includes/fetch.lua``); while it is
held nothing more is fetched and a job that arrives anyway goes back; it
waits in the buffer until nothing else runs, then Redis hears that it
starts (a notice) and only once Redis answered does it start. So if it
kills the process, it alone counts a stall, and no other job does; the worker runs it after every exchange when ``MESSAI_CHECK_SLOTS=1``
(the test suites set it).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from engine.context import JobContext
from engine.contracts.worker import OutcomeArgs, OutcomeKind
from engine.keys import QueueKeys
from engine.options import JobOptions


@dataclass(eq=False)
class RunningJob:
    """A job this worker holds the lease of."""

    queue: QueueKeys
    job_id: str
    token: str
    name: str
    options: JobOptions
    attempt: int
    context: JobContext
    started: float = field(default_factory=time.monotonic)
    """When it was leased; when it started, once it did (monotonic)."""
    task: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    """Why the worker cancelled the task: "operator", "lease-lost" or "shutdown"."""
    has_dependents: bool = False
    """Other jobs wait for this one (chains, flows): its outcome releases them."""
    bad_data: Exception | None = None
    """Why its stored data or options could not be read (it fails at once)."""
    reserved: bool = False
    """Leased as prefetched: Redis holds it as not started until told otherwise."""
    in_thread: bool = False
    """Its processor runs in the thread pool: its task cannot stop the code."""
    isolated: bool = False
    """It came back from a stall: it runs alone (see the module docstring)."""
    notice_queued: bool = False
    """Isolated: its start notice is queued or sent; it starts once Redis answered."""
    shutdown_asked: bool = False
    """A thread job still running when the grace period ended: kept leased
    until its thread ends; an exception it raises then hands it back."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.queue.name, self.job_id)


@dataclass(slots=True, eq=False)
class Outcome:
    """The end of one run, waiting to be reported in the next exchange."""

    job: RunningJob
    args: OutcomeArgs
    """What ``finish`` receives."""

    @classmethod
    def of(
        cls,
        job: RunningJob,
        kind: OutcomeKind,
        value: str = "",
        stack: str = "",
        runtime_ms: int = 0,
        delay_ms: int = 0,
    ) -> Outcome:
        options = job.options
        keep = (
            options.keep_completed
            if kind is OutcomeKind.COMPLETED
            else options.keep_failed
            if kind is OutcomeKind.FAILED or kind is OutcomeKind.CANCELLED
            else None
        )
        return cls(
            job,
            OutcomeArgs(
                job.job_id,
                job.token,
                kind,
                value,
                stack,
                runtime_ms,
                delay_ms,
                "" if keep is None else keep.rule,
                options.keep_logs,
                job.attempt,
                job.has_dependents,
            ),
        )

    @property
    def kind(self) -> OutcomeKind:
        return self.args.kind


class SlotsError(AssertionError):
    """The slot account broke its invariant (a defect of the worker)."""


class Slots:
    """The account of one worker's jobs and exchanges; see the module docstring."""

    def __init__(self, concurrency: int, max_in_flight: int) -> None:
        self.concurrency = concurrency
        self.max_in_flight = max_in_flight
        self._held: dict[tuple[str, str], RunningJob] = {}
        self._buffer: collections.deque[RunningJob] = collections.deque()
        self._abandoned: set[RunningJob] = set()
        self.active = 0
        """Tasks running now, abandoned ones included (at most concurrency)."""
        self.reserved = 0
        """Jobs asked for by the fetches in flight."""
        self.starting = 0
        """Of those, jobs to start at once (the rest are prefetched)."""
        self.in_flight = 0
        """Exchanges sent whose replies have not been handled yet."""
        self._notices: dict[str, list[RunningJob]] = {}
        self._outcomes: list[Outcome] = []
        self.isolating: RunningJob | None = None
        """The isolated job held now: nothing is fetched until it ends."""
        self.checks = 0
        """How many times :meth:`check` ran (tests assert that it did)."""

    # -- reading ------------------------------------------------------------

    @property
    def held_count(self) -> int:
        return len(self._held)

    @property
    def outcome_count(self) -> int:
        """Outcomes waiting for the next exchange."""
        return len(self._outcomes)

    @property
    def buffered_count(self) -> int:
        return len(self._buffer)

    def get(self, queue: str, job_id: str) -> RunningJob | None:
        return self._held.get((queue, job_id))

    def held(self) -> list[RunningJob]:
        """Every job held now (a copy: the caller may stop them)."""
        return list(self._held.values())

    def reported(self) -> list[RunningJob]:
        """Jobs that ended, whose outcomes wait for the next exchange: their
        leases are still this worker's (a refusing server can hold an outcome
        back for longer than a lease)."""
        return [outcome.job for outcome in self._outcomes]

    def running(self) -> list[RunningJob]:
        """Jobs whose task runs now: held ones, and abandoned ones (lease lost)."""
        jobs = [job for job in self._held.values() if job.task is not None]
        jobs.extend(self._abandoned)
        return [job for job in jobs if job.task is not None and not job.task.done()]

    def first_buffered(self) -> RunningJob | None:
        return self._buffer[0] if self._buffer else None

    @property
    def has_report(self) -> bool:
        """Redis has something to learn: outcomes, or prefetched jobs that started."""
        return bool(self._outcomes or self._notices)

    @property
    def idle(self) -> bool:
        """Nothing held, nothing to report, nothing in flight: a stop may end."""
        return not self._held and not self._outcomes and not self.in_flight

    def free(self, capacity: int) -> int:
        """How many more jobs may be leased with ``capacity`` slots in all
        (concurrency plus prefetch); the fetches in flight count."""
        return capacity - len(self._held) - self.reserved

    def start_room(self) -> int:
        """How many jobs a fetch sent now could start at once: the rest of
        what it brings waits in the buffer (prefetched)."""
        return max(self.concurrency - self.active - len(self._buffer) - self.starting, 0)

    # -- jobs ---------------------------------------------------------------

    def lease(self, job: RunningJob) -> None:
        """A fetch brought ``job``: held, buffered until a slot is free. While an
        isolated job is held, another that arrives (a fetch that was already in
        flight) goes back to waiting with the next exchange."""
        if self.isolating is not None:
            self._outcomes.append(Outcome.of(job, OutcomeKind.HANDED_BACK, "isolating"))
            return
        if job.isolated:
            self.isolating = job
        self._held[job.key] = job
        self._buffer.append(job)

    def start_next(self) -> RunningJob | None:
        """The next buffered job, now counted as running, if a slot is free
        (the caller creates its task). Starting a prefetched job is noted for
        the next exchange: from then on a stall counts."""
        if not self._buffer or self.active >= self.concurrency:
            return None
        job = self._buffer[0]
        if job.isolated and (self.active or job.reserved):
            if not self.active and not job.notice_queued:
                # alone now: Redis hears that it starts, then it starts
                job.notice_queued = True
                self._notices.setdefault(job.queue.name, []).append(job)
            return None
        self._buffer.popleft()
        job.started = time.monotonic()
        if job.reserved:
            job.reserved = False
            self._notices.setdefault(job.queue.name, []).append(job)
        self.active += 1
        return job

    def finish(self, job: RunningJob, outcome: Outcome | None) -> None:
        """``job``'s task ended; ``outcome`` (if any) goes out with the next exchange."""
        self.active -= 1
        if self._held.get(job.key) is job:
            del self._held[job.key]
        self._abandoned.discard(job)
        if job is self.isolating:
            self.isolating = None
        if outcome is not None:
            self._outcomes.append(outcome)

    def abandon(self, job: RunningJob) -> None:
        """``job``'s lease was lost while its task runs: no longer held, but
        its slot stays taken until the task ends."""
        if self._held.get(job.key) is job:
            del self._held[job.key]
            self._abandoned.add(job)

    def drop(self, job: RunningJob, outcome: Outcome | None = None) -> None:
        """A buffered ``job`` leaves without starting (cancelled, handed back)."""
        self._buffer.remove(job)
        del self._held[job.key]
        if job is self.isolating:
            self.isolating = None
        if outcome is not None:
            self._outcomes.append(outcome)

    def hand_back_buffered(self, reason: str = "", leased_before: float | None = None) -> int:
        """Buffered jobs (those leased before ``leased_before``, if given) go
        back to waiting with the next exchange; returns how many."""
        count = 0
        while self._buffer and (leased_before is None or self._buffer[0].started <= leased_before):
            if leased_before is not None and self._buffer[0] is self.isolating:
                break  # it waits for the jobs before it to end, not for a slot
            job = self._buffer.popleft()
            del self._held[job.key]
            if job is self.isolating:
                self.isolating = None
            self._outcomes.append(Outcome.of(job, OutcomeKind.HANDED_BACK, reason))
            count += 1
        return count

    # -- exchanges ----------------------------------------------------------

    def exchange_sent(self) -> None:
        self.in_flight += 1

    def exchange_done(self) -> None:
        self.in_flight -= 1

    def fetch_sent(self, want: int, start_now: int) -> None:
        """A call asking for ``want`` jobs, ``start_now`` of them to start at once, is out."""
        if not 0 <= start_now <= want:
            raise SlotsError(f"a fetch of {want} jobs, {start_now} of them to start at once")
        self.reserved += want
        self.starting += start_now

    def fetch_answered(self, want: int, start_now: int) -> None:
        """That call's reply arrived (or it failed): its jobs are leased or never will be."""
        self.reserved -= want
        self.starting -= start_now

    def take_outcomes(self) -> list[Outcome]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def take_notices(self, queue: str, ended: list[Outcome]) -> list[RunningJob]:
        """Prefetched jobs of ``queue`` started since the last exchange, for
        Redis to hear of; a job that also ended (in ``ended``) needs no word."""
        jobs = self._notices.pop(queue, None)
        if not jobs:
            return []
        if ended:
            gone = {id(outcome.job) for outcome in ended}
            jobs = [job for job in jobs if id(job) not in gone]
        return jobs

    def noticed(self, jobs: list[RunningJob]) -> None:
        """Redis heard that these jobs started: an isolated one may start now."""
        for job in jobs:
            if job.isolated:
                job.reserved = False

    def put_back(
        self,
        outcomes: list[Outcome],
        queue: str | None = None,
        notices: list[RunningJob] | None = None,
    ) -> None:
        """An exchange failed: what it carried goes out with the next one."""
        self._outcomes[:0] = outcomes
        if notices and queue is not None:
            self._notices.setdefault(queue, [])[:0] = notices

    # -- the invariant ------------------------------------------------------

    def check(self, capacity: int | None = None) -> None:
        """Raise :class:`SlotsError` unless the account is consistent.
        ``capacity``: the most jobs held and reserved together (a fixed prefetch)."""
        self.checks += 1
        problems: list[str] = []
        buffered = {id(job) for job in self._buffer}
        if len(buffered) != len(self._buffer):
            problems.append("a job is buffered twice")
        for job in self._buffer:
            if self._held.get(job.key) is not job:
                problems.append(f"buffered job {job.job_id} is not held")
            if job.task is not None:
                problems.append(f"buffered job {job.job_id} has a task")
        running = [job for job in self._held.values() if id(job) not in buffered]
        for job in running:
            if job.task is None or job.task.done():
                problems.append(f"held job {job.job_id} is neither buffered nor running")
            if job.reserved:
                problems.append(f"running job {job.job_id} is still marked reserved")
        for job in self._abandoned:
            if self._held.get(job.key) is job:
                problems.append(f"abandoned job {job.job_id} is still held")
        if self.active != len(running) + len(self._abandoned):
            problems.append(
                f"active = {self.active}, but {len(running)} running and "
                f"{len(self._abandoned)} abandoned"
            )
        if not 0 <= self.active <= self.concurrency:
            problems.append(f"active = {self.active} outside 0..{self.concurrency}")
        if not 0 <= self.starting <= self.reserved:
            problems.append(f"starting = {self.starting}, reserved = {self.reserved}")
        if not 0 <= self.in_flight <= self.max_in_flight:
            problems.append(f"in_flight = {self.in_flight} outside 0..{self.max_in_flight}")
        if not self.in_flight and self.reserved:
            problems.append(f"reserved = {self.reserved} with no exchange in flight")
        for queue, jobs in self._notices.items():
            for job in jobs:
                # an isolated job's notice goes before its start
                started = job.task is not None and not job.reserved
                waiting_alone = job.isolated and job.notice_queued and job.task is None
                if job.queue.name != queue or not (started or waiting_alone):
                    problems.append(f"notice for job {job.job_id} that did not start on {queue}")
        isolated = self.isolating
        if isolated is not None:
            if self._held.get(isolated.key) is not isolated and isolated not in self._abandoned:
                problems.append(f"isolated job {isolated.job_id} is neither held nor running")
            if isolated.task is not None and not isolated.task.done() and self.active != 1:
                problems.append(f"isolated job {isolated.job_id} runs beside {self.active - 1}")
            if self._buffer and self._buffer[-1] is not isolated and isolated.task is None:
                problems.append(f"a job is buffered behind isolated job {isolated.job_id}")
        for outcome in self._outcomes:
            if self._held.get(outcome.job.key) is outcome.job:
                problems.append(f"job {outcome.job.job_id} has an outcome but is still held")
        if capacity is not None and len(self._held) + self.reserved > capacity:
            problems.append(
                f"{len(self._held)} held + {self.reserved} reserved > capacity {capacity}"
            )
        if problems:
            raise SlotsError("; ".join(problems))
