"""``messai-console bench`` on a cluster URL: every measurement runs, the
spread drain puts its queues on one master and then on each, reports each
master's load, and nothing is left behind on any master."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from engine.connection import connect_sync
from messai_console.cli import app
from tests.cluster.conftest import ClusterSetup


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_bench_on_a_cluster_reports_each_master_and_cleans_up(
    redis_cluster: ClusterSetup, redis_url: str
) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("--redis-url", redis_url, "bench"),
            *("--n", "1200", "--memory-jobs", "1000", "--latency-jobs", "10"),
            *("--workloads", "noop,redis_call", "--loop", "asyncio", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    [figures] = json.loads(result.stdout)["results"]
    assert figures["enqueue"]["single_jobs_per_s"] > 0
    assert all(rate > 0 for rates in figures["drain"].values() for rate in rates.values())
    assert 100 < figures["memory"]["bytes_per_waiting_job"] < 5000
    masters = {f"127.0.0.1:{port}" for port in redis_cluster.master_ports()}
    one, spread = figures["spread"]
    assert (one["masters_used"], spread["masters_used"]) == (1, 3)
    for run in (one, spread):
        assert set(run["masters"]) == masters
        used = [load for load in run["masters"].values() if load["queues"]]
        assert len(used) == run["masters_used"]
        assert sum(load["queues"] for load in used) == 6
        assert sum(load["jobs"] for load in used) == 1200
        # every queue's master did the work: its scripts ran there
        assert all(load["jobs_per_s"] > 0 and load["script_calls_per_s"] > 0 for load in used)
        assert all(load["cpu_percent"] > 0 and load["cpu_us_per_job"] > 0 for load in used)
        assert run["ops_balance_max_over_min"] >= 1.0
        assert len(run["per_process_jobs_per_s"]) == 1  # one worker process ran them all
    assert [load["queues"] for load in spread["masters"].values()] == [2, 2, 2]
    for port in redis_cluster.master_ports():
        with redis_cluster.client_on(port) as client:
            assert [key for key in client.scan_iter("messai:{bench-*")] == []
    with connect_sync(redis_url, decode_responses=True) as cluster:
        assert cluster.exists("messai-bench:job-calls") == 0
        assert cluster.smembers("messai:queues") == set()
