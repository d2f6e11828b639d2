"""A worker's pause and resume: from Python, signals, and commands sent to
it through Redis (:mod:`engine.worker.control`).

Paused, a worker fetches nothing; its running jobs finish and their outcomes
are recorded; prefetched jobs not started yet go back to ``waiting`` at once
(so does a job a fetch in flight brings: :meth:`Worker._launch`). The
registry of workers hears of a change at once, not a beat later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from engine.worker.control import CommandLog, ControlMessage, WorkerCommand
from engine.worker.exchange import Exchange, QueueState
from engine.worker.faults import REDIS_ERRORS
from engine.worker.slots import Slots

log = logging.getLogger("engine.worker")


class PauseSwitch:
    """Whether a worker takes jobs, and the commands that switch it."""

    def __init__(
        self,
        worker_id: str,
        slots: Slots,
        exchange: Exchange,
        queues: Iterable[QueueState],
        changed: Callable[[], None],
        beat: Callable[[], Awaitable[None]],
    ) -> None:
        self.worker_id = worker_id
        self.paused = False
        self.serving = False
        """Set by the worker while it runs: only then is a change beaten at once."""
        self._slots = slots
        self._exchange = exchange
        self._queues = list(queues)
        self._changed = changed
        self._beat = beat
        self._commands = CommandLog()
        self._beats: set[asyncio.Task[None]] = set()

    def pause(self) -> None:
        if self.paused:
            return
        self.paused = self._exchange.paused = True
        handed_back = self._slots.hand_back_buffered("worker-paused")
        log.info(
            "worker %s paused: %d running jobs finish, %d prefetched handed back",
            self.worker_id,
            self._slots.active,
            handed_back,
        )
        self._changed()
        self._beat_now()

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = self._exchange.paused = False
        for state in self._queues:
            state.maybe_has_work = True
        log.info("worker %s resumed", self.worker_id)
        self._changed()
        self._beat_now()

    def forget_stored(self, raw: str | None) -> None:
        """A command stored for an earlier process of the same worker id is
        not for this one: it is never applied."""
        if raw and (message := ControlMessage.decode(raw)) is not None:
            self._commands.first_time(message)

    def controlled(self, raw: str) -> None:
        """A command addressed to this worker (published, or read at a beat)."""
        message = ControlMessage.decode(raw)
        if message is None:
            log.warning("worker %s: ignoring an unknown command %r", self.worker_id, raw[:100])
            return
        if not self._commands.first_time(message):
            return
        if message.command is WorkerCommand.PAUSE:
            self.pause()
        else:
            self.resume()

    def _beat_now(self) -> None:
        """Show a pause or resume in the registry of workers now."""
        if not self.serving:
            return  # run() beats first thing

        async def beat() -> None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._beat()

        task = asyncio.get_running_loop().create_task(beat())
        self._beats.add(task)
        task.add_done_callback(self._beats.discard)
