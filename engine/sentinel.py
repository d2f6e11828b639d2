"""Redis under Sentinel: the `redis+sentinel://` URL and clients that follow the master.

    redis+sentinel://[user:password@]host:port,host:port/<service>[/<db>][?options]
    rediss+sentinel://...   the same over TLS (data nodes and sentinels)

The user and password are the data nodes' (master and replicas);
`sentinel_password=` (and `sentinel_username=`) in the query are the
sentinels' own, when they require one. Every other query option is a
redis-py connection option, as in a `redis://` URL (`socket_timeout=`,
`ssl_cert_reqs=`...).

A client made here is redis-py's `Sentinel(...).master_for(service)`: its
pool (`SentinelConnectionPool`) asks the sentinels for the master whenever a
connection opens, and turns a `READONLY` answer (the old master, demoted) into
a connection error that closes the connection, so the next call re-resolves.
So does the `UNBLOCKED` answer that a demoted master gives the blocking
commands it was serving (a worker's wake-up wait): without that, a caller
would take it for a command error.
The engine's own connection (`engine.wire`) asks the same pool (see
:func:`master_address`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.connection
import redis.sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from engine.addresses import format_address, parse_addresses
from engine.settings import mask_url

__all__ = [
    "SENTINEL_SCHEMES",
    "SentinelConfig",
    "is_sentinel_pool",
    "is_sentinel_url",
    "master_address",
    "parse_sentinel_url",
    "sentinel_client",
    "sentinel_client_sync",
    "sentinel_description",
]

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379

# Options that belong to the sentinels, not to the data nodes' connections.
_SENTINEL_OPTIONS = ("sentinel_password", "sentinel_username")


_UNBLOCKED = "UNBLOCKED"
"""How a server that became a replica answers the blocking commands it was serving."""


def _demoted(error: ResponseError) -> RedisConnectionError:
    return RedisConnectionError(f"{error} (the master was demoted: reconnecting)")


class _MasterConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """A connection to the master that reads `UNBLOCKED` as READONLY is read:
    the master was demoted; disconnect, and the next connect asks the sentinels."""

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        # redis-py 8 reopens a dropped connection through here, not through
        # connect(): to the address it had, the demoted master. Ask first.
        if not self.is_connected and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(*args, **kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ResponseError as error:
            if not str(error).startswith(_UNBLOCKED):
                raise
            await self.disconnect()
            raise _demoted(error) from None


class _MasterSSLConnection(_MasterConnection, redis.asyncio.connection.SSLConnection):
    pass


class _SyncMasterConnection(redis.sentinel.SentinelManagedConnection):
    """The synchronous twin of `_MasterConnection`."""

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        # see _MasterConnection.connect_check_health
        if not self._sock and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(*args, **kwargs)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except ResponseError as error:
            if not str(error).startswith(_UNBLOCKED):
                raise
            self.disconnect()  # type: ignore[no-untyped-call]
            raise _demoted(error) from None


class _SyncMasterSSLConnection(_SyncMasterConnection, redis.connection.SSLConnection):
    pass


def _no_master(sentinels: list[Any], service: str) -> str:
    """A one-line MasterNotFoundError message (redis-py's holds each client's repr)."""
    where = ", ".join(
        format_address(
            str(client.connection_pool.connection_kwargs.get("host")),
            int(client.connection_pool.connection_kwargs.get("port", DEFAULT_SENTINEL_PORT)),
        )
        for client in sentinels
    )
    return f"no master for {service!r}: no sentinel at {where} answers with one"


class _Sentinel(redis.asyncio.sentinel.Sentinel):
    async def discover_master(self, service_name: str) -> Any:
        try:
            return await super().discover_master(service_name)
        except redis.asyncio.sentinel.MasterNotFoundError:
            raise redis.asyncio.sentinel.MasterNotFoundError(
                _no_master(self.sentinels, service_name)
            ) from None


class _SyncSentinel(redis.sentinel.Sentinel):
    def discover_master(self, service_name: str) -> Any:
        try:
            return super().discover_master(service_name)  # type: ignore[no-untyped-call]
        except redis.sentinel.MasterNotFoundError:
            raise redis.sentinel.MasterNotFoundError(
                _no_master(self.sentinels, service_name)
            ) from None


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES


@dataclass(frozen=True)
class SentinelConfig:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    """Other redis-py connection options from the query, typed as redis-py types them."""

    def url(self) -> str:
        """The URL back, password masked (for messages and displays)."""
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        auth = ""
        if self.password:
            auth = f"{quote(self.username or '', safe='')}:{self.password}@"
        elif self.username:
            auth = f"{quote(self.username, safe='')}@"
        hosts = ",".join(format_address(host, port) for host, port in self.sentinels)
        query = "?sentinel_password=x" if self.sentinel_password else ""
        return mask_url(f"{scheme}://{auth}{hosts}/{quote(self.service, safe='')}/{self.db}{query}")


def parse_sentinel_url(url: str) -> SentinelConfig:
    """Parse `redis+sentinel://[user:password@]h:p,h:p/<service>[/<db>][?options]`;
    ValueError (password masked) when it is not one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a sentinel URL: {mask_url(url)}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = parse_addresses(hosts, DEFAULT_SENTINEL_PORT, "sentinel address")
    if not sentinels:
        raise ValueError(f"sentinel URL without sentinels: {mask_url(url)}")
    path = [unquote(part) for part in parts.path.split("/") if part]
    if not path or len(path) > 2:
        raise ValueError(
            f"sentinel URL needs /<service>[/<db>] after the sentinels: {mask_url(url)}"
        )
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ValueError(f"sentinel URL with a bad database number: {mask_url(url)}") from None
    username, colon, password = userinfo.partition(":")
    # The query's redis-py options, typed as redis-py types them for a redis:// URL.
    options: dict[str, Any] = dict(
        redis.asyncio.connection.parse_url(f"redis://localhost/?{parts.query}")
    )
    for name in ("host", "port", "username", "password"):
        options.pop(name, None)
    if "db" in options:
        db = int(options.pop("db"))
    sentinel_username = options.pop("sentinel_username", None)
    sentinel_password = options.pop("sentinel_password", None)
    return SentinelConfig(
        sentinels=sentinels,
        service=path[0],
        db=db,
        username=unquote(username) or None,
        password=(unquote(password) or None) if colon else None,
        sentinel_username=sentinel_username,
        sentinel_password=sentinel_password,
        tls=scheme == "rediss+sentinel",
        options=options,
    )


