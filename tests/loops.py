"""The event loop the engine tests run on: asyncio's own, or uvloop's with
``MESSAI_TEST_LOOP=uvloop`` (as a web app on uvicorn runs the engine).

pytest-asyncio (1.x) takes the loop from its ``pytest_asyncio_loop_factories``
hook, which ``tests/engine/conftest.py`` and ``tests/reliability/conftest.py``
define from :data:`LOOP_FACTORIES` when a loop is chosen. Code that makes
its own loop (``asyncio.run``, ``SyncQueue``'s thread) follows the event
loop policy, set here too.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Callable

import pytest

LOOP_SWITCH = "MESSAI_TEST_LOOP"

_choice = os.environ.get(LOOP_SWITCH, "asyncio").strip() or "asyncio"
if _choice not in ("asyncio", "uvloop"):
    raise RuntimeError(f"{LOOP_SWITCH}={_choice!r}: expected asyncio or uvloop")

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] | None = None
"""The loop factory for pytest-asyncio; None: its default (asyncio's own loop)."""

if _choice == "uvloop":
    import uvloop

    LOOP_FACTORIES = {"uvloop": uvloop.new_event_loop}
    with warnings.catch_warnings():  # policies are deprecated from Python 3.14 on
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The ``pytest_asyncio_loop_factories`` hook, for conftests to define when
    :data:`LOOP_FACTORIES` is set (returning None from it is an error)."""
    assert LOOP_FACTORIES is not None
    return LOOP_FACTORIES
