"""Commands addressed to one running worker: pause and resume, from anywhere.

A command is stored in the worker's registry hash (field ``control``) and
published on its control channel, in one transaction. The worker hears the
message at once (its cancel listener's subscription carries the channel)
and reads the field at every heartbeat, so a message lost while it was
disconnected is applied a beat later. Each command carries a nonce: a
worker applies one command once, however it arrives, so a stored command
never undoes a later signal or call of :meth:`Worker.pause` and
:meth:`Worker.resume`.
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from typing import NamedTuple

from redis.asyncio import Redis

from engine.errors import WorkerNotFoundError
from engine.keys import DEFAULT_PREFIX, worker_control_channel, worker_key

CONTROL_FIELD = "control"
"""Field of the worker's registry hash that holds the last command sent to it."""
ORPHAN_TTL_S = 60
"""Expiry of a hash that a command wrote after its worker had gone (its own beat
sets the worker's expiry; this one is only given to a hash without one)."""
REMEMBERED = 16
"""Nonces of the last commands a worker applied."""


class WorkerCommand(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


class ControlMessage(NamedTuple):
    """One command as sent: what to do, and the nonce that makes it unique."""

    command: WorkerCommand
    nonce: str

    def encode(self) -> str:
        return f"{self.command.value}:{self.nonce}"

    @classmethod
    def decode(cls, raw: str) -> ControlMessage | None:
        """The message, or None for anything that is not one."""
        name, _, nonce = raw.partition(":")
        try:
            return cls(WorkerCommand(name), nonce)
        except ValueError:
            return None


async def send_worker_command(
    redis: Redis, worker_id: str, command: WorkerCommand, prefix: str = DEFAULT_PREFIX
) -> int:
    """Ask the worker ``worker_id`` to pause or resume; returns how many
    listeners heard it at once (0: it applies it at its next heartbeat).

    Raises :class:`WorkerNotFoundError` when no live worker has that id.
    """
    key = worker_key(worker_id, prefix)
    if not await redis.exists(key):
        raise WorkerNotFoundError(worker_id)
    message = ControlMessage(command, uuid.uuid4().hex[:12]).encode()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, CONTROL_FIELD, message)
        pipe.expire(key, ORPHAN_TTL_S, nx=True)  # the worker left meanwhile
        pipe.publish(worker_control_channel(worker_id, prefix), message)
        replies = await pipe.execute()
    return int(replies[-1])


async def pause_worker(redis: Redis, worker_id: str, prefix: str = DEFAULT_PREFIX) -> int:
    """Ask a running worker to stop taking jobs (see :meth:`Worker.pause`)."""
    return await send_worker_command(redis, worker_id, WorkerCommand.PAUSE, prefix)


async def resume_worker(redis: Redis, worker_id: str, prefix: str = DEFAULT_PREFIX) -> int:
    """Ask a paused worker to take jobs again (see :meth:`Worker.resume`)."""
    return await send_worker_command(redis, worker_id, WorkerCommand.RESUME, prefix)


class CommandLog:
    """The commands a worker applied, so that each is applied once."""

    def __init__(self) -> None:
        self._seen: deque[str] = deque(maxlen=REMEMBERED)

    def first_time(self, message: ControlMessage) -> bool:
        """Whether ``message`` is new (and remember it)."""
        if message.nonce in self._seen:
            return False
        self._seen.append(message.nonce)
        return True
