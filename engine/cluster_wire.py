"""The hot calls on a Redis Cluster over the engine's own connection, one per master.

redis-py's cluster client spends more Python per call than a no-op job
costs (routing, its pool, its parser): a worker on a cluster did 1.2-2.9
times fewer jobs per second than on one server over :mod:`engine.wire`.
:class:`ClusterWireChannel` sends each script call, whose KEYS all carry
one queue's hash tag, over a :class:`engine.wire.WireChannel` to the master
that owns that slot in redis-py's slot map, and leaves the rest to
redis-py's cluster client (:class:`engine.plain_channel.ClusterChannel`):

- calls without keys (``FUNCTION LOAD``), and requests sent together
  (:meth:`execute_all`), go through redis-py as before;
- a ``MOVED``, ``ASK``, ``TRYAGAIN`` or ``CLUSTERDOWN`` answer means the
  call did not run: it is sent again through redis-py, which follows the
  redirection and refreshes its slot map, so the next call goes to the
  new owner over the wire;
- a lost connection (or, for producers, a reply later than the client's
  socket timeout) closes that master's wire. The worker's channel
  raises it (the worker retries its exchange after a backoff, as on one
  server: the call may have run); its next call for that master goes
  through redis-py, which finds a promoted replica and refreshes the map.
  The producers' shared channel sends the call again through redis-py,
  with the client's retry policy, as :class:`ClusterChannel` always did.

``MESSAI_WIRE=0`` keeps every call on redis-py (:mod:`engine.channel`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.channel import Request
from engine.cluster import script_slot
from engine.plain_channel import ClusterChannel
from engine.resp import pack, unpack
from engine.wire import SharedChannel, WireChannel

__all__ = ["ClusterWireChannel", "SharedClusterWireChannel"]

_REDIRECTIONS = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN")
"""Answers that say the call did not run on this master."""

_LOST = (RedisConnectionError, RedisTimeoutError, OSError)


class ClusterWireChannel(ClusterChannel):
    """A worker's channel on a cluster: script calls over one wire per master."""

    retry_lost_calls = False
    """Whether a call whose connection was lost is sent again through redis-py."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._wires: dict[str, tuple[WireChannel, redis.asyncio.Redis]] = {}
        self._through_client: set[str] = set()
        """Masters whose connection was lost: their next call goes through redis-py."""

    async def execute(self, request: Request) -> Any:
        args = unpack(request) if isinstance(request, bytes) else request
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        slot = script_slot(name, tuple(args[1:]))
        node = self._master_of(slot) if slot is not None else None
        if node is None or node.name in self._through_client:
            reply = await super().execute(tuple(args))
            if node is not None:
                self._through_client.discard(node.name)
            return reply
        wire = self._wire(node)
        try:
            return await self._send(wire, pack(args))
        except ResponseError as error:
            if not str(error).startswith(_REDIRECTIONS):
                raise
        except _LOST:
            self._through_client.add(node.name)
            await self._drop(node.name)
            if not self.retry_lost_calls:
                raise
        return await super().execute(tuple(args))

    def _master_of(self, slot: int) -> Any:
        """The master of ``slot`` in redis-py's slot map; None when it has none yet."""
        try:
            return self._client.nodes_manager.get_node_from_slot(slot)  # type: ignore[attr-defined]
        except (RedisError, IndexError, KeyError):
            return None

    def _wire(self, node: Any) -> WireChannel:
        found = self._wires.get(node.name)
        if found is None:
            settings = self._client.nodes_manager.connection_kwargs  # type: ignore[attr-defined]
            accepted = inspect.signature(redis.asyncio.Redis.__init__).parameters
            options = {
                key: value
                for key, value in settings.items()
                if key in accepted and key not in ("host", "port", "connection_pool")
            }
            # a client only for its settings: the wire makes its own connection
            plain = redis.asyncio.Redis(host=node.host, port=int(node.port), **options)
            found = self._wires[node.name] = (self._make_wire(plain), plain)
        return found[0]

    def _make_wire(self, plain: redis.asyncio.Redis) -> WireChannel:
        return WireChannel(plain)

    async def _send(self, wire: WireChannel, packed: bytes) -> Any:
        return await wire.execute(packed)

    async def _drop(self, name: str) -> None:
        found = self._wires.pop(name, None)
        if found is not None:
            with contextlib.suppress(RedisError, OSError):
                await found[0].close()
                await found[1].aclose()

    async def execute_all(self, requests: Sequence[Request]) -> list[Any]:
        return await super().execute_all(
            [tuple(unpack(r)) if isinstance(r, bytes) else r for r in requests]
        )

    async def close(self) -> None:
        for name in list(self._wires):
            await self._drop(name)
        await super().close()

    def abort(self) -> None:
        wires, self._wires = self._wires, {}
        for wire, _plain in wires.values():
            wire.abort()


class SharedClusterWireChannel(ClusterWireChannel):
    """The channel a cluster client's queues share: each master's wire is a
    :class:`engine.wire.SharedChannel` (the client's socket timeout, an idle
    connection replaced before use), and a call whose connection was lost
    is sent again through redis-py, under the client's retry policy."""

    retry_lost_calls = True

    def _make_wire(self, plain: redis.asyncio.Redis) -> WireChannel:
        return SharedChannel(plain)

    async def _send(self, wire: WireChannel, packed: bytes) -> Any:
        return await wire.run(lambda: wire.execute(packed))
