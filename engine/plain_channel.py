"""The hot calls through redis-py (``MESSAI_WIRE=0``, see :mod:`engine.channel`).

A request is kept as its arguments rather than packed bytes, and sent on a
connection of the client's pool, so parsing, timeouts, reconnection and
health checks are redis-py's; under Sentinel its pool finds the master and
turns a ``READONLY`` answer into a connection error. As on the wire, a producer's add follows the
client's retry policy (:class:`PlainChannel`) and a worker's exchange is
tried once on the worker's own connections (:class:`SingleTryChannel`): the
worker retries it itself after a backoff, and two layers of retries would
hide an outage from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from engine.channel import Channel, Request, RequestHead, pool_address
from engine.cluster import client_address, is_cluster
from engine.resp import Arg, unpack


class PlainChannel(Channel):
    """The :class:`Channel` interface over a redis-py client: each call is one
    of the client's commands, with its timeout and retry policy. Closing it
    leaves the client's pool alone: the pool belongs to the client."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self.address = (
            client_address(client) if is_cluster(client) else pool_address(client.connection_pool)
        )

    @property
    def connected(self) -> bool:
        return True  # the pool connects on demand

    async def execute(self, request: Request) -> Any:
        return await self.command(*(unpack(request) if isinstance(request, bytes) else request))

    async def command(self, *args: Arg) -> Any:
        return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def execute_all(self, requests: Sequence[Request]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for request in requests:
                pipe.execute_command(*(unpack(request) if isinstance(request, bytes) else request))
            return list(await pipe.execute(raise_on_error=False))

    def request(self, head: RequestHead, args: Sequence[Arg]) -> tuple[Arg, ...]:
        return (*head.parts, *args)


class SingleTryChannel(PlainChannel):
    """A :class:`PlainChannel` on connections of its own, made as the client's
    pool makes them, that send each call once: a failure (connecting
    included) reaches the caller at once, as on the wire. Concurrent calls
    each take an idle connection or make one."""

    def __init__(self, client: Redis) -> None:
        super().__init__(client)
        self._connections: list[AbstractConnection] = []
        self._idle: list[AbstractConnection] = []

    async def command(self, *args: Arg) -> Any:
        connection = self._idle.pop() if self._idle else self._new_connection()
        try:
            if not connection.is_connected:
                # connect(), not send_command's own connecting: a sentinel
                # pool's connections find the master in connect() only.
                await connection.connect()  # type: ignore[no-untyped-call]
            # Both disconnect on a connection error or a cancellation (no reply
            # is left behind); a disconnected connection connects again when used.
            await connection.send_command(*args)
            return await connection.read_response()
        finally:
            self._idle.append(connection)

    async def close(self) -> None:
        connections, self._connections, self._idle = self._connections, [], []
        for connection in connections:
            await connection.disconnect()

    def _new_connection(self) -> AbstractConnection:
        pool = self._client.connection_pool
        connection: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
        connection.retry = Retry(NoBackoff(), 0)
        self._connections.append(connection)
        return connection


class ClusterChannel(PlainChannel):
    """The hot calls on a Redis Cluster: each is one command of redis-py's
    cluster client, sent to the master that owns its keys' slot (a script
    call's KEYS all carry one queue's hash tag), following ``MOVED``, ``ASK``
    and a failover with the client's own retries. Requests sent together
    (:meth:`execute_all`) go as one non-transactional cluster pipeline, split
    by master."""
