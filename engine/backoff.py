"""Retry delays: the built-in back-offs and the strategies a worker registers by name.

A job asks for a back-off with its ``backoff`` option: ``{"type": "fixed"}``,
``{"type": "exponential"}`` (both computed by :meth:`Backoff.delay_for`), or
``{"type": "<name>"}`` for a strategy registered on the worker that runs it::

    def linear(attempt: int, error: Exception) -> int | None:
        return 1000 * attempt  # ms before the next attempt

    Worker("mail", redis, processors, backoff_strategies={"linear": linear})

A strategy is a plain function of the attempt that just failed (1 for the
first run) and the exception it raised. It returns the delay in
milliseconds before the next attempt (0: at once; a negative delay counts
as 0), or None to stop retrying: the job then fails for good with its own
error, although attempts are left. It runs on the worker's event loop, so
it must be quick and must not block. The job's ``delay_ms``,
``max_delay_ms`` and ``jitter`` apply to the built-in types only.

A job whose strategy this worker does not know, or whose strategy raises
or returns something other than an int or None, fails for good with its
error and the reason it was not retried; the worker goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.errors import EngineError
from engine.options import BUILTIN_BACKOFFS, Backoff, backoff_name_problem

BackoffStrategy = Callable[[int, Exception], "int | None"]
"""``strategy(attempt, error)``: ms before the next attempt, or None for no retry."""


class BackoffError(EngineError):
    """Why a failed job is not retried: its back-off could not give a delay."""


class BackoffStrategies:
    """The strategies one worker knows, by name, beside the built-in types."""

    def __init__(self, strategies: Mapping[str, BackoffStrategy] | None = None) -> None:
        self._strategies: dict[str, BackoffStrategy] = {}
        for name, strategy in (strategies or {}).items():
            problem = backoff_name_problem(name)
            if problem is None and name in BUILTIN_BACKOFFS:
                problem = "is built in"
            if problem is None and not callable(strategy):
                problem = f"is not callable (got {type(strategy).__name__})"
            if problem:
                raise ValueError(f"backoff strategy {name!r} {problem}")
            self._strategies[name] = strategy

    def __contains__(self, name: str) -> bool:
        return name in self._strategies

    def names(self) -> list[str]:
        """Every type this worker can compute: built-in first, then registered."""
        return [*BUILTIN_BACKOFFS, *sorted(self._strategies)]

    def delay_ms(self, backoff: Backoff, attempt: int, error: Exception) -> int | None:
        """The delay before the attempt after ``attempt`` failed with ``error``;
        None when the strategy says not to retry. BackoffError says why no delay
        could be computed."""
        if backoff.type in BUILTIN_BACKOFFS:
            return backoff.delay_for(attempt)
        strategy = self._strategies.get(backoff.type)
        if strategy is None:
            raise BackoffError(
                f"unknown backoff strategy {backoff.type!r} "
                f"(this worker knows: {', '.join(self.names())})"
            )
        try:
            delay = strategy(attempt, error)
        except Exception as exc:
            raise BackoffError(
                f"backoff strategy {backoff.type!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if delay is None:
            return None
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay != delay:
            raise BackoffError(
                f"backoff strategy {backoff.type!r} returned {delay!r}; "
                "expected a delay in ms (an int) or None"
            )
        return max(int(delay), 0)
