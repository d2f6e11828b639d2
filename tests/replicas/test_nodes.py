"""The node view: the master and its replicas, with role, memory, ops/s and lag."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from engine import Queue, connect
from engine.nodes import NodeWatch
from tests.helpers import await_until
from tests.replicas.conftest import Replicated, SentinelSetup


async def test_a_single_server_is_one_master_row(redis_url: str) -> None:
    client = connect(redis_url, retries=1)
    watch = NodeWatch(client)
    try:
        nodes = await watch.read()
        assert [node.role for node in nodes] == ["master"]
        assert nodes[0].address == redis_url.removeprefix("redis://").split("/")[0]
        assert nodes[0].used_memory > 0 and nodes[0].used_memory_human
        assert nodes[0].lag_bytes is None and nodes[0].error == ""
    finally:
        await watch.close()
        await client.aclose()


async def test_master_and_replica_with_lag(replicated: Replicated) -> None:
    client = connect(replicated.master.url, retries=1)
    watch = NodeWatch(client)
    try:
        await Queue("papers", client).add("extract", {})
        replicated.synced()
        nodes = await watch.read()
        assert [(node.role, node.address) for node in nodes] == [
            ("master", f"127.0.0.1:{replicated.master.port}"),
            ("replica", f"127.0.0.1:{replicated.replica.port}"),
        ]
        replica = nodes[1]
        assert replica.link == "up" and replica.error == ""
        assert replica.lag_s is not None and replica.lag_s >= 0
        assert replica.lag_bytes is not None and replica.lag_bytes >= 0
        assert replica.used_memory > 0
        # The replica stops: it stays listed, unreachable, until the master drops it.
        replicated.replica.stop()
        nodes = await watch.read()
        assert len(nodes) <= 2
        if len(nodes) == 2:
            assert nodes[1].role == "?" and nodes[1].error
    finally:
        await watch.close()
        await client.aclose()


async def test_under_sentinel_the_master_is_the_sentinels_answer(
    sentinel_setup: SentinelSetup,
) -> None:
    client = connect(sentinel_setup.url, retries=1)
    watch = NodeWatch(client)
    try:
        nodes = await watch.read()
        assert [(node.role, node.address) for node in nodes] == [
            ("master", f"127.0.0.1:{sentinel_setup.master.port}"),
            ("replica", f"127.0.0.1:{sentinel_setup.replica.port}"),
        ]
        # After a failover the replica is the master the view names.
        sentinel_setup.kill_master()

        async def promoted() -> bool:
            try:
                nodes = await watch.read()
            except Exception:
                return False
            return nodes[0].address == f"127.0.0.1:{sentinel_setup.replica.port}"

        await await_until(promoted, timeout=30, interval=0.2, message="no failover seen")
    finally:
        await watch.close()
        await client.aclose()


def test_overview_json_lists_the_nodes(replicated: Replicated) -> None:
    env = {**os.environ, "REDIS_URL": replicated.master.url}
    done = subprocess.run(
        [sys.executable, "-m", "messai_console.cli", "overview", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)["nodes"]
    assert [node["role"] for node in nodes] == ["master", "replica"]
    assert nodes[1]["link"] == "up"
    table = subprocess.run(
        [sys.executable, "-m", "messai_console.cli", "overview"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert f"127.0.0.1:{replicated.replica.port}" in table.stdout
    assert "replica" in table.stdout
