"""A lean pipelining connection for the engine's hot path.

The general client (redis-py) spends more time per call in Python than a
loopback round trip takes. The hot calls (a worker's finish-and-fetch, a
producer's add) go through a :class:`WireChannel` instead: one connection,
the RESP request packed once per call from a pre-encoded head, and replies
parsed in the loop's read callback (an asyncio Protocol, no reader task),
which resolves callers in order. Calls made concurrently share the
connection and are pipelined by construction; cancelling a caller does not
desynchronise the stream (its reply is read and dropped).

It is the default implementation of :class:`engine.channel.Channel`;
``MESSAI_WIRE=0`` in the environment sends the same calls through redis-py
instead (:mod:`engine.plain_channel`): slower, same behaviour, for when this
layer is suspected. The names callers use (``Channel(client)``,
:func:`shared_channel`, :func:`close_shared_channel`, ``Arg``, the packing
helpers) are re-exported here from :mod:`engine.channel` and
:mod:`engine.resp`, and pick the implementation.

Connection settings (TCP or unix socket, TLS, user, password, database)
come from the redis-py client the engine was given, so there is one place
to configure a deployment. Under Sentinel (a client whose pool is a
``SentinelConnectionPool``) each connection goes to the master that the
sentinels name at that moment; a ``READONLY`` answer (the server was demoted)
closes the connection and fails the call with a connection error, so the
caller's retry reconnects to the new master; the refused write did not run.

Producers share one :class:`SharedChannel` per client and event loop
(:func:`shared_channel`): it also follows the client's socket timeout and
retry policy, as redis-py's own commands do, and is closed with the client
(clients made by ``engine.connect``), by :func:`close_shared_channel`, or
when the client is garbage-collected.

Only the public asyncio API is used (protocols, transports and their extra
info), so that any event loop runs it: asyncio's own and uvloop, whose
transports do not subclass ``asyncio.Transport``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import inspect
import select
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import RedisSSLContext, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    NoPermissionError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.channel import (
    Channel,
    Request,
    RequestHead,
    close_shared_channel,
    pool_address,
    server_address,
    shared_channel,
)
from engine.resp import Arg, encode_arg, pack, pack_args
from engine.sentinel import is_sentinel_pool, master_address

__all__ = [
    "Arg",
    "Channel",
    "MasterChanged",
    "SharedChannel",
    "WireChannel",
    "close_shared_channel",
    "encode_arg",
    "pack",
    "pack_args",
    "server_address",
    "shared_channel",
]

T = TypeVar("T")
_HIGH_WATER = 1 << 20
_IDLE_CHECK_S = 0.01
"""A shared channel idle this long checks that the server has not closed the
connection before it sends (as redis-py checks a pooled connection)."""


class MasterChanged(RedisConnectionError):
    """The server answered ``READONLY``: it is a replica now (a failover
    demoted it). The connection is closed; connecting again finds the master."""


class _Connection(asyncio.Protocol):
    """One connection of a :class:`WireChannel`. Replies resolve their callers'
    futures as they arrive, in order, from the loop's read callback: no
    reader task, so a reply costs one turn of the event loop, not two."""

    def __init__(self, decode: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.parser = hiredis.Reader(
            protocolError=RedisConnectionError,
            replyError=ResponseError,
            encoding="utf-8" if decode else None,
        )
        self.pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        """Done when the transport has closed."""
        self.paused = False
        self.guard: asyncio.Task[None] | None = None
        """:func:`_close_with_loop` for this connection (held: the loop keeps only weak references)."""
        self._drained: asyncio.Future[None] | None = None
        self._error: Exception = RedisConnectionError("Redis closed the connection")
        self.client_id: int | None = None
        """The server's number for this connection (``CLIENT ID``), once asked."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's stream transports have the methods of
        # asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser, pending = self.parser, self.pending
        parser.feed(data)
        try:
            while (reply := parser.gets()) is not False:
                future = pending.popleft()
                if future.done():
                    continue  # its caller was cancelled
                if isinstance(reply, ResponseError):
                    error = _classify(reply)
                    if isinstance(error, MasterChanged):
                        self._error = error  # what the calls behind it fail with
                        assert self.transport is not None
                        self.transport.abort()
                    future.set_exception(error)
                else:
                    future.set_result(reply)
        except (RedisConnectionError, IndexError) as exc:  # garbled, or a reply nobody asked for
            self._error = RedisConnectionError(f"lost the connection to Redis: {exc!r}")
            assert self.transport is not None
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._error = RedisConnectionError(f"lost the connection to Redis: {exc}")
        self.fail(self._error)
        self.resume_writing()  # writers waiting to drain see their calls fail
        if not self.closed.done():
            self.closed.set_result(None)

    def fail(self, error: Exception) -> None:
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    async def drain(self) -> None:
        if self.paused:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)


