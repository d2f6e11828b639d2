"""Connecting to Redis.

`connect` / `connect_sync` build clients for a URL (or the configured one:
`REDIS_URL`, or `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`) with
keep-alive, health checks, socket timeouts, and retries with exponential
backoff; `check_connection` turns the usual failures into one readable line.

The engine never starts a Redis of its own: with no URL and nothing
configured, `connect` raises `RedisNotConfigured`. (The console's CLI falls
back to an embedded server: see `messai_console.embedded`.)

Socket timeouts: opening a connection waits at most `REDIS_SOCKET_CONNECT_TIMEOUT`
seconds (default 5) and a reply at most `REDIS_SOCKET_TIMEOUT` (default 10), so
a producer facing a frozen server gets an error instead of waiting forever.
A blocking command (BZPOPMIN, BLPOP, XREAD BLOCK, WAIT...) waits its own block
time on top, so a worker's wake-up wait or `events --follow` is never cut short.
"""

from __future__ import annotations

import functools
import math
import os
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    InvalidResponse,
    RedisClusterException,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from engine.cluster import (
    cluster_client,
    cluster_client_sync,
    cluster_description,
    is_cluster_url,
    parse_cluster_url,
)
from engine.durability import ReplicaAck
from engine.replicas import ReplicaPool, without_replica_option
from engine.sentinel import (
    is_sentinel_url,
    parse_sentinel_url,
    sentinel_client,
    sentinel_client_sync,
    sentinel_description,
)
from engine.settings import RedisSettings, mask_url
from engine.wire import close_shared_channel

__all__ = [
    "RedisNotConfigured",
    "RedisUnavailable",
    "blocking_seconds",
    "check_connection",
    "check_connection_sync",
    "connect",
    "connect_reader",
    "connect_sync",
    "resolve_redis_url",
]

RETRIES = 5
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
HEALTH_CHECK_INTERVAL = 30

T = TypeVar("T")


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or refuses us; the message is one line, password masked."""


class RedisNotConfigured(RedisUnavailable):
    """No URL was given and none is configured."""

    def __init__(self) -> None:
        super().__init__(
            "no Redis configured: pass a URL to connect() or set REDIS_URL "
            "(or REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB)"
        )


def resolve_redis_url(settings: RedisSettings | None = None) -> str:
    """The configured Redis URL (`REDIS_URL`, or one built from `REDIS_HOST`...);
    `RedisNotConfigured` when there is none."""
    settings = settings if settings is not None else RedisSettings()
    url = settings.explicit_url()
    if not url:
        raise RedisNotConfigured()
    return url


# Blocking commands and where their block time is: seconds as the last argument,
# seconds as the first, milliseconds after BLOCK, milliseconds as the last argument.
_SECONDS_LAST = frozenset({"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BRPOPLPUSH", "BLMOVE"})
_SECONDS_FIRST = frozenset({"BLMPOP", "BZMPOP"})
_BLOCK_OPTION = frozenset({"XREAD", "XREADGROUP"})
_MILLISECONDS_LAST = frozenset({"WAIT", "WAITAOF"})
_BLOCKING = _SECONDS_LAST | _SECONDS_FIRST | _BLOCK_OPTION | _MILLISECONDS_LAST


def blocking_seconds(args: Sequence[Any]) -> float | None:
    """How long the command `args` may block on the server: None when it does not
    block, `math.inf` when it blocks until something happens (a timeout of 0)."""
    if not args:
        return None
    name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    name = name.upper()
    try:
        if name in _SECONDS_LAST and len(args) > 1:
            value = float(args[-1])
        elif name in _SECONDS_FIRST and len(args) > 1:
            value = float(args[1])
        elif name in _MILLISECONDS_LAST and len(args) > 1:
            value = float(args[-1]) / 1000
        elif name in _BLOCK_OPTION:
            words = [a.decode() if isinstance(a, bytes) else str(a) for a in args]
            upper = [word.upper() for word in words]
            if "BLOCK" not in upper:
                return None
            value = float(words[upper.index("BLOCK") + 1]) / 1000
        else:
            return None
    except (ValueError, IndexError):
        return None
    return math.inf if value == 0 else max(value, 0.0)


def _widened(read_timeout: float | None, args: Sequence[Any]) -> float | None:
    """The read timeout for `args`: the socket timeout plus the command's block time."""
    block = blocking_seconds(args)
    if read_timeout is None or block is None:
        return read_timeout
    return None if math.isinf(block) else read_timeout + block


