"""The sweep is throttled by each caller's own interval: a worker with a long
interval, or a dead one that swept last, delays no other worker's recovery."""

from __future__ import annotations

import time

from engine import Queue
from engine.contracts.base import call
from engine.contracts.worker import SweepReply, SweepRequest


async def _sweep(queue: Queue, interval_ms: int) -> SweepReply:
    request = SweepRequest(interval_ms, 5, -1, -1, -1, -1, force=False)
    return SweepReply.parse(await call(queue.redis, queue.keys, request))


async def test_a_short_interval_sweeps_after_a_long_one_took_the_lock(queue: Queue) -> None:
    assert (await _sweep(queue, 20_000)).swept
    # within its own interval a caller does not sweep again
    assert not (await _sweep(queue, 20_000)).swept
    # a caller with a 100 ms interval sweeps once 100 ms passed, not 20 s
    started = time.monotonic()
    deadline = started + 5
    while not (await _sweep(queue, 100)).swept:
        assert time.monotonic() < deadline, "the long interval held back the short one"
    assert time.monotonic() - started >= 0.05
    # and the long one is held back by the sweep that just ran, not by its own
    assert not (await _sweep(queue, 20_000)).swept