async def _close_with_loop(connection: _Connection) -> None:
    """Lives as long as the connection: when the loop ends (asyncio.run cancels
    every task) it closes a connection nobody closed."""
    try:
        await asyncio.shield(connection.closed)
    finally:
        if connection.transport is not None:
            connection.transport.close()


class WireChannel(Channel):
    """One pipelined connection to the server that ``client`` is configured for."""

    def __init__(self, client: Redis) -> None:
        pool = client.connection_pool
        if getattr(pool, "service_name", None) is not None and not is_sentinel_pool(pool):
            # A sentinel pool of replicas has no fixed host: never dial a default one.
            raise TypeError(
                "the engine writes to the master: use Sentinel.master_for, not slave_for"
            )
        self._pool = pool
        self._sentinel = is_sentinel_pool(pool)
        self._settings = dict(pool.connection_kwargs)
        self._unix_path: str | None = self._settings.get("path")
        self._tls = _tls_context(pool.connection_class, self._settings)
        self._connection: _Connection | None = None
        self._connect_lock = asyncio.Lock()
        self._decode = bool(self._settings.get("decode_responses", False))
        self.address = pool_address(pool)

    @property
    def connected(self) -> bool:
        connection = self._connection
        return (
            connection is not None
            and connection.transport is not None
            and not connection.transport.is_closing()
        )

    async def execute(self, request: Request) -> Any:
        """Send one request and wait for its reply."""
        if not isinstance(request, bytes):
            request = pack(request)
        if not self.connected:
            await self._connect()
        connection = self._connection
        assert connection is not None and connection.transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        connection.pending.append(future)
        connection.transport.write(request)
        if connection.paused:
            await connection.drain()
        return await future

    async def command(self, *args: Arg) -> Any:
        return await self.execute(pack(args))

    async def execute_all(self, requests: Sequence[Request]) -> list[Any]:
        packed = [request if isinstance(request, bytes) else pack(request) for request in requests]
        if not self.connected:
            await self._connect()
        connection = self._connection
        assert connection is not None and connection.transport is not None
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in packed]
        connection.pending.extend(futures)
        connection.transport.write(b"".join(packed))  # one write: one connection for all
        if connection.paused:
            await connection.drain()
        return list(await asyncio.gather(*futures, return_exceptions=True))

    def request(self, head: RequestHead, args: Sequence[Arg]) -> bytes:
        return b"*%d\r\n" % (head.count + len(args)) + head.packed + pack_args(args)

    async def client_id(self) -> int:
        """The server's number for the connection (``CLIENT ID``; connects if
        needed), asked once per connection: what ``CLIENT UNBLOCK`` takes."""
        if not self.connected:
            await self._connect()
        connection = self._connection
        assert connection is not None
        if connection.client_id is None:
            connection.client_id = int(await self.execute(pack(["CLIENT", "ID"])))
        return connection.client_id

    async def close(self) -> None:
        """Disconnect (calls in flight fail); a later call connects again."""
        await self._disconnect()

    def abort(self) -> None:
        """:meth:`close` without waiting for the transport to finish closing."""
        self._drop()

    async def _disconnect(self) -> None:
        connection = self._connection
        self._drop()
        if connection is not None:
            await asyncio.shield(connection.closed)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.transport is not None:
                connection.transport.close()
            connection.fail(RedisConnectionError("connection closed"))

    async def _connect(self) -> None:
        async with self._connect_lock:
            if self.connected:
                return
            settings = self._settings
            timeout = settings.get("socket_connect_timeout") or 10
            loop = asyncio.get_running_loop()
            connection = _Connection(self._decode, loop)
            host, port = settings.get("host", "localhost"), settings.get("port", 6379)
            try:
                async with asyncio.timeout(timeout):
                    if self._sentinel:
                        # Asked at every connect: after a failover, the new master.
                        host, port = await master_address(self._pool)
                    if self._unix_path:
                        transport, _ = await loop.create_unix_connection(
                            lambda: connection, self._unix_path
                        )
                    else:
                        transport, _ = await loop.create_connection(
                            lambda: connection,
                            host,
                            port,
                            ssl=self._tls.get() if self._tls is not None else None,
                        )
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            # Not only from connection_made: uvloop may call it after this returns.
            connection.transport = transport
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            transport.set_write_buffer_limits(high=_HIGH_WATER)
            self._connection = connection
            connection.guard = loop.create_task(_close_with_loop(connection))
            try:
                await self._handshake()
            except BaseException:
                await self._disconnect()
                raise

    async def _handshake(self) -> None:
        settings = self._settings
        password = settings.get("password")
        username = settings.get("username")
        if password:
            auth: list[Arg] = ["AUTH", username, password] if username else ["AUTH", password]
            try:
                await self.execute(pack(auth))
            except ResponseError as exc:
                raise AuthenticationError(str(exc)) from None
        db = int(settings.get("db") or 0)
        if db:
            await self.execute(pack(["SELECT", db]))


