"""The worker's exchange with Redis: report outcomes, lease the next jobs.

One exchange makes one script call per queue that has something to say or
room to fill: ``finish`` when outcomes or start notices are due (it records
them and fetches in the same call), else ``fetch``. Up to
:data:`MAX_IN_FLIGHT` exchanges overlap, so that while Redis runs one, this
process starts the jobs the other brought and collects their outcomes.

How many jobs to ask for is the prefetch policy (:class:`PrefetchPolicy`):
beyond the free running slots, a worker may lease jobs ahead so that the
next one starts the moment a slot frees instead of a round trip later.

Every count this module changes lives in :class:`engine.worker.slots.Slots`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import ResponseError

from engine.contracts.worker import (
    FetchReply,
    FetchRequest,
    FinishReply,
    FinishRequest,
    StartedNotice,
)
from engine.keys import QueueKeys
from engine.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED, Keep
from engine.resp import pack
from engine.scripts import BoundScript, scripts
from engine.wire import Channel, WireChannel
from engine.worker.runner import JobRunner
from engine.worker.slots import Outcome, RunningJob, Slots

AUTO_PREFETCH_MAX_MS = 10.0
"""Auto prefetch works while jobs take less than this on average: beyond
it a round trip is a small part of a job, and a prefetched job waits long."""
AUTO_PREFETCH_WINDOW_MS = 2.0
"""Auto prefetch leases, beyond the concurrency, about this much work per
slot (by the recent mean run time), so that a few short jobs share one
exchange: at concurrency 1, one job per exchange spends more in the call
than in the job."""
AUTO_PREFETCH_MAX_JOBS = 32
"""The most auto prefetch leases beyond the concurrency for very short jobs
(unless the concurrency is larger: then as many as the concurrency)."""
PREFETCH_HOLD_MS = 100.0
"""Auto prefetch: a prefetched job not started within this goes back to waiting."""
MAX_IN_FLIGHT = 2
"""Exchanges one worker may have in flight: while Redis runs one, this
process starts the jobs the other brought and collects their outcomes."""
IDLE_RECHECK_S = 2.0
"""An idle worker looks at its queues at least this often, even without a wake-up."""

Reported = Callable[[Outcome, bool], None]
"""``reported(outcome, lost)``: Redis recorded an outcome (or refused it: ``lost``)."""


@dataclass
class QueueState:
    """What the worker knows of one of its queues."""

    keys: QueueKeys
    finish: BoundScript
    fetch: BoundScript
    maybe_has_work: bool = True
    next_check: float = 0.0
    """Monotonic time when a delayed job falls due or a rate limit window ends."""
    at_cap: bool = False
    """The last fetch found the queue's global concurrency cap full ("busy"):
    a job of it that ends here frees a slot, so its finish fetches too."""

    @classmethod
    def of(cls, keys: QueueKeys, cluster: bool = False) -> QueueState:
        """The state of the queue of ``keys``; ``cluster``: on a Redis Cluster."""
        loaded = scripts()
        script_keys = keys.script_keys_on(cluster)
        return cls(
            keys,
            finish=BoundScript(loaded.finish, script_keys),
            fetch=BoundScript(loaded.fetch, script_keys),
        )

    def due(self, now: float) -> bool:
        """Whether a fetch may find work here."""
        return self.maybe_has_work or bool(self.next_check and self.next_check <= now)


def auto_prefetch(concurrency: int, mean_ms: float) -> int:
    """Jobs auto prefetch leases beyond ``concurrency`` for jobs of ``mean_ms``
    (under AUTO_PREFETCH_MAX_MS): the concurrency, or the window's worth of
    jobs per slot when that is more, up to AUTO_PREFETCH_MAX_JOBS."""
    per_window = concurrency * AUTO_PREFETCH_WINDOW_MS / max(mean_ms, 0.001)
    return max(concurrency, min(AUTO_PREFETCH_MAX_JOBS, int(per_window)))


class PrefetchPolicy:
    """How many jobs a worker leases beyond its concurrency.

    A number fixes it. Auto (None): while the worker's jobs are short (a
    recent mean run time under AUTO_PREFETCH_MAX_MS), as many as the
    concurrency, or more for very short jobs: AUTO_PREFETCH_WINDOW_MS of
    work per slot, up to AUTO_PREFETCH_MAX_JOBS; none for longer jobs. A
    prefetched job not started within PREFETCH_HOLD_MS goes back to waiting,
    so that a job that turns out long holds up nothing behind it while
    other workers idle. If the process dies, prefetched jobs go back without
    counting a stall.
    """

    def __init__(self, concurrency: int, prefetch: int | None) -> None:
        self.concurrency = concurrency
        self.configured = prefetch
        """A number of jobs, or None (auto)."""
        self._run_time_mean: float | None = None
        """Recent mean run time of this worker's jobs, in seconds (auto)."""
        self._held_back = False
        """Auto handed a job back for waiting too long; off until a job ends."""

    @property
    def now(self) -> int:
        """Jobs leased beyond the concurrency at the moment."""
        if self.configured is not None:
            return self.configured
        mean = self._run_time_mean
        if self._held_back or mean is None or mean * 1000 >= AUTO_PREFETCH_MAX_MS:
            return 0
        return auto_prefetch(self.concurrency, mean * 1000)

    @property
    def fixed_capacity(self) -> int | None:
        """Jobs held and asked for, at most, when the prefetch is a fixed number."""
        return None if self.configured is None else self.concurrency + self.configured

    def note_run_time(self, seconds: float) -> None:
        """A job ended: keep the recent mean run time that auto goes by."""
        mean = self._run_time_mean
        self._run_time_mean = seconds if mean is None else mean + (seconds - mean) * 0.1
        self._held_back = False

    def release_held(self, slots: Slots) -> float:
        """Auto: hands back prefetched jobs held too long; returns the seconds
        until the next one would be (or IDLE_RECHECK_S)."""
        first = slots.first_buffered()
        if self.configured is not None or first is None or first is slots.isolating:
            return IDLE_RECHECK_S
        limit = time.monotonic() - PREFETCH_HOLD_MS / 1000
        if slots.hand_back_buffered("prefetch-held", leased_before=limit):
            # no prefetching again until a running job ends: the queue (and
            # any idle worker) has it back
            self._held_back = True
        first = slots.first_buffered()
        if first is None:
            return IDLE_RECHECK_S
        return max(first.started - limit, 0.001)


