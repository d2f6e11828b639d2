"""Connection settings for the engine, read from the environment and `.env` files.

The variable names are the ones operators already use (`REDIS_URL`, or
`REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`), without a prefix.
`.env.local` overrides `.env`; real environment variables override both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import SplitResult, quote, urlsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RedisSettings", "default_data_dir", "mask_url"]

APP_NAME = "messai-console"
_MASK = "***"
# Any query parameter whose name ends in "password" (password=, sentinel_password=, ...).
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)[^&=]*password=)[^&]*")
# Fallback for strings that urlsplit rejects: hide the whole userinfo part.
_USERINFO = re.compile(r"(://)[^/@?#]*@")


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/messai-console`, else `~/.local/share/messai-console`."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP_NAME


class RedisSettings(BaseSettings):
    """Where Redis is, and where the embedded one keeps its data."""

    model_config = SettingsConfigDict(
        env_prefix="",
        env_file=(".env", ".env.local"),  # later files win
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_password: SecretStr | None = None
    redis_db: int = 0
    messai_embedded: bool = False
    messai_data_dir: Path | None = None
    messai_prefix: str = "messai"

    @property
    def data_dir(self) -> Path:
        """The embedded server's data directory (MESSAI_DATA_DIR or the XDG default)."""
        if self.messai_data_dir is not None:
            return self.messai_data_dir.expanduser()
        return default_data_dir()

    def explicit_url(self) -> str | None:
        """The configured Redis URL, or None when nothing is configured.

        `REDIS_URL` wins (a `REDIS_PASSWORD` is added to it when the URL carries
        none). Otherwise the URL is built when any of `REDIS_HOST`, `REDIS_PORT`
        or `REDIS_PASSWORD` is set (host defaults to 127.0.0.1).
        """
        password = self.redis_password.get_secret_value() if self.redis_password else None
        if self.redis_url:
            url = self.redis_url.strip()
            return _with_password(url, password) if password else url
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
    if parts.scheme not in ("redis", "rediss"):
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return _join(parts._replace(netloc=netloc))


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
