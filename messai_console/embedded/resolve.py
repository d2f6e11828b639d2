"""Which Redis the application uses: the configured one, else a local one, else its own."""

from __future__ import annotations

import sys
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.settings import mask_url
from messai_console.embedded.user_server import ensure_embedded
from messai_console.settings import ConsoleRedisSettings, settings

__all__ = ["DEFAULT_URL", "print_to_stderr", "redis_url_or_embedded"]

#: Where a local Redis usually listens; probed when nothing is configured.
DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: How long the probe of DEFAULT_URL may take.
PROBE_TIMEOUT = 0.3


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


def redis_url_or_embedded(
    redis_settings: ConsoleRedisSettings | None = None,
    *,
    announce: Callable[[str], None] | None = print_to_stderr,
) -> str:
    """The Redis URL the application uses.

    1. `REDIS_URL` or `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`;
    2. unless `MESSAI_EMBEDDED` is set, a Redis answering PING at `DEFAULT_URL`;
    3. the user's embedded server (reused, or started now), announced in one line.

    Raises `EmbeddedRedisError` when the embedded server cannot be started.
    """
    current = settings()
    redis_settings = redis_settings if redis_settings is not None else current.redis
    explicit = redis_settings.explicit_url()
    if explicit:
        return explicit
    if not redis_settings.messai_embedded and _answers_ping(DEFAULT_URL, PROBE_TIMEOUT):
        return DEFAULT_URL
    server, started = ensure_embedded(current.data.data_dir)
    if announce is not None:
        how = "started" if started else "reused"
        announce(f"embedded Redis at {mask_url(server.url)} (data in {server.data_dir}, {how})")
    return server.url
