"""The worker's options, checked before anything runs.

A bad value is refused with :class:`WorkerOptionError` naming the option,
rather than run: a sweep interval of zero silently ended the sweep, a
negative heartbeat busy-looped at tens of thousands of calls a second.
"""

from __future__ import annotations

from engine.errors import EngineError

MIN_LEASE_MS = 100
MIN_STALL_INTERVAL_MS = 10
DEFAULT_SHUTDOWN_MARGIN_MS = 30_000
"""Without a ``shutdown_timeout_ms``, a stopping worker waits this long
after the grace period for thread jobs that cannot be cancelled."""


class WorkerOptionError(EngineError, ValueError):
    """A worker option out of its range."""


def default_heartbeat_ms(lease_ms: int) -> int:
    return max(lease_ms // 3, 50)


def check_worker_options(
    *,
    concurrency: int,
    lease_ms: int,
    heartbeat_ms: int | None,
    stall_interval_ms: int,
    max_stalled: int,
    shutdown_grace_ms: int,
    shutdown_timeout_ms: int | None,
    prefetch: int | None,
    thread_pool_size: int | None,
) -> None:
    """Raise :class:`WorkerOptionError` for the first option out of its range."""
    problems = [
        (concurrency < 1, f"concurrency must be >= 1 (got {concurrency})"),
        (lease_ms < MIN_LEASE_MS, f"lease_ms must be >= {MIN_LEASE_MS} (got {lease_ms})"),
        (
            heartbeat_ms is not None and heartbeat_ms <= 0,
            f"heartbeat_ms must be > 0 (got {heartbeat_ms})",
        ),
        (
            heartbeat_ms is not None and heartbeat_ms >= lease_ms,
            f"heartbeat_ms must be shorter than lease_ms ({heartbeat_ms} >= {lease_ms}):"
            " leases would run out between heartbeats",
        ),
        (
            stall_interval_ms < MIN_STALL_INTERVAL_MS,
            f"stall_interval_ms must be >= {MIN_STALL_INTERVAL_MS} (got {stall_interval_ms})",
        ),
        (max_stalled < 0, f"max_stalled must be >= 0 (got {max_stalled})"),
        (shutdown_grace_ms < 0, f"shutdown_grace_ms must be >= 0 (got {shutdown_grace_ms})"),
        (
            shutdown_timeout_ms is not None and shutdown_timeout_ms < shutdown_grace_ms,
            f"shutdown_timeout_ms must be >= shutdown_grace_ms "
            f"({shutdown_timeout_ms} < {shutdown_grace_ms})",
        ),
        (prefetch is not None and prefetch < 0, f"prefetch must be >= 0 or auto (got {prefetch})"),
        (
            thread_pool_size is not None and thread_pool_size < 1,
            f"thread_pool_size must be >= 1 (got {thread_pool_size})",
        ),
    ]
    for broken, message in problems:
        if broken:
            raise WorkerOptionError(message)