def _tls_context(connection_class: type, settings: dict[str, Any]) -> RedisSSLContext | None:
    """The TLS context that redis-py's connections of this pool use (None: plain
    TCP): the same ``ssl_*`` settings with the same defaults, so that a
    ``rediss://`` URL verifies the server as the client itself does."""
    if not issubclass(connection_class, SSLConnection):
        return None
    parameters = inspect.signature(SSLConnection.__init__).parameters
    options = {
        name.removeprefix("ssl_"): settings.get(name, parameter.default)
        for name, parameter in parameters.items()
        if name.startswith("ssl_")
    }
    return RedisSSLContext(**options)


def _classify(error: ResponseError) -> Exception:
    message = str(error)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    if message.startswith("NOPERM"):
        return NoPermissionError(message)  # an ACL refusal, as redis-py classes it
    if message.startswith("LOADING"):
        # A restarted server reading its AOF: a connection error to retry, as in redis-py.
        return BusyLoadingError(message)
    if message.startswith("READONLY"):
        return MasterChanged(f"{message} (the server is a replica now: reconnecting)")
    return error


class SharedChannel(WireChannel):
    """The channel that every queue on one client shares in one event loop
    (see :func:`shared_channel`).

    Unlike the worker's own channel it behaves as redis-py's commands do: a
    connection the server closed while it was idle is replaced before it is
    used, each call waits at most the client's ``socket_timeout``, and calls
    that fail with a connection error (or a loading server) are retried as
    the client's retry policy says. Closed, it stays closed.
    """

    def __init__(self, client: Redis) -> None:
        super().__init__(client)
        self._timeout: float | None = self._settings.get("socket_timeout")
        self._retry = _retry_policy(self._settings)
        self._closed = False
        self._last_used = 0.0

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` (requests on this channel) under the client's timeout and retry policy."""
        try:
            return await self._attempt(call)
        except (RedisConnectionError, RedisTimeoutError) as error:
            if self._retry is None:
                raise
            return await self._retry_after(error, call)

    async def execute(self, request: Request) -> Any:
        await self._check_idle()
        return await super().execute(request)

    async def execute_all(self, requests: Sequence[Request]) -> list[Any]:
        await self._check_idle()
        return await super().execute_all(requests)

    async def _check_idle(self) -> None:
        connection = self._connection
        if connection is not None and not connection.pending and self.connected:
            now = time.monotonic()
            if now - self._last_used > _IDLE_CHECK_S and self._peer_closed():
                await self._disconnect()  # closed while idle: nothing was sent, connect again
            self._last_used = now

    async def close(self) -> None:
        self._closed = True
        await self._disconnect()

    def abort(self) -> None:
        self._closed = True
        self._drop()

    async def _attempt(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise RedisConnectionError("the engine's connection of this client was closed")
        if self._timeout is None:
            return await call()
        try:
            async with asyncio.timeout(self._timeout):
                return await call()
        except TimeoutError:
            # The reply may still come: this connection's stream cannot be trusted.
            await self._disconnect()
            raise RedisTimeoutError("Timeout reading from Redis") from None

    async def _retry_after(self, error: Exception, call: Callable[[], Awaitable[T]]) -> T:
        assert self._retry is not None
        failed = [error]

        async def attempt() -> T:
            if failed:
                raise failed.pop()  # the first try, already made: the policy counts it
            return await self._attempt(call)

        return await self._retry.call_with_retry(attempt, _no_cleanup)

    def _peer_closed(self) -> bool:
        """Whether the idle connection has something to read: with no request
        in flight that can only be the server closing (or resetting) it."""
        assert self._connection is not None and self._connection.transport is not None
        sock = self._connection.transport.get_extra_info("socket")
        if sock is None:
            return False
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        return bool(readable)


async def _no_cleanup(_error: Exception) -> None:
    """Retry's failure hook: a failed call has already dropped its connection."""


def _retry_policy(settings: dict[str, Any]) -> Retry | None:
    """The retry policy that redis-py gives this client's connections (None: no retries)."""
    retry: Retry | None = settings.get("retry")
    extra = list(settings.get("retry_on_error") or [])
    if settings.get("retry_on_timeout"):
        extra.append(RedisTimeoutError)
    if not retry and not extra:
        return None
    policy = copy.deepcopy(retry) if retry else Retry(NoBackoff(), 1)
    if extra:
        policy.update_supported_errors(extra)
    return policy