def _node_options(
    config: SentinelConfig, options: dict[str, Any], plain: type, tls: type
) -> dict[str, Any]:
    """The data nodes' connection options: the client's, then the URL's."""
    merged = {**options, **config.options, "db": config.db}
    if config.username:
        merged["username"] = config.username
    if config.password:
        merged["password"] = config.password
    merged["connection_class"] = tls if config.tls else plain
    return merged


def _sentinel_options(config: SentinelConfig, node: dict[str, Any], retry: Any) -> dict[str, Any]:
    """The sentinels' connections: the same timeouts and TLS, their own
    credentials, and a single try each (the lookup moves on to the next sentinel)."""
    options: dict[str, Any] = {
        name: value for name, value in node.items() if name.startswith(("socket_", "ssl_"))
    }
    options["decode_responses"] = True
    options["retry"] = retry
    if config.tls:
        options["ssl"] = True
    if config.sentinel_username:
        options["username"] = config.sentinel_username
    if config.sentinel_password:
        options["password"] = config.sentinel_password
    return options


def sentinel_client(
    config: SentinelConfig,
    redis_class: type[redis.asyncio.Redis],
    options: dict[str, Any],
    replica: bool = False,
) -> redis.asyncio.Redis:
    """An asyncio client of `redis_class` on the master of `config.service`
    (`replica`: on its replicas, round robin, the master when none is healthy)."""
    from redis.asyncio.retry import Retry as AsyncRetry

    node = _node_options(config, options, _MasterConnection, _MasterSSLConnection)
    manager = _Sentinel(  # type: ignore[no-untyped-call]
        list(config.sentinels),
        sentinel_kwargs=_sentinel_options(config, node, AsyncRetry(NoBackoff(), 0)),
    )
    pick = manager.slave_for if replica else manager.master_for
    client: redis.asyncio.Redis = pick(config.service, redis_class=redis_class, **node)
    return client


def sentinel_client_sync(
    config: SentinelConfig, redis_class: type[redis.Redis], options: dict[str, Any]
) -> redis.Redis:
    """The synchronous twin of :func:`sentinel_client`."""
    from redis.retry import Retry

    node = _node_options(config, options, _SyncMasterConnection, _SyncMasterSSLConnection)
    manager = _SyncSentinel(  # type: ignore[no-untyped-call]
        list(config.sentinels),
        sentinel_kwargs=_sentinel_options(config, node, Retry(NoBackoff(), 0)),
    )
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        config.service, redis_class=redis_class, **node
    )
    return client


def is_sentinel_pool(pool: Any) -> bool:
    """Whether `pool` finds its master through sentinels."""
    return isinstance(
        pool, redis.asyncio.sentinel.SentinelConnectionPool | redis.sentinel.SentinelConnectionPool
    ) and bool(getattr(pool, "is_master", False))


async def master_address(pool: Any) -> tuple[str, int]:
    """The current master's (host, port), asked of the sentinels of an asyncio
    sentinel pool (`MasterNotFoundError`, a connection error, when none knows one)."""
    host, port = await pool.get_master_address()
    return str(host), int(port)


def sentinel_description(pool: Any) -> str | None:
    """A displayable URL (password masked) for a sentinel pool; None for another pool."""
    if not is_sentinel_pool(pool):
        return None
    kw: dict[str, Any] = pool.connection_kwargs
    manager = pool.sentinel_manager
    sentinels = tuple(
        (
            str(client.connection_pool.connection_kwargs.get("host", "localhost")),
            int(client.connection_pool.connection_kwargs.get("port", DEFAULT_SENTINEL_PORT)),
        )
        for client in manager.sentinels
    )
    sentinel_password = manager.sentinel_kwargs.get("password")
    config = SentinelConfig(
        sentinels=sentinels,
        service=str(pool.service_name),
        db=int(kw.get("db") or 0),
        username=kw.get("username"),
        password=kw.get("password"),
        sentinel_password=sentinel_password,
        tls="SSL" in getattr(pool.connection_class, "__name__", ""),
    )
    return config.url()
