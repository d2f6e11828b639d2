"""What a catalog processor works with: its validated payload, the job's
context, and the platform's services (store, paths, mail, Redis).

Follow-up jobs (the next step of a paper's processing, the email at the end)
are declared with :meth:`Task.then` while the processor runs and enqueued
only after it succeeded, with ids derived from the job's, so a job that runs
twice does not enqueue its follow-ups twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from engine.context import JobContext
from engine.errors import InvalidJobError, JobCancelledError, UnrecoverableError
from engine.keys import DEFAULT_PREFIX
from engine.queue import Queue
from messai_console.settings import MailSettings, settings
from messai_console.store import DataPaths, Store, open_store

P = TypeVar("P")


@dataclass
class Services:
    """Everything processors reach outside their payload.

    ``redis`` is the worker's own client (processors run on its loop); when
    it is None, a short-lived connection to ``redis_url`` (or the configured
    Redis: ``REDIS_URL``...) is made for each use.
    """

    store: Store
    mail: MailSettings = field(default_factory=MailSettings)
    prefix: str = DEFAULT_PREFIX
    redis: Redis | None = None
    redis_url: str | None = None

    @property
    def paths(self) -> DataPaths:
        return self.store.paths

    @classmethod
    def from_settings(
        cls,
        *,
        redis: Redis | None = None,
        redis_url: str | None = None,
        prefix: str | None = None,
        paths: DataPaths | None = None,
    ) -> Services:
        return cls(
            store=open_store(paths),
            mail=settings().mail,
            prefix=prefix or settings().data.prefix,
            redis=redis,
            redis_url=redis_url,
        )

    @contextlib.asynccontextmanager
    async def redis_client(self) -> AsyncIterator[Redis]:
        if self.redis is not None:
            yield self.redis
            return
        from engine.connection import connect

        client = connect(self.redis_url)  # None: REDIS_URL or REDIS_HOST...
        try:
            yield client
        finally:
            await client.aclose()


_services: Services | None = None


def configure(services: Services | None) -> None:
    """Set the services the catalog's processors use in this process (None: from settings)."""
    global _services
    _services = services


def current_services() -> Services:
    global _services
    if _services is None:
        _services = Services.from_settings()
    return _services


@dataclass(frozen=True)
class FollowUp:
    queue: str
    name: str
    data: Any
    options: dict[str, Any]


@dataclass
class Task(Generic[P]):
    """One run of one catalog job."""

    payload: P
    context: JobContext
    services: Services
    follow_ups: list[FollowUp] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def paths(self) -> DataPaths:
        return self.services.paths

    @property
    def job_id(self) -> str:
        return self.context.job_id

    def progress(self, percent: float, message: str | None = None) -> Awaitable[None]:
        """Report progress; call it from a plain function, await it from a coroutine."""
        return self.context.progress(percent, message)

    def log(self, line: str) -> Awaitable[None]:
        return self.context.log(line)

    def check_cancelled(self) -> None:
        """Raise if an operator cancelled the job or its lease was lost (call in long loops)."""
        if self.context.is_cancelled:
            raise JobCancelledError(f"job {self.job_id} was stopped")

    def then(self, queue: str, name: str, data: Any, **options: Any) -> None:
        """Enqueue this job after the current one succeeds (validated now)."""
        from messai_console.jobs.catalog import job_options, validate_job

        try:
            normalised = validate_job(queue, name, data)
        except InvalidJobError as exc:
            raise UnrecoverableError(f"follow-up job rejected: {exc}") from None
        merged = {**job_options(queue, name, normalised), **options}
        self.follow_ups.append(FollowUp(queue, name, normalised, merged))

    async def send_follow_ups(self) -> list[str]:
        """Enqueue the follow-ups; ids derive from this job's, so a rerun adds nothing new."""
        if not self.follow_ups:
            return []
        base = self.job_id.replace(":", ".")
        ids = []
        async with self.services.redis_client() as client:
            for index, follow_up in enumerate(self.follow_ups):
                options = {"job_id": f"{base}-then-{index}", **follow_up.options}
                queue = Queue(follow_up.queue, client, prefix=self.services.prefix)
                job = await queue.add(follow_up.name, follow_up.data, options)
                ids.append(job.id)
        return ids