class Exchange:
    """Builds, sends and reads the worker's finish-and-fetch calls."""

    def __init__(
        self,
        *,
        worker_id: str,
        lease_ms: int,
        queues: list[QueueState],
        channel: Channel,
        slots: Slots,
        policy: PrefetchPolicy,
        runner: JobRunner,
        launch: Callable[[], None],
        reported: Reported,
        check_slots: bool,
        keep_completed: Keep = DEFAULT_KEEP_COMPLETED,
        keep_failed: Keep = DEFAULT_KEEP_FAILED,
        owes: Callable[[str], None] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self._owes = owes
        """On a Redis Cluster: called with a queue whose job with dependents
        ended, to deliver its outbox (``engine.outbox``)."""
        self.lease_ms = lease_ms
        self.keep_rules = (keep_completed.rule, keep_failed.rule)
        """The worker's retention of jobs without a rule of their own."""
        self.queues = queues
        self.channel = channel
        self.slots = slots
        self.policy = policy
        self.runner = runner
        self._launch = launch
        self._reported = reported
        self._check_slots = check_slots
        self.stopping = False
        """Set by the worker on a stop: nothing more is fetched."""
        self.paused = False
        """Set while the worker is paused: nothing is fetched, outcomes still go out."""
        self._rotation = 0
        self._fetch_counter = 0
        self._token_base = uuid.uuid4().hex[:12]
        self.calls_pending = 0
        """Script calls sent and not answered (the watchdog bounds their wait)."""
        self.last_answer = time.monotonic()
        """When a call was last answered, or sent while none was pending."""

    # -- how much to ask for -------------------------------------------------

    def free_slots(self) -> int:
        """How many more jobs this worker may lease now (fetches in flight count)."""
        if self.stopping or self.paused or self.slots.isolating is not None:
            return 0
        return self.slots.free(self.slots.concurrency + self.policy.now)

    def _batch_cap(self) -> int:
        """Most jobs one fetch asks for: a share of the slots, so that two exchanges overlap."""
        return max(1, -(-(self.slots.concurrency + self.policy.now) // MAX_IN_FLIGHT))

    def _want(self, state: QueueState, now: float, freeing: bool = False) -> int:
        """Jobs to ask ``state``'s queue for in this exchange (``freeing``: it
        reports jobs that leave the queue's active set). Free slots can
        be fewer than none (auto prefetch turned off while prefetched jobs
        are held): then none, not a negative count that would make the
        account believe in slots that are not there."""
        if not (state.due(now) or (freeing and state.at_cap)):
            return 0
        return max(min(self.free_slots(), self._batch_cap()), 0)

    def should_fetch(self) -> bool:
        if self.free_slots() <= 0:
            return False
        now = time.monotonic()
        return any(state.due(now) for state in self.queues)

    def wanted(self) -> bool:
        """Whether an exchange would carry anything now (and may be sent)."""
        return self.slots.in_flight < MAX_IN_FLIGHT and (
            self.slots.has_report or self.should_fetch()
        )

    def waiting_s(self, now: float) -> float:
        """How long the oldest pending call has waited for its answer (0: none pending)."""
        return now - self.last_answer if self.calls_pending else 0.0

    # -- one exchange --------------------------------------------------------

    async def run(self, counted: bool = False) -> None:
        """Report finished jobs and fetch new ones: one call per queue that needs one.

        ``counted``: the caller already counted this exchange as sent.
        """
        slots = self.slots
        if not counted:
            slots.exchange_sent()
        try:
            by_queue: dict[str, list[Outcome]] = {}
            for outcome in slots.take_outcomes():
                by_queue.setdefault(outcome.job.queue.name, []).append(outcome)
            states = self.queues
            if len(states) > 1:
                self._rotation = (self._rotation + 1) % len(states)
                states = states[self._rotation :] + states[: self._rotation]
            now = time.monotonic()
            try:
                for state in states:
                    name = state.keys.name
                    outcomes = by_queue.pop(name, [])
                    want = self._want(state, now, freeing=bool(outcomes))
                    notices = slots.take_notices(name, outcomes)
                    if not outcomes and not notices and want <= 0:
                        continue
                    await self._call(state, outcomes, want, notices)
            except BaseException:
                # keep what was not reported for the next attempt
                slots.put_back([o for rest in by_queue.values() for o in rest])
                raise
        finally:
            slots.exchange_done()

    async def _call(
        self, state: QueueState, outcomes: list[Outcome], want: int, notices: list[RunningJob]
    ) -> None:
        """One queue's call: finish (with outcomes or notices) or fetch."""
        slots = self.slots
        self._fetch_counter += 1
        token = f"{self._token_base}:{self._fetch_counter}"
        # Jobs beyond the free running slots wait in the buffer: prefetched.
        start_now = min(want, slots.start_room())
        slots.fetch_sent(want, start_now)
        lost: frozenset[str] = frozenset()
        if not self.calls_pending:
            self.last_answer = time.monotonic()
        self.calls_pending += 1
        try:
            if outcomes or notices:
                request = FinishRequest(
                    self.worker_id,
                    self.lease_ms,
                    want,
                    token,
                    start_now,
                    *self.keep_rules,
                    tuple([StartedNotice(job.job_id, job.token) for job in notices]),
                    tuple([outcome.args for outcome in outcomes]),
                )
                finished = FinishReply.parse(
                    await state.finish(self.channel, request.full_argv(state.keys.base))
                )
                reply, lost = finished.fetched, finished.lost
            else:
                request_fetch = FetchRequest(self.worker_id, self.lease_ms, want, token, start_now)
                reply = FetchReply.parse(
                    await state.fetch(self.channel, request_fetch.full_argv(state.keys.base))
                )
        except BaseException:
            slots.put_back(outcomes, state.keys.name, notices)
            raise
        finally:
            self.calls_pending -= 1
            self.last_answer = time.monotonic()
            slots.fetch_answered(want, start_now)
        if notices:
            slots.noticed(notices)
        owes = False
        for outcome in outcomes:
            self._reported(outcome, outcome.job.job_id in lost)
            owes = owes or outcome.job.has_dependents
        if owes and self._owes is not None:
            self._owes(state.keys.name)
        self._took(state, token, reply, want, start_now)

    async def fetch_when_woken(
        self, state: QueueState, marker_wait_s: float, waiter: WireChannel
    ) -> bool:
        """Wait for ``state``'s wake-up marker and fetch right behind it, in
        one exchange: ``BZPOPMIN`` and the fetch pipelined on ``waiter`` (a
        connection of its own), so that Redis runs the fetch the moment an
        add sets the marker, with no round trip to this process between the
        wake-up and the lease. The fetch runs when the wait times out too (the
        idle recheck). False, with nothing sent, when there is no room to
        fetch into, or when another exchange went out since the worker
        asked for this wait (its answer comes first; this one would be an
        exchange beyond MAX_IN_FLIGHT)."""
        slots = self.slots
        want = max(min(self.free_slots(), self._batch_cap()), 0)
        if want <= 0 or slots.in_flight:
            return False
        self._fetch_counter += 1
        token = f"{self._token_base}:{self._fetch_counter}"
        start_now = min(want, slots.start_room())
        argv = FetchRequest(self.worker_id, self.lease_ms, want, token, start_now).full_argv(
            state.keys.base
        )
        wait = pack(("BZPOPMIN", state.keys.marker, f"{max(marker_wait_s, 0.001):.3f}"))
        slots.exchange_sent()
        slots.fetch_sent(want, start_now)
        try:
            popped, raw = await waiter.execute_all([wait, state.fetch.request(waiter, argv)])
            # Redis ran the fetch whatever the wait answered: its reply first
            if isinstance(raw, ResponseError):
                raw = await state.fetch.recover(waiter, argv, raw)
            elif isinstance(raw, BaseException):
                raise raw
            reply = FetchReply.parse(raw)
        finally:
            slots.fetch_answered(want, start_now)
            slots.exchange_done()
        self._took(state, token, reply, want, start_now)
        if isinstance(popped, BaseException):
            raise popped
        return True

    def _took(
        self, state: QueueState, token: str, reply: FetchReply, want: int, start_now: int
    ) -> None:
        """A call's fetch answered: lease its jobs, and note what it says of the queue."""
        self._lease(state, token, reply, start_now)
        if want > 0:
            # Only a fetch tells whether work is left; a call that only
            # reported outcomes must not undo a wake-up that arrived meanwhile
            # (a finished chain step releasing the next one, say).
            state.maybe_has_work = reply.status == "ok" and len(reply.jobs) >= want
            # At the cap the worker waits for the marker, which finish.lua
            # sets when a job of the queue ends anywhere.
            state.at_cap = reply.status == "busy"
        state.next_check = 0.0
        if reply.next_due_ms >= 0:
            state.next_check = time.monotonic() + max(reply.next_due_ms - reply.server_ms, 0) / 1000
        limited_ms = reply.limited_ms
        if limited_ms is not None:
            state.next_check = time.monotonic() + limited_ms / 1000
        if self._check_slots:
            self.slots.check(self.policy.fixed_capacity)

    def _lease(self, state: QueueState, token: str, reply: FetchReply, start_now: int) -> None:
        """The fetched jobs: held and buffered, the first ``start_now`` started
        in Redis's eyes, the others reserved (prefetched) until they start."""
        for i, fetched in enumerate(reply.jobs):
            job = self.runner.prepare(state.keys, token, fetched)
            # an isolated job is leased reserved whatever start_now said
            job.reserved = job.isolated or i >= start_now
            self.slots.lease(job)
        self._launch()
