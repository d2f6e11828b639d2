"""Settings read from the environment and `.env` files, and the engine's own: where Redis is.

`EnvSettings` is the one base of every settings model (the engine's and the
application's): variables without a prefix, case-insensitive, `.env.local`
overriding `.env`, real environment variables overriding both.

`RedisSettings` holds the names operators already use: `REDIS_URL`, or
`REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`, plus the socket timeouts
`connect()` applies (`REDIS_SOCKET_CONNECT_TIMEOUT`, `REDIS_SOCKET_TIMEOUT`,
in seconds; 0 waits forever).

Sentinel: `REDIS_SENTINELS=host:port,host:port` with `REDIS_SENTINEL_SERVICE`
(default `mymaster`) and `REDIS_SENTINEL_PASSWORD` (the sentinels' own
password; `REDIS_PASSWORD` is the data nodes') build a `redis+sentinel://` URL
(see `engine.sentinel`) when `REDIS_URL` is not set. `REDIS_WAIT_REPLICAS`
(default 0) makes every add wait until that many replicas acknowledged it,
`REDIS_WAIT_TIMEOUT_MS` (default 1000) at most.

Redis Cluster: `REDIS_CLUSTER_NODES=host:port,host:port` (any of the nodes;
`REDIS_PASSWORD` is theirs) builds a `redis+cluster://` URL (see
`engine.cluster`) when `REDIS_URL` is not set.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EnvSettings", "RedisSettings", "mask_url"]

_MASK = "***"
# Any query parameter whose name ends in "password" (password=, sentinel_password=, ...).
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)[^&=]*password=)[^&]*")
# Fallback for strings that urlsplit rejects: hide the whole userinfo part.
_USERINFO = re.compile(r"(://)[^/@?#]*@")

#: How long opening a connection may take, in seconds.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: How long one reply may take, in seconds. Blocking commands (BZPOPMIN, XREAD
#: BLOCK...) wait their own block time on top (see `engine.connection`).
DEFAULT_SOCKET_TIMEOUT = 10.0


class EnvSettings(BaseSettings):
    """Base of every settings model: the environment, then `.env.local`, then `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="",
        env_file=(".env", ".env.local"),  # later files win
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )


_SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_SENTINEL_SERVICE = "mymaster"
#: How long an add waits for its replicas by default (with `REDIS_WAIT_REPLICAS`).
DEFAULT_WAIT_TIMEOUT_MS = 1000


class RedisSettings(EnvSettings):
    """Where Redis is, and how long the engine waits for it."""

    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_password: SecretStr | None = None
    redis_db: int = 0
    redis_socket_connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, ge=0)
    redis_socket_timeout: float = Field(default=DEFAULT_SOCKET_TIMEOUT, ge=0)
    redis_cluster_nodes: str | None = None
    redis_sentinels: str | None = None
    redis_sentinel_service: str = DEFAULT_SENTINEL_SERVICE
    redis_sentinel_password: SecretStr | None = None
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=DEFAULT_WAIT_TIMEOUT_MS, ge=0)

    def timeouts(self) -> dict[str, float | None]:
        """The socket timeouts as redis-py keyword arguments (0 becomes None: no limit)."""
        return {
            "socket_connect_timeout": self.redis_socket_connect_timeout or None,
            "socket_timeout": self.redis_socket_timeout or None,
        }

    def explicit_url(self) -> str | None:
        """The configured Redis URL, or None when nothing is configured.

        `REDIS_URL` wins (a `REDIS_PASSWORD` is added to it when the URL carries
        none, and to a sentinel URL a `REDIS_SENTINEL_PASSWORD`). Then
        `REDIS_CLUSTER_NODES` gives a `redis+cluster://` URL, then
        `REDIS_SENTINELS` a `redis+sentinel://` one. Otherwise the URL is
        built when any of `REDIS_HOST`, `REDIS_PORT` or `REDIS_PASSWORD` is set
        (host defaults to 127.0.0.1).
        """
        password = self.redis_password.get_secret_value() if self.redis_password else None
        sentinel_password = (
            self.redis_sentinel_password.get_secret_value()
            if self.redis_sentinel_password
            else None
        )
        if self.redis_url:
            url = self.redis_url.strip()
            url = _with_password(url, password) if password else url
            return _with_sentinel_password(url, sentinel_password) if sentinel_password else url
        if self.redis_cluster_nodes:
            hosts = ",".join(
                part.strip() for part in self.redis_cluster_nodes.split(",") if part.strip()
            )
            auth = f":{quote(password, safe='')}@" if password else ""
            return f"redis+cluster://{auth}{hosts}"
        if self.redis_sentinels:
            hosts = ",".join(
                part.strip() for part in self.redis_sentinels.split(",") if part.strip()
            )
            auth = f":{quote(password, safe='')}@" if password else ""
            url = f"redis+sentinel://{auth}{hosts}/{quote(self.redis_sentinel_service, safe='')}"
            url += f"/{self.redis_db}"
            return _with_sentinel_password(url, sentinel_password) if sentinel_password else url
        if not ({"redis_host", "redis_port", "redis_password"} & self.model_fields_set):
            return None
        host = self.redis_host or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 literal
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{host}:{self.redis_port}/{self.redis_db}"


def _with_password(url: str, password: str) -> str:
    """Add `password` to a redis URL that has none; leave it alone otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password or "password=" in parts.query:
        return url
    if parts.scheme == "unix":
        query = f"{parts.query}&" if parts.query else ""
        return _join(parts._replace(query=f"{query}password={quote(password, safe='')}"))
    if parts.scheme not in ("redis", "rediss", *_SENTINEL_SCHEMES, *_CLUSTER_SCHEMES):
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return _join(parts._replace(netloc=netloc))


def _with_sentinel_password(url: str, password: str) -> str:
    """Add `sentinel_password=` to a sentinel URL that has none."""
    scheme = url.partition("://")[0].lower()
    if scheme not in _SENTINEL_SCHEMES or "sentinel_password=" in url:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}sentinel_password={quote(password, safe='')}"


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by `***` (userinfo and `?password=`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _QUERY_PASSWORD.sub(rf"\1{_MASK}", _USERINFO.sub(rf"\1{_MASK}@", url))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _secret = userinfo.partition(":")
        # With a colon, the part before it is a username; without one, some clients
        # read the lone userinfo as a password, so hide it all.
        netloc = f"{user}:{_MASK}@{host}" if colon else f"{_MASK}@{host}"
    query = _QUERY_PASSWORD.sub(rf"\1{_MASK}", parts.query)
    return _join(parts._replace(netloc=netloc, query=query))


def _join(parts: SplitResult) -> str:
    """Like urlunsplit, but keeps `//` for schemes urllib does not know (`unix://`)."""
    url = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.geturl()
    if parts.scheme and parts.query:
        url += f"?{parts.query}"
    if parts.scheme and parts.fragment:
        url += f"#{parts.fragment}"
    return url