class _AsyncRetry(AsyncRetry):
    """Exponential-backoff retries on connection errors and timeouts, but never on
    a wrong or missing password: that fails at once. (redis-py's
    AuthenticationError is a ConnectionError: its failure hook re-raises it
    instead of letting the retry go on. Every call passes here, so nothing
    is wrapped around the call itself.)"""

    def call_with_retry(  # type: ignore[override]
        self, do: Callable[[], Awaitable[T]], fail: Any, *args: Any, **kwargs: Any
    ) -> Awaitable[T]:
        # Not a coroutine of its own: the caller awaits redis-py's directly.
        return AsyncRetry.call_with_retry(
            self, do, functools.partial(_fail_unless_auth, fail), *args, **kwargs
        )


async def _fail_unless_auth(fail: Any, error: Exception, *rest: Any) -> Any:
    """redis-py's failure hook of one call, except for a wrong or missing password:
    raised, which ends the retries."""
    if isinstance(error, AuthenticationError):
        raise error
    return await fail(error, *rest)


class _SyncRetry(Retry):
    """The synchronous twin of `_AsyncRetry`."""

    def call_with_retry(self, do: Callable[[], T], fail: Any, *args: Any, **kwargs: Any) -> T:
        def failed(error: Exception, *rest: Any) -> Any:
            if isinstance(error, AuthenticationError):
                raise error
            return fail(error, *rest)

        return super().call_with_retry(do, failed, *args, **kwargs)


class _Client(redis.asyncio.Redis):
    """A client that waits a blocking command's own block time on top of its socket
    timeout, and that also closes the engine's own connection for it (the one
    queues add jobs over, see `engine.wire.shared_channel`) when it is closed
    (and, under Sentinel, its connections to the sentinels)."""

    replica_ack: ReplicaAck | None = None
    """How many replicas a queue's adds wait for (`REDIS_WAIT_REPLICAS`); None: none."""

    def _send_command_parse_response(
        self, conn: Any, command_name: Any, *args: Any, **options: Any
    ) -> Coroutine[Any, Any, Any]:
        if type(command_name) is str and command_name not in _BLOCKING and command_name.isupper():
            # the common case, kept lean (no coroutine of its own): every
            # command of the client passes here
            return super()._send_command_parse_response(  # type: ignore[no-untyped-call]
                conn, command_name, *args, **options
            )
        return self._send_blocking(conn, command_name, *args, **options)

    async def _send_blocking(self, conn: Any, command_name: Any, *args: Any, **options: Any) -> Any:
        # The connection is this call's alone until it returns; redis-py reads the
        # reply under `socket_timeout`, so lend it the wider one for this command.
        saved = conn.socket_timeout
        conn.socket_timeout = _widened(saved, args)
        try:
            return await super()._send_command_parse_response(  # type: ignore[no-untyped-call]
                conn, command_name, *args, **options
            )
        finally:
            conn.socket_timeout = saved

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await close_shared_channel(self)
        finally:
            await super().aclose(close_connection_pool)
            manager = getattr(self.connection_pool, "sentinel_manager", None)
            if manager is not None:
                await manager.aclose()


class _SyncClient(redis.Redis):
    """The synchronous twin of `_Client`'s blocking-command timeouts."""

    def _send_command_parse_response(
        self, conn: Any, command_name: Any, *args: Any, **options: Any
    ) -> Any:
        saved = conn.socket_timeout
        wider = _widened(saved, args)
        if wider == saved:
            return super()._send_command_parse_response(  # type: ignore[no-untyped-call]
                conn, command_name, *args, **options
            )
        # The sync connection applies its timeout to the socket itself (at connect).
        conn.socket_timeout = wider
        if conn._sock is not None:
            conn._sock.settimeout(wider)
        try:
            return super()._send_command_parse_response(  # type: ignore[no-untyped-call]
                conn, command_name, *args, **options
            )
        finally:
            conn.socket_timeout = saved
            if conn._sock is not None:
                conn._sock.settimeout(saved)


def _client_options(url: str, retry: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": retry,
    }
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True  # unix socket connections reject this option
    options.update(kwargs)
    return options


