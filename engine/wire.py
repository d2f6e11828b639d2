"""A lean pipelining connection for the engine's hot path.

The general client (redis-py) spends more time per call in Python than a
loopback round trip takes. The hot calls (a worker's finish-and-fetch, a
producer's add) go through a :class:`Channel` instead: one connection, the
RESP request packed once per call from a pre-encoded head, and replies read
by one reader task that resolves callers in order. Calls made concurrently
share the connection and are pipelined by construction; cancelling a caller
does not desynchronise the stream (its reply is read and dropped).

Connection settings (TCP or unix socket, TLS, user, password, database)
come from the redis-py client the engine was given, so there is one place
to configure a deployment.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

Arg = str | int | float | bytes
_READ_SIZE = 65536
_HIGH_WATER = 1 << 20


def encode_arg(value: Arg) -> bytes:
    """One RESP bulk string."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = repr(value).encode() if isinstance(value, float) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def server_address(settings: dict[str, Any]) -> str:
    """A server's address (unix socket path, or host:port) from the settings
    of a redis-py connection pool."""
    path = settings.get("path")
    if path:
        return str(path)
    return f"{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"


def pack(args: list[Arg]) -> bytes:
    """A whole RESP request."""
    return b"*%d\r\n" % len(args) + b"".join(encode_arg(arg) for arg in args)


class Channel:
    """One pipelined connection to the server that ``client`` is configured for."""

    def __init__(self, client: Redis) -> None:
        pool = client.connection_pool
        self._settings = dict(pool.connection_kwargs)
        self._unix_path: str | None = self._settings.get("path")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._connect_lock = asyncio.Lock()
        self._decode = bool(self._settings.get("decode_responses", False))

    @property
    def address(self) -> str:
        return server_address(self._settings)

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def execute(self, request: bytes) -> Any:
        """Send one packed request and wait for its reply."""
        if not self.connected:
            await self._connect()
        assert self._writer is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._writer.write(request)
        if self._writer.transport.get_write_buffer_size() > _HIGH_WATER:
            await self._writer.drain()
        return await future

    async def command(self, *args: Arg) -> Any:
        return await self.execute(pack(list(args)))

    async def close(self) -> None:
        writer, task = self._writer, self._read_task
        self._writer = None
        if task is not None:
            task.cancel()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        self._fail_pending(RedisConnectionError("connection closed"))

    async def _connect(self) -> None:
        async with self._connect_lock:
            if self.connected:
                return
            settings = self._settings
            timeout = settings.get("socket_connect_timeout") or 10
            try:
                async with asyncio.timeout(timeout):
                    if self._unix_path:
                        reader, writer = await asyncio.open_unix_connection(self._unix_path)
                    else:
                        reader, writer = await asyncio.open_connection(
                            settings.get("host", "localhost"),
                            settings.get("port", 6379),
                            ssl=self._ssl_context(),
                        )
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            sock = writer.get_extra_info("socket")
            if sock is not None and sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self._reader, self._writer = reader, writer
            self._read_task = asyncio.get_running_loop().create_task(self._read_loop(reader))
            try:
                await self._handshake()
            except BaseException:
                await self.close()
                raise

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self._settings.get("ssl") and "ssl_cert_reqs" not in self._settings:
            return None
        context = ssl.create_default_context(cafile=self._settings.get("ssl_ca_certs"))
        requirement = self._settings.get("ssl_cert_reqs", "required")
        if requirement in ("none", ssl.CERT_NONE):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self._settings.get("ssl_certfile"):
            context.load_cert_chain(
                self._settings["ssl_certfile"], self._settings.get("ssl_keyfile")
            )
        return context

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

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(
            protocolError=RedisConnectionError,
            replyError=ResponseError,
            encoding="utf-8" if self._decode else None,
        )
        error: Exception = RedisConnectionError("Redis closed the connection")
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                parser.feed(data)
                while True:
                    reply = parser.gets()
                    if reply is False:
                        break
                    future = self._pending.popleft()
                    if future.done():
                        continue  # its caller was cancelled
                    if isinstance(reply, ResponseError):
                        future.set_exception(_classify(reply))
                    else:
                        future.set_result(reply)
        except asyncio.CancelledError:
            error = RedisConnectionError("connection closed")
            raise
        except (OSError, RedisConnectionError, ssl.SSLError) as exc:
            error = RedisConnectionError(f"lost the connection to Redis: {exc}")
        finally:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
            self._fail_pending(error)

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)


def _classify(error: ResponseError) -> Exception:
    message = str(error)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    if message.startswith("LOADING"):
        # A restarted server reading its AOF: a connection error to retry, as in redis-py.
        return BusyLoadingError(message)
    return error
