"""``messai-console bench`` prints every figure and leaves nothing behind."""

from __future__ import annotations

import json

import pytest
import redis

from messai_console.bench.measure import BenchResult, ServerInfo
from messai_console.bench.targets import verdicts
from tests.console.conftest import Cli


@pytest.mark.timeout(180)
@pytest.mark.slow
def test_bench_json_has_every_figure_and_cleans_up(cli: Cli, redis_url: str) -> None:
    result = cli(
        "bench",
        *("--n", "1000", "--memory-jobs", "1000", "--latency-jobs", "10"),
        *("--loop", "asyncio", "--json"),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [figures] = report["results"]
    assert figures["loop"] == "asyncio" and figures["source"] == "configured"
    assert figures["server"]["hash_max_listpack_value"] == 1024  # the embedded server's
    assert figures["server"]["configuration"] == "embedded"
    assert figures["floor"]["single_ops_per_s"] > 0 and figures["floor"]["pipelined_ops_per_s"] > 0
    # sampled before the measurements and after each workload's drains
    assert len(figures["floor"]["samples"]) == 4
    assert figures["enqueue"]["single_jobs_per_s"] > 0 and figures["enqueue"]["bulk_jobs_per_s"] > 0
    assert set(figures["drain"]) == {"noop", "redis_call", "sleep_1ms"}
    for rates in figures["drain"].values():
        assert set(rates) == {"c1_jobs_per_s", "c50_jobs_per_s"}
        assert all(rate > 0 for rate in rates.values())
    # a 1 ms sleep caps concurrency 1 at 1,000 jobs/s
    assert figures["drain"]["sleep_1ms"]["c1_jobs_per_s"] < 1000
    latency = figures["latency_ms"]
    assert latency["jobs"] == 10 and 0 <= latency["p50"] <= latency["p99"]
    # the processor begins after Redis leased the job (one clock on one machine)
    assert 0 <= latency["lease_p50"] <= latency["p50"]
    assert latency["lease_p99"] <= latency["p99"]
    assert 100 < figures["memory"]["bytes_per_waiting_job"] < 5000
    assert set(figures["ratios"]) == {
        "enqueue_single",
        "enqueue_bulk",
        *(f"drain_{w}_c{c}" for w in ("noop", "redis_call", "sleep_1ms") for c in (1, 50)),
    }
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert client.smembers("messai:queues") == set()
        assert [key for key in client.scan_iter("messai:{bench-*")] == []
        assert client.exists("messai-bench:job-calls") == 0


@pytest.mark.timeout(180)
@pytest.mark.slow
def test_bench_runs_on_both_loops_against_a_default_config_redis(cli: Cli) -> None:
    result = cli(
        "bench",
        *("--n", "1000", "--memory-jobs", "1000", "--latency-jobs", "10"),
        *("--workloads", "redis_call", "--servers", "default", "--loop", "both", "--json"),
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["results"]
    assert [run["loop"] for run in runs] == ["asyncio", "uvloop"]
    for run in runs:
        assert run["source"] == "throwaway default"
        assert run["server"]["hash_max_listpack_value"] == 64
        assert run["server"]["configuration"] == "default"
        assert set(run["drain"]) == {"redis_call"}
        # a 200-byte payload is stored in chunks: the hash stays a listpack (a
        # hash table costs over 560 bytes a job)
        assert run["memory"]["bytes_per_waiting_job"] < 450


def test_unknown_workload_is_a_usage_error(cli: Cli) -> None:
    result = cli("bench", "--workloads", "noop,nap")
    assert result.exit_code == 2
    assert "nap" in result.output


def test_memory_target_follows_the_server_configuration() -> None:
    result = BenchResult(memory_bytes_per_job=370.0)
    result.server = ServerInfo("7.0.15", 64)
    assert verdicts(result)["memory"].met
    result.server = ServerInfo("7.0.15", 1024)
    assert not verdicts(result)["memory"].met
