"""Finding Redis and connecting to it.

`resolve_redis_url` picks the server: the configured one, else a Redis on the
default address, else the user's embedded server (started on demand).
`connect` / `connect_sync` build clients with keep-alive, health checks and
retries with exponential backoff; `check_connection` turns the usual failures
into one readable line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import AuthenticationError, InvalidResponse, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from engine.embedded import ensure_embedded
from engine.settings import RedisSettings, mask_url
from engine.wire import close_shared_channel

__all__ = [
    "DEFAULT_URL",
    "RedisUnavailable",
    "check_connection",
    "check_connection_sync",
    "connect",
    "connect_sync",
    "print_to_stderr",
    "resolve_redis_url",
]

#: Where a local Redis usually listens; probed when nothing is configured.
DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: How long the probe of DEFAULT_URL may take.
PROBE_TIMEOUT = 0.3

RETRIES = 5
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
HEALTH_CHECK_INTERVAL = 30

T = TypeVar("T")


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or refuses us; the message is one line, password masked."""


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _answers_ping(url: str, timeout: float) -> bool:
    try:
        with redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        ) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def resolve_redis_url(
    settings: RedisSettings | None = None,
    *,
    announce: Callable[[str], None] | None = print_to_stderr,
) -> str:
    """The Redis URL to use.

    1. `REDIS_URL` or `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`;
    2. unless `MESSAI_EMBEDDED` is set, a Redis answering PING at `DEFAULT_URL`;
    3. the user's embedded server (reused, or started now), announced in one line.
    """
    settings = settings if settings is not None else RedisSettings()
    explicit = settings.explicit_url()
    if explicit:
        return explicit
    if not settings.messai_embedded and _answers_ping(DEFAULT_URL, PROBE_TIMEOUT):
        return DEFAULT_URL
    server, started = ensure_embedded(settings.data_dir)
    if announce is not None:
        how = "started" if started else "reused"
        announce(f"embedded Redis at {mask_url(server.url)} (data in {server.data_dir}, {how})")
    return server.url


class _AuthFailed(RedisError):
    """Carries an AuthenticationError through Retry, which would retry it otherwise
    (redis-py's AuthenticationError is a ConnectionError)."""

    def __init__(self, error: AuthenticationError) -> None:
        super().__init__(str(error))
        self.error = error


class _AsyncRetry(AsyncRetry):
    """Exponential-backoff retries on connection errors and timeouts, but never on
    a wrong or missing password: that fails at once."""

    async def call_with_retry(
        self, do: Callable[[], Awaitable[T]], fail: Any, *args: Any, **kwargs: Any
    ) -> T:
        async def attempt() -> T:
            try:
                return await do()
            except AuthenticationError as exc:
                raise _AuthFailed(exc) from exc

        try:
            return await super().call_with_retry(attempt, fail, *args, **kwargs)
        except _AuthFailed as failed:
            raise failed.error from None


class _SyncRetry(Retry):
    """The synchronous twin of `_AsyncRetry`."""

    def call_with_retry(self, do: Callable[[], T], fail: Any, *args: Any, **kwargs: Any) -> T:
        def attempt() -> T:
            try:
                return do()
            except AuthenticationError as exc:
                raise _AuthFailed(exc) from exc

        try:
            return super().call_with_retry(attempt, fail, *args, **kwargs)
        except _AuthFailed as failed:
            raise failed.error from None


class _Client(redis.asyncio.Redis):
    """A client that also closes the engine's own connection for it (the one
    queues add jobs over, see `engine.wire.shared_channel`) when it is closed."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await close_shared_channel(self)
        finally:
            await super().aclose(close_connection_pool)


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


def connect(url: str, *, retries: int = RETRIES, **kwargs: Any) -> redis.asyncio.Redis:
    """An asyncio client for `url`: decoded responses, keep-alive, health checks every
    30 s, and up to `retries` retries with exponential backoff on connection errors and
    timeouts (not on authentication errors). Keyword arguments go to
    `redis.asyncio.Redis.from_url` and override these defaults. Closing the client
    also closes the connection that queues add jobs over."""
    retry = _AsyncRetry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )
    return _Client.from_url(url, **_client_options(url, retry, kwargs))


def connect_sync(url: str, *, retries: int = RETRIES, **kwargs: Any) -> redis.Redis:
    """The synchronous twin of `connect`."""
    retry = _SyncRetry(
        ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError, TimeoutError),
    )
    return redis.Redis.from_url(url, **_client_options(url, retry, kwargs))


def _client_url(client: redis.asyncio.Redis | redis.Redis) -> str:
    """Rebuild a displayable URL from a client's connection settings."""
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


def _unavailable(client: redis.asyncio.Redis | redis.Redis, exc: BaseException) -> RedisUnavailable:
    where = _client_url(client)
    if _is_auth_error(exc):
        return RedisUnavailable(f"authentication failed for Redis at {where}: {_reason(exc)}")
    if isinstance(exc, InvalidResponse):
        return RedisUnavailable(
            f"cannot reach Redis at {where}: not a Redis server ({_reason(exc)})"
        )
    return RedisUnavailable(f"cannot reach Redis at {where}: {_reason(exc)}")


_FAILURES = (RedisConnectionError, RedisTimeoutError, ResponseError, InvalidResponse, OSError)


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
