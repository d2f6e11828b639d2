"""Adds that wait for replicas (`WAIT`), so that an acknowledged job survives
a failover.

Redis replicates asynchronously: a job the master acknowledged may be lost
if the master dies before a replica received it, and Sentinel then promotes
that replica. With `replicas=n` (a Queue's option, or `REDIS_WAIT_REPLICAS`
for every client `engine.connect` makes) an add returns only after `n`
replicas have the job, sending `WAIT n timeout` right behind the add on the
same connection (one round trip). When fewer acknowledge in time the add
raises :class:`ReplicaAckTimeout`: the job IS on the master, and may or may
not survive a failover that happens now. A failover can still lose a job
that a replica had acknowledged only if the sentinels promote a replica that
had not (with one replica they cannot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ResponseError

from engine.channel import Channel, RequestHead
from engine.resp import Arg

if TYPE_CHECKING:
    from engine.scripts import BoundScript
    from engine.settings import RedisSettings

__all__ = ["ReplicaAck", "ReplicaAckTimeout", "call_acknowledged"]


class ReplicaAckTimeout(RuntimeError):
    """Fewer replicas than asked acknowledged an add in time. The job is on the
    master; it is lost if the master fails before a replica gets it."""

    def __init__(self, acknowledged: int, ack: ReplicaAck) -> None:
        super().__init__(
            f"the job was added on the master, but {acknowledged} of {ack.replicas} "
            f"replica(s) acknowledged it within {ack.timeout_ms} ms: it may be lost "
            "if the master fails now"
        )
        self.acknowledged = acknowledged
        self.ack = ack


@dataclass(frozen=True)
class ReplicaAck:
    """Wait until `replicas` replicas acknowledged a write, at most `timeout_ms`
    (0: forever, as WAIT's own 0; keep it below the socket timeout)."""

    replicas: int
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.timeout_ms < 0:
            raise ValueError("replicas must be at least 1 and timeout_ms not negative")

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> ReplicaAck | None:
        if not settings.redis_wait_replicas:
            return None
        return cls(settings.redis_wait_replicas, settings.redis_wait_timeout_ms)

    def request(self, channel: Channel) -> Any:
        return channel.request(_WAIT, (self.replicas, self.timeout_ms))


_WAIT = RequestHead("WAIT")


async def call_acknowledged(
    channel: Channel, script: BoundScript, calls: Sequence[Sequence[Arg]], ack: ReplicaAck
) -> list[Any]:
    """Call `script` with each of `calls` (its ARGV) then `WAIT`, all sent at
    once on one connection; the replies of the calls. Raises
    :class:`ReplicaAckTimeout` when too few replicas acknowledged."""
    for _attempt in range(3):
        requests = [script.request(channel, args) for args in calls]
        replies = await channel.execute_all([*requests, ack.request(channel)])
        errors = [reply for reply in replies[:-1] if isinstance(reply, ResponseError)]
        if len(errors) == len(calls) and await _load_if_missing(channel, script, errors[0]):
            # The server checks for the script before running a call: none ran.
            continue
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        acknowledged = int(replies[-1])
        if acknowledged < ack.replicas:
            raise ReplicaAckTimeout(acknowledged, ack)
        return replies[:-1]
    raise RuntimeError(f"script {script.script.name} could not be loaded")


async def _load_if_missing(channel: Channel, script: BoundScript, error: ResponseError) -> bool:
    """Load the script when `error` says the server lacks it (or functions);
    whether it did."""
    from engine.scripts import _function_missing, _no_functions

    if isinstance(error, NoScriptError):
        await channel.command("SCRIPT", "LOAD", script.script.source)
        return True
    if _function_missing(error):
        await channel.command("FUNCTION", "LOAD", "REPLACE", script.script.library)
        return True
    # A server without functions: the next request is an EVALSHA.
    return _no_functions(error, channel.address)
