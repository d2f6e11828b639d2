"""Fixtures of the chaos suite: one `chaos` harness per scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.chaos.harness import Chaos
from tests.chaos.scale import SCALE, Scale
from tests.helpers import RedisFactory


@pytest.fixture
def scale() -> Scale:
    return SCALE


@pytest_asyncio.fixture
async def chaos(
    tmp_path: Path, redis_factory: RedisFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Chaos]:
    """A scenario named after the test; its workers are killed at teardown and,
    when the test fails, their logs are shown."""
    name = request.node.name.removeprefix("test_")
    harness = Chaos(name, tmp_path, redis_factory, SCALE, request)
    try:
        yield harness
    finally:
        described = harness.fleet.describe()  # while the processes are still there
        await harness.close()
        request.node.add_report_section("teardown", "chaos workers", described)
