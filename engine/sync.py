"""A blocking facade over :class:`engine.queue.Queue`, for scripts and sync web apps.

The async core runs on a private event loop in a background thread; each
call blocks until its result is back::

    from engine.sync import SyncQueue
    with SyncQueue("paper-processing") as queue:
        job = queue.add("extract_pdf", {"paper_id": "p-1"}, attempts=3)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from engine.connection import connect, resolve_redis_url
from engine.contracts.admin import RemoveReply
from engine.job import Job
from engine.keys import DEFAULT_PREFIX
from engine.options import JobOptions
from engine.queue import BulkJob, Queue

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="messai-sync", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class SyncQueue:
    """The same operations as :class:`Queue`, blocking. Close it (or use ``with``) when done.

    Args:
        name: the queue name.
        url: Redis URL (default: resolved like every other process).
        prefix: key prefix of the deployment.
    """

    def __init__(self, name: str, url: str | None = None, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._runner = _LoopThread()
        resolved = url or resolve_redis_url()

        async def make() -> Queue:
            return Queue(name, connect(resolved), prefix=prefix)

        self.queue = self._runner.run(make())

    def __enter__(self) -> SyncQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._close())
        self._runner.stop()

    async def _close(self) -> None:
        # Both, before the loop stops: a connection left open would outlive its loop.
        await self.queue.aclose()
        await self.queue.redis.aclose()

    def add(
        self,
        name: str,
        data: Any = None,
        options: JobOptions | Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Job:
        return self._runner.run(self.queue.add(name, data, options, **fields))

    def add_bulk(self, jobs: Iterable[BulkJob | tuple[str, Any] | Mapping[str, Any]]) -> list[str]:
        return self._runner.run(self.queue.add_bulk(jobs))

    def get_job(self, job_id: str) -> Job | None:
        return self._runner.run(self.queue.get_job(job_id))

    def get_jobs(self, state: str, start: int = 0, end: int = 49) -> list[Job]:
        return self._runner.run(self.queue.get_jobs(state, start, end))

    def wait_for(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job completes; see :meth:`engine.Queue.wait_for`."""
        return self._runner.run(self.queue.wait_for(job_id, timeout))

    def get_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        return self._runner.run(self.queue.get_logs(job_id, start, end))

    def counts(self) -> dict[str, int]:
        return self._runner.run(self.queue.counts())

    def stats(self) -> dict[str, Any]:
        return self._runner.run(self.queue.stats())

    def pause(self) -> None:
        self._runner.run(self.queue.pause())

    def resume(self) -> None:
        self._runner.run(self.queue.resume())

    def is_paused(self) -> bool:
        return self._runner.run(self.queue.is_paused())

    def drain(self) -> int:
        return self._runner.run(self.queue.drain())

    def clean(self, state: str, grace_ms: int = 0, limit: int = 0) -> int:
        return self._runner.run(self.queue.clean(state, grace_ms, limit))

    def obliterate(self, force: bool = False) -> int:
        return self._runner.run(self.queue.obliterate(force))

    def retry_job(self, job_id: str) -> None:
        self._runner.run(self.queue.retry_job(job_id))

    def retry_failed(self, limit: int = 0) -> int:
        return self._runner.run(self.queue.retry_failed(limit))

    def cancel(self, job_id: str) -> str:
        return self._runner.run(self.queue.cancel(job_id))

    def remove(self, job_id: str) -> str:
        return self._runner.run(self.queue.remove(job_id))

    def remove_job(self, job_id: str) -> RemoveReply:
        return self._runner.run(self.queue.remove_job(job_id))

    def promote(self, job_id: str) -> None:
        self._runner.run(self.queue.promote(job_id))

    def change_priority(self, job_id: str, priority: int | str) -> str:
        return self._runner.run(self.queue.change_priority(job_id, priority))

    def change_delay(self, job_id: str, delay_ms: int) -> str:
        return self._runner.run(self.queue.change_delay(job_id, delay_ms))

    def update_data(self, job_id: str, data: Any) -> str:
        return self._runner.run(self.queue.update_data(job_id, data))