def _url_and_options(
    url: str | None, kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any], ReplicaAck | None]:
    """The URL to use, the settings' socket timeouts (which `kwargs` override),
    and the replica acknowledgement adds wait for."""
    settings = RedisSettings()
    resolved = without_replica_option(url or resolve_redis_url(settings))
    return resolved, {**settings.timeouts(), **kwargs}, ReplicaAck.from_settings(settings)


def connect(
    url: str | None = None,
    *,
    retries: int = RETRIES,
    pool_wait_s: float | None = None,
    **kwargs: Any,
) -> redis.asyncio.Redis:
    """An asyncio client for `url` (default: `REDIS_URL` or `REDIS_HOST`...; with
    neither, `RedisNotConfigured`).

    Decoded responses, keep-alive, health checks every 30 s, socket timeouts
    (`socket_connect_timeout=` and `socket_timeout=` in seconds, None for no limit;
    by default `REDIS_SOCKET_CONNECT_TIMEOUT` = 5 and `REDIS_SOCKET_TIMEOUT` = 10,
    blocking commands waiting their block time on top), and up to `retries`
    retries with exponential backoff on connection errors and timeouts (not on
    authentication errors). Keyword arguments go to `redis.asyncio.Redis.from_url`
    and override these defaults (query parameters of the URL override both).
    Closing the client also closes the connection that queues add jobs over.

    The pool holds at most `max_connections=` connections (redis-py's default:
    100); past that a command fails at once with `MaxConnectionsError`, unless
    `pool_wait_s` is given: then it waits up to that many seconds for a
    connection to come back (for a server running hundreds of requests at once;
    not under Sentinel or Cluster, whose pools always fail at once).

    A `redis+cluster://` URL (see `engine.cluster`) gives a Redis Cluster
    client (redis-py's `RedisCluster`, which routes each call to the master of
    its keys' slot). A `redis+sentinel://` URL (see `engine.sentinel`) gives a client on the
    master that the sentinels name, following a failover; `REDIS_WAIT_REPLICAS`
    makes queues on the client wait for that many replicas after each add
    (`engine.durability`)."""
    resolved, options, ack = _url_and_options(url, kwargs)
    retry = _AsyncRetry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )
    client_options = _client_options(resolved, retry, options)
    if is_cluster_url(resolved):
        if ack is not None:
            raise ValueError("REDIS_WAIT_REPLICAS is not supported on a Redis Cluster yet")
        cluster = cluster_client(parse_cluster_url(resolved), client_options)
        return cast(redis.asyncio.Redis, cluster)
    if is_sentinel_url(resolved):
        client = cast(
            _Client, sentinel_client(parse_sentinel_url(resolved), _Client, client_options)
        )
    elif pool_wait_s is not None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            resolved, timeout=pool_wait_s, **client_options
        )
        client = _Client(connection_pool=pool)
        client.auto_close_connection_pool = True  # as from_url does: closing it closes the pool
    else:
        client = cast(_Client, _Client.from_url(resolved, **client_options))
    client.replica_ack = ack
    return client


def connect_reader(
    url: str | None = None, *, retries: int = RETRIES, **kwargs: Any
) -> redis.asyncio.Redis:
    """Like `connect`, but a client for reads that opens its connections on a
    replica (see `engine.replicas`): under Sentinel one the sentinels name,
    otherwise one the server at the URL lists as online; the master when
    no replica is. Send it read commands and `no-writes` scripts only."""
    resolved, options, _ack = _url_and_options(url, kwargs)
    retry = _AsyncRetry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )
    client_options = _client_options(resolved, retry, options)
    if is_sentinel_url(resolved):
        config = parse_sentinel_url(resolved)
        return sentinel_client(config, _Client, client_options, replica=True)
    if resolved.startswith("unix:"):
        raise ValueError("reading from a replica needs a TCP URL, not a unix socket")
    return _Client.from_pool(ReplicaPool.from_url(resolved, **client_options))


