"""The creators in blocking form, for scripts and synchronous web apps::

    from messai_console.jobs import creators
    job = creators.sync.process_paper("paper-123", "extract_pdf", priority=2)

Each is the async creator of the same name run to completion on a private
event loop (a daemon thread), with the same arguments and documentation,
except that it takes ``url=`` (default: the configured Redis) where the
async one takes ``redis=``. Connections are opened on first use, one per
URL, and kept until :func:`close` or the end of the process. Call them from
plain code, not from inside a running event loop (use the async creators
there).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis

from messai_console.jobs import creators as _async

__all__ = [
    "cleanup",
    "close",
    "enqueue",
    "enqueue_chain",
    "experiment_pipeline",
    "export_data",
    "paper_pipeline",
    "process_experiment",
    "process_paper",
    "send_batch",
    "send_email",
    "train_model",
]

P = ParamSpec("P")
T = TypeVar("T")


class _Loop:
    """An event loop in a daemon thread, and the clients opened on it (one per URL)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clients: dict[str | None, Redis] = {}
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="messai-creators", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def client(self, url: str | None) -> Redis:
        """The client for ``url`` (runs on the loop: only the loop touches ``clients``)."""
        if url not in self.clients:
            from engine.connection import connect

            self.clients[url] = connect(url)  # None: REDIS_URL or REDIS_HOST...
        return self.clients[url]

    def stop(self) -> None:
        async def close_clients() -> None:
            for client in self.clients.values():
                await client.aclose()
            self.clients.clear()

        try:
            self.run(close_clients())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
            self.loop.close()


_loop: _Loop | None = None
_lock = threading.Lock()


def _running_loop() -> _Loop:
    global _loop
    with _lock:
        if _loop is None:
            _loop = _Loop()
        return _loop


def close() -> None:
    """Close the connections opened by the sync creators (a later call opens them again)."""
    global _loop
    with _lock:
        loop, _loop = _loop, None
    if loop is not None:
        loop.stop()


atexit.register(close)


def _url_instead_of_redis(signature: inspect.Signature) -> inspect.Signature:
    """The async creator's signature with ``url=`` in place of ``redis=``."""
    parameters = [p for p in signature.parameters.values() if p.name != "redis"]
    if "url" not in signature.parameters:
        url = inspect.Parameter(
            "url", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"
        )
        last = len(parameters)
        if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
            last -= 1
        parameters.insert(last, url)
    return signature.replace(parameters=parameters)


def blocking(creator: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """``creator`` (an async creator) as a function that blocks until it returns."""

    @functools.wraps(creator)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        url: str | None = kwargs.pop("url", None)  # type: ignore[assignment]
        loop = _running_loop()

        async def run() -> T:
            return await creator(*args, **{**kwargs, "redis": loop.client(url)})  # type: ignore[arg-type]

        return loop.run(run())

    call.__signature__ = _url_instead_of_redis(inspect.signature(creator))  # type: ignore[attr-defined]
    return call


enqueue = blocking(_async.enqueue)
enqueue_chain = blocking(_async.enqueue_chain)
process_paper = blocking(_async.process_paper)
paper_pipeline = blocking(_async.paper_pipeline)
send_email = blocking(_async.send_email)
send_batch = blocking(_async.send_batch)
process_experiment = blocking(_async.process_experiment)
experiment_pipeline = blocking(_async.experiment_pipeline)
export_data = blocking(_async.export_data)
train_model = blocking(_async.train_model)
cleanup = blocking(_async.cleanup)
