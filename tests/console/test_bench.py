"""``messai-console bench`` prints every figure and leaves nothing behind."""

from __future__ import annotations

import json

import pytest
import redis

from tests.console.conftest import Cli


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_bench_json_has_every_figure_and_cleans_up(cli: Cli, redis_url: str) -> None:
    result = cli("bench", "--n", "1000", "--memory-jobs", "1000", "--latency-jobs", "10", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["floor"]["single_ops_per_s"] > 0 and figures["floor"]["pipelined_ops_per_s"] > 0
    assert figures["enqueue"]["single_jobs_per_s"] > 0 and figures["enqueue"]["bulk_jobs_per_s"] > 0
    assert set(figures["drain"]) == {"c1_jobs_per_s", "c50_jobs_per_s"}
    assert (
        figures["latency_ms"]["jobs"] == 10
        and 0 <= figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
    )
    assert 100 < figures["memory"]["bytes_per_waiting_job"] < 5000
    assert set(figures["ratios"]) == {"enqueue_single", "enqueue_bulk", "drain_c1", "drain_c50"}
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert client.smembers("messai:queues") == set()
        assert [key for key in client.scan_iter("messai:{bench-*")] == []
