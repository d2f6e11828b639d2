"""What every subcommand shares: finding Redis, running async code, exit codes.

Exit codes: 0 success; 1 the operation failed or was refused; 2 usage error
(typer's own); 3 Redis unreachable or authentication failed. Errors are one
line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import redis.asyncio
import typer

from engine.connection import RedisUnavailable, check_connection, connect, connect_reader
from engine.errors import EngineError, describe_refusal
from engine.queue import Queue
from engine.replicas import wants_replica, with_replica_option
from engine.wire import MasterChanged
from messai_console.embedded import EmbeddedRedisError, redis_url_or_embedded
from messai_console.settings import settings
from messai_console.text import visible

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REDIS = 3


@dataclass
class Runtime:
    """Options of the root command, shared with every subcommand."""

    redis_url: str | None = None
    debug: bool = False
    readonly: bool = False
    """Refuse every command that changes something (the console honours it too)."""
    read_from_replica: bool = False
    """Send the reads of read commands and of the console to a replica."""
    _resolved: str | None = None

    @property
    def prefix(self) -> str:
        return settings().data.prefix

    def url(self) -> str:
        if self._resolved is None:
            if self.redis_url:
                self._resolved = self.redis_url
            else:
                try:
                    self._resolved = redis_url_or_embedded()
                except EmbeddedRedisError as exc:
                    fail(f"cannot start the embedded Redis: {exc}", EXIT_REDIS)
            if self.read_from_replica:
                self._resolved = with_replica_option(self._resolved)
        return self._resolved

    @property
    def from_replica(self) -> bool:
        """Whether reads go to a replica (``--read-from-replica`` or the URL's option)."""
        try:
            return wants_replica(self.url())
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)

    def require_writable(self) -> None:
        """Refuse (exit 1) a command that would change something under ``--readonly``."""
        if self.readonly:
            fail("refused: --readonly is set and this command changes the queues")

    async def existing_queue(self, client: redis.asyncio.Redis, name: str) -> Queue:
        """The queue ``name``; QueueNotFoundError (exit 1) when it is not in the registry."""
        queue = Queue(name, client, prefix=self.prefix)
        await queue.require_exists()
        return queue

    def run(self, action: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        """Connect, check the connection, run ``action``; errors become exit codes."""
        url = self.url()

        async def main() -> T:
            client = connect(url, retries=1)
            try:
                await check_connection(client)
                return await action(client)
            finally:
                await client.aclose()

        return self.run_async(main)

    def read(self, action: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        """Like ``run``, for commands that only read: ``action`` gets a client on a
        replica when ``--read-from-replica`` (or the URL) asks for one."""
        if not self.from_replica:
            return self.run(action)
        url = self.url()

        async def main() -> T:
            client = connect_reader(url, retries=1)
            try:
                await check_connection(client)
                return await action(client)
            finally:
                await client.aclose()

        return self.run_async(main)

    def run_async(self, main: Callable[[], Awaitable[T]]) -> T:
        """Run ``main`` in a new event loop; engine and Redis errors become exit codes."""

        async def wrapper() -> T:
            return await main()

        try:
            return asyncio.run(wrapper())
        except RedisUnavailable as exc:
            self._report(exc)
            fail(str(exc), EXIT_REDIS)
        except (EngineError, ValueError) as exc:
            self._report(exc)
            fail(str(exc), EXIT_FAILED)
        except MasterChanged as exc:
            # READONLY after the retries: not a failover in progress but a URL
            # that names a replica
            self._report(exc)
            fail(describe_refusal(redis.exceptions.ReadOnlyError(str(exc))), EXIT_FAILED)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self._report(exc)
            fail(f"lost the connection to Redis: {exc}", EXIT_REDIS)
        except redis.exceptions.ResponseError as exc:
            # out of memory, a read-only replica...: one line, reads and writes alike
            self._report(exc)
            fail(describe_refusal(exc), EXIT_FAILED)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    def _report(self, exc: BaseException) -> None:
        if self.debug:
            traceback.print_exception(exc, file=sys.stderr)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    first_line = visible(message.strip().splitlines()[0] if message.strip() else "failed")
    print(f"error: {first_line}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def confirm(what: str, yes: bool) -> None:
    """Ask before a destructive ``what`` ("drain queue 'q' ..."); ``--yes`` skips the question.

    Off a terminal nobody can answer, so without ``--yes`` it is refused (exit 1)."""
    if yes:
        return
    what = visible(what)
    if not sys.stdin.isatty():
        fail(f"refusing to {what} without --yes (stdin is not a terminal)")
    if not typer.confirm(f"{what[:1].upper()}{what[1:]}?", default=False, err=True):
        fail("cancelled; nothing changed")


def runtime(ctx: typer.Context) -> Runtime:
    obj = ctx.find_root().obj
    if not isinstance(obj, Runtime):
        obj = Runtime()
        ctx.find_root().obj = obj
    return obj