def connect_sync(url: str | None = None, *, retries: int = RETRIES, **kwargs: Any) -> redis.Redis:
    """The synchronous twin of `connect`."""
    resolved, options, _ack = _url_and_options(url, kwargs)
    retry = _SyncRetry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError, TimeoutError),
    )
    client_options = _client_options(resolved, retry, options)
    if is_cluster_url(resolved):
        return cast(redis.Redis, cluster_client_sync(parse_cluster_url(resolved), client_options))
    if is_sentinel_url(resolved):
        return sentinel_client_sync(parse_sentinel_url(resolved), _SyncClient, client_options)
    return _SyncClient.from_url(resolved, **client_options)


def _client_url(client: redis.asyncio.Redis | redis.Redis) -> str:
    """Rebuild a displayable URL from a client's connection settings."""
    described = cluster_description(client)
    if described is not None:
        return described
    described = sentinel_description(client.connection_pool)
    if described is not None:
        return described
    kw: dict[str, Any] = client.connection_pool.connection_kwargs
    password = kw.get("password")
    username = kw.get("username") or ""
    auth = f"{username}:{password}@" if password else (f"{username}@" if username else "")
    if kw.get("path"):
        url = f"unix://{kw['path']}"
        return mask_url(f"{url}?password={password}") if password else url
    scheme = (
        "rediss"
        if "SSL" in getattr(client.connection_pool.connection_class, "__name__", "")
        else "redis"
    )
    host = kw.get("host", "localhost")
    if ":" in str(host):
        host = f"[{host}]"
    return mask_url(f"{scheme}://{auth}{host}:{kw.get('port', 6379)}/{kw.get('db', 0)}")


def _is_auth_error(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationError):
        return True
    text = str(exc)
    return isinstance(exc, ResponseError) and text.startswith(
        ("NOAUTH", "WRONGPASS", "invalid password", "invalid username-password")
    )


def _reason(exc: BaseException) -> str:
    """A short, one-line cause: the OS error text when there is one ("Connection refused")."""
    cause: BaseException | None = exc
    visited: set[int] = set()
    while cause is not None and id(cause) not in visited:  # chains can loop
        visited.add(id(cause))
        if isinstance(cause, ssl.SSLError):  # an OSError whose errno means nothing to people
            return _tls_reason(cause)
        if isinstance(cause, OSError) and cause.errno:
            # asyncio words ECONNREFUSED as "Connect call failed (...)"; resolver errors
            # (negative codes) only have their own text.
            return os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    reason = " ".join(str(exc).split())
    # redis-py: "Error 111 connecting to host:port. Connection refused." -> "Connection refused"
    if reason.startswith("Error ") and ". " in reason:
        reason = reason.split(". ", 1)[1]
    return reason.rstrip(".") or type(exc).__name__


def _tls_reason(error: ssl.SSLError) -> str:
    """A TLS failure in words: a certificate Redis showed that could not be
    verified (wrong CA, host name, expired), or the handshake's own reason."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or error.reason or "unknown reason"
        return f"TLS certificate verify failed: {detail} (check ssl_ca_certs and the host name)"
    return f"TLS handshake failed: {error.reason or error.strerror or error}"


def _unavailable(client: redis.asyncio.Redis | redis.Redis, exc: BaseException) -> RedisUnavailable:
    where = _client_url(client)
    if _is_auth_error(exc):
        return RedisUnavailable(f"authentication failed for Redis at {where}: {_reason(exc)}")
    if isinstance(exc, InvalidResponse):
        return RedisUnavailable(
            f"cannot reach Redis at {where}: not a Redis server ({_reason(exc)})"
        )
    return RedisUnavailable(f"cannot reach Redis at {where}: {_reason(exc)}")


_FAILURES = (
    RedisConnectionError,
    RedisTimeoutError,
    ResponseError,
    InvalidResponse,
    OSError,
    RedisClusterException,  # no startup node answers
)


async def check_connection(client: redis.asyncio.Redis) -> None:
    """PING; raise RedisUnavailable (one line, password masked) when that fails."""
    try:
        await client.ping()
    except _FAILURES as exc:
        if isinstance(exc, ResponseError) and not _is_auth_error(exc):
            raise
        raise _unavailable(client, exc) from exc


def check_connection_sync(client: redis.Redis) -> None:
    """The synchronous twin of `check_connection`."""
    try:
        client.ping()
    except _FAILURES as exc:
        if isinstance(exc, ResponseError) and not _is_auth_error(exc):
            raise
        raise _unavailable(client, exc) from exc
