"""The connection that the hot calls (a worker's finish-and-fetch, a
producer's add) go over, and the switch that picks how.

:class:`Channel` is the interface; it has two implementations:

- :mod:`engine.wire` (the default): a hand-written pipelining connection,
  several times cheaper per call than redis-py in Python time (the README's
  measurements say why it exists);
- :mod:`engine.plain_channel`: the same calls through the redis-py client
  the engine was given (its pool, parser, timeouts).

Each has two flavours: a worker's own channel tries each call once (the
worker retries its exchange after a backoff), and the channel that a
client's queues share (:func:`shared_channel`) follows the client's
timeout and retry policy, as redis-py's own commands do.

``MESSAI_WIRE=0`` in the environment selects the second, for an operator
who suspects the hand-written layer: slower, same behaviour. The switch is
read when a channel is made (a worker starting, a client's first add in an
event loop), so it takes effect for every process started with it.

``Channel(client)`` makes the selected one; :func:`shared_channel` gives the
one that every queue of a client shares in an event loop.

On a Redis Cluster client (``engine.cluster``) the hand-written one is
:class:`engine.cluster_wire.ClusterWireChannel`: a script call goes over
one wire per master, to the master of its keys' slot in redis-py's slot
map, and redis-py's cluster client takes over for ``MOVED``, ``ASK``, a
lost master and calls without keys. With ``MESSAI_WIRE=0`` it is
:class:`engine.plain_channel.ClusterChannel`: every call through redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Self, TypeVar, cast

from redis.asyncio import Redis

from engine.resp import Arg, encode_arg

T = TypeVar("T")

WIRE_SWITCH = "MESSAI_WIRE"
"""The environment variable: ``0`` sends the hot calls through redis-py."""

Request = bytes | tuple[Arg, ...]
"""One call ready to send: packed RESP for the wire, the arguments for redis-py."""


def wire_enabled() -> bool:
    """Whether new channels are the hand-written ones: unless ``MESSAI_WIRE``
    is ``0`` (or ``false``, ``no``, ``off``)."""
    return os.environ.get(WIRE_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def pool_address(pool: Any) -> str:
    """The address that names a redis-py pool's server: its socket or
    host:port, or ``sentinel:<service>`` for the master of a sentinel pool
    (whichever server that is now)."""
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"sentinel:{service}"
    return server_address(pool.connection_kwargs)


def server_address(settings: dict[str, Any]) -> str:
    """A server's address (unix socket path, or host:port) from the settings
    of a redis-py connection pool."""
    path = settings.get("path")
    if path:
        return str(path)
    return f"{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"


class RequestHead:
    """The start that many calls share (command, script, keys), kept as
    arguments and packed once for the wire on first use."""

    __slots__ = ("_packed", "count", "parts")

    def __init__(self, *parts: Arg) -> None:
        self.parts = parts
        self.count = len(parts)
        self._packed: bytes | None = None

    @property
    def packed(self) -> bytes:
        if self._packed is None:
            self._packed = b"".join(map(encode_arg, self.parts))
        return self._packed


class Channel:
    """One connection for the hot calls to the server ``client`` is configured
    for. ``Channel(client)`` makes the implementation that ``MESSAI_WIRE``
    selects; the subclasses are the implementations."""

    address: str
    """The server's address: where a script's state (functions or not) is kept."""

    def __new__(cls, client: Redis) -> Self:
        implementation = _implementation(client, shared=False) if cls is Channel else cls
        return cast(Self, super().__new__(implementation))

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    async def execute(self, request: Request) -> Any:
        """Send one request and wait for its reply."""
        raise NotImplementedError

    async def command(self, *args: Arg) -> Any:
        """Send one command given by its arguments."""
        raise NotImplementedError

    async def execute_all(self, requests: Sequence[Request]) -> list[Any]:
        """Send ``requests`` together on one connection (so that a ``WAIT``
        among them counts the writes before it); their replies in order, an
        error reply or a lost connection as the exception in its place."""
        raise NotImplementedError

    def request(self, head: RequestHead, args: Sequence[Arg]) -> Request:
        """``head`` and ``args`` as one request for :meth:`execute`."""
        raise NotImplementedError

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` (requests on this channel) under the channel's timeout and
        retry policy, where it keeps one of its own."""
        return await call()

    async def close(self) -> None:
        """Disconnect (calls in flight fail)."""

    def abort(self) -> None:
        """:meth:`close` without waiting."""


def _implementation(client: Redis, shared: bool) -> type[Channel]:
    # Imported here: the implementations import this module for the interface.
    from engine.cluster import is_cluster

    if is_cluster(client):
        if wire_enabled():
            from engine.cluster_wire import ClusterWireChannel, SharedClusterWireChannel

            return SharedClusterWireChannel if shared else ClusterWireChannel
        from engine.plain_channel import ClusterChannel

        return ClusterChannel
    if not wire_enabled():
        from engine.plain_channel import PlainChannel, SingleTryChannel

        return PlainChannel if shared else SingleTryChannel
    from engine.wire import SharedChannel, WireChannel

    return SharedChannel if shared else WireChannel


class _Shared(NamedTuple):
    channel: Channel
    loop: asyncio.AbstractEventLoop
    """The loop the channel belongs to."""
    finalizer: weakref.finalize[[Channel, asyncio.AbstractEventLoop], Redis]
    """Releases the channel once: when the client is garbage-collected, or when called."""


_shared: weakref.WeakKeyDictionary[Redis, _Shared] = weakref.WeakKeyDictionary()


def shared_channel(client: Redis) -> Channel:
    """The channel that every queue on ``client`` shares in the running event
    loop. The hand-written one also follows the client's socket timeout and
    retry policy, as redis-py's own commands do (see :meth:`Channel.run`), and
    is closed with the client (clients made by ``engine.connect``), by
    :func:`close_shared_channel`, or when the client is garbage-collected."""
    loop = asyncio.get_running_loop()
    entry = _shared.get(client)
    if entry is None or entry.loop is not loop:
        if entry is not None:
            entry.finalizer()
        channel = _implementation(client, shared=True)(client)
        # A client dropped without being closed takes its channel with it.
        finalizer = weakref.finalize(client, _release, channel, loop)
        finalizer.atexit = False
        entry = _shared[client] = _Shared(channel, loop, finalizer)
    return entry.channel


async def close_shared_channel(client: Redis) -> None:
    """Close ``client``'s shared channel, if it has one; a later call opens a new one."""
    entry = _shared.pop(client, None)
    if entry is None:
        return
    if entry.loop is asyncio.get_running_loop():
        entry.finalizer.detach()
        await entry.channel.close()
    else:
        entry.finalizer()


def _release(channel: Channel, loop: asyncio.AbstractEventLoop) -> None:
    """Close a channel from any thread, on its own loop (if that loop still runs)."""
    if not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(channel.abort)
