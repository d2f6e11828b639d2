"""What a worker does when Redis answers with an error: it goes on.

A worker never exits because of what Redis answered. A lost connection, a
full server (OOM under ``noeviction``), a read-only replica after a
failover (``READONLY``), a server loading its data (``LOADING``), a busy
script (``BUSY``), a key of the wrong type, an error raised by a script:
each is one line in the log with its cause, a back-off, and another try.
What was to be reported is kept and sent again.

:class:`FailureLog` keeps those lines few: the first failure of a kind is
logged, repeats of the same cause are counted and summed up at most once
per :data:`REPEAT_LOG_S`, and the first success after failures says so.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("engine.worker")

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionError, OSError)
"""What a call to Redis may raise that the worker survives: every error of
the client library (connection lost, timeouts, every error reply) and of
the socket under it."""

REPEAT_LOG_S = 30.0
"""A failure that repeats with the same cause is logged at most this often."""

MAX_BACKOFF_S = 5.0


def backoff_s(failures: int) -> float:
    """The wait after ``failures`` failed calls in a row."""
    return min(0.05 * 2.0**failures, MAX_BACKOFF_S)


def cause(error: BaseException) -> str:
    """One line naming what went wrong: the error's kind and its message's first line."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    kind = type(error).__name__
    return f"{kind}: {message}"[:300] if message else kind


class FailureLog:
    """The failures in a row of one duty: its back-off, and its log lines."""

    def __init__(self, worker_id: str, what: str) -> None:
        self.worker_id = worker_id
        self.what = what
        """What failed, as the log line says it ("heartbeat", "exchange"...)."""
        self.failures = 0
        """Failed calls in a row."""
        self._logged_cause = ""
        self._logged_at = 0.0
        self._unlogged = 0

    def failed(self, error: BaseException) -> float:
        """Note a failure (logged unless it repeats); returns the back-off in seconds."""
        self.failures += 1
        delay = backoff_s(self.failures)
        reason = cause(error)
        now = time.monotonic()
        if reason != self._logged_cause or now - self._logged_at >= REPEAT_LOG_S:
            repeats = f" ({self._unlogged} more failures since)" if self._unlogged else ""
            log.warning(
                "worker %s: %s failed: %s; retrying in %.2fs%s",
                self.worker_id,
                self.what,
                reason,
                delay,
                repeats,
            )
            self._logged_cause, self._logged_at, self._unlogged = reason, now, 0
        else:
            self._unlogged += 1
        return delay

    def succeeded(self) -> None:
        """A call went through: the back-off starts over."""
        if self.failures:
            log.info(
                "worker %s: %s works again after %d failures",
                self.worker_id,
                self.what,
                self.failures,
            )
            self.failures = 0
            self._logged_cause, self._unlogged = "", 0


async def warn_if_unsafe_server(redis: Redis) -> None:
    """Log a warning when Redis may evict keys (jobs) under memory pressure."""
    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy")
    except REDIS_ERRORS:
        return  # CONFIG is disabled on some managed servers; or Redis is away
    if policy and policy != "noeviction":
        log.warning(
            "Redis maxmemory-policy is %s: under memory pressure Redis may evict jobs; set it to noeviction",
            policy,
        )
