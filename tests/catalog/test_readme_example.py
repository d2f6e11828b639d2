"""The README's "Adding a job type" example is a complete, working module."""

from __future__ import annotations

import asyncio
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio

from engine import InvalidJobError, Worker
from messai_console.jobs import QUEUES, catalog, validate_job
from messai_console.jobs.runtime import Services
from messai_console.store import Store
from messai_console.store.samples import SeededData
from tests.catalog.conftest import completed, run

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def example_module() -> Iterator[types.ModuleType]:
    section = README.read_text().split("## Adding a job type", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert len(code.strip().splitlines()) < 30
    module = types.ModuleType("count_citations_example")
    exec(compile(code, "README.md", "exec", dont_inherit=True), module.__dict__)
    try:
        yield module
    finally:
        catalog.remove("paper-processing", "count_citations")


async def test_the_readme_job_type_validates_and_runs(
    example_module: types.ModuleType,
    redis_client: redis.asyncio.Redis,
    seeded: SeededData,
    store: Store,
    services: Services,
) -> None:
    assert validate_job("paper-processing", "count_citations", {"paper_id": "paper-1"}) == {
        "paper_id": "paper-1"
    }
    with pytest.raises(
        InvalidJobError, match="since_year: input should be greater than or equal to 1800"
    ):
        validate_job(
            "paper-processing", "count_citations", {"paper_id": "paper-1", "since_year": 1700}
        )
    store.update(
        "papers",
        seeded.papers[0],
        {"text": "As shown before (Logan, 2006; Rabaey, 2019; Chen 2021)."},
    )
    worker = Worker(list(QUEUES), redis_client, catalog.registry(), shutdown_grace_ms=2000)
    running = asyncio.create_task(worker.run())
    try:
        job = await run(
            redis_client,
            "paper-processing",
            "count_citations",
            {"paper_id": seeded.papers[0], "since_year": 2010},
        )
        assert completed(job) == {"recent": 2}
        assert job.options.attempts == 3
    finally:
        worker.request_stop()
        await asyncio.wait_for(running, 20)
