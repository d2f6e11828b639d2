"""Polling helpers for tests: wait for a condition with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from messai_console.embedded import EmbeddedServer, find_free_port

__all__ = ["EmbeddedServer", "RedisFactory", "await_until", "find_free_port", "wait_until"]


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "",
) -> None:
    """Call `predicate` until it returns true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout:g}s")
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], Awaitable[bool] | bool],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "",
) -> None:
    """Async `wait_until`: `predicate` may return a bool or an awaitable of one."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout:g}s")
        await asyncio.sleep(interval)


class RedisFactory(Protocol):
    """The callable returned by the `redis_factory` fixture."""

    def __call__(
        self,
        persistent: bool = False,
        port: int | None = None,
        data_dir: Path | None = None,
        **kwargs: Any,
    ) -> EmbeddedServer: ...
