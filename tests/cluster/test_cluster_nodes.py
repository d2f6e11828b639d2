"""The node view on a cluster: every master (by slot range) followed by its
replica, each master with the queues whose slot it owns; in the engine's
NodeWatch, in ``overview`` (table and ``--json``) and in the console's
Nodes screen."""

from __future__ import annotations

import json

import redis.asyncio
from redis.crc import key_slot
from typer.testing import CliRunner

from engine import Queue
from engine.keys import QueueKeys
from engine.nodes import NodeWatch, parse_cluster_nodes, queue_slot
from messai_console.cli import app as cli_app
from messai_console.tui.screens.nodes import NodesScreen
from tests.cluster.conftest import SLOTS, ClusterSetup
from tests.tui.support import SIZE, console, wait_for_rows, wait_for_screen

NAMES = [f"placed-{index}" for index in range(8)]


async def _owners(client: redis.asyncio.RedisCluster) -> dict[str, str]:
    """Each queue's master as redis-py's own slot map says."""
    await client.initialize()
    return {name: client.get_node_from_key(QueueKeys(name).meta).name for name in NAMES}


def test_cluster_nodes_lines_are_parsed_with_ranges_and_migrations() -> None:
    text = (
        "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 5462 [5461->-b2]\n"
        "b2 127.0.0.1:7001@17001,host-b master - 0 0 2 connected 5461 5463-16383\n"
        "c3 127.0.0.1:7002@17002 slave,fail a1 0 0 1 disconnected\n"
        "d4 :0@0 handshake - 0 0 0 disconnected\n"
    )
    first, second, replica, unknown = parse_cluster_nodes(text)
    assert (first.address, first.slots_text()) == ("127.0.0.1:7000", "0-5460,5462")
    assert first.is_master and first.owns(5462) and not first.owns(5461)
    assert (second.address, second.slots) == ("127.0.0.1:7001", ((5461, 5461), (5463, 16383)))
    assert (replica.is_master, replica.master_id, replica.failing) == (False, "a1", "fail")
    assert unknown.address == "" and unknown.slots == ()


async def test_node_watch_lists_every_node_and_where_each_queue_lives(
    redis_cluster: ClusterSetup, redis_client: redis.asyncio.RedisCluster
) -> None:
    for name in NAMES:
        await Queue(name, redis_client).add("noop")
    owners = await _owners(redis_client)
    assert len(set(owners.values())) == 3
    watch = NodeWatch(redis_client)
    try:
        nodes = await watch.read(NAMES)
    finally:
        await watch.close()
    assert len(nodes) == 6 and all(node.error == "" for node in nodes)
    # each master, by its slots, then its replica
    assert [node.role for node in nodes] == ["master", "replica"] * 3
    masters = nodes[0::2]
    assert [node.slots for node in masters] == [
        f"0-{SLOTS // 3 - 1}",
        f"{SLOTS // 3}-{2 * (SLOTS // 3) - 1}",
        f"{2 * (SLOTS // 3)}-{SLOTS - 1}",
    ]
    for master, replica in zip(masters, nodes[1::2], strict=True):
        assert replica.master == master.address and replica.slots == ""
        assert replica.link == "up" and replica.lag_bytes is not None and replica.lag_s is not None
        assert replica.queues == () and master.used_memory > 0
        assert master.queues == tuple(sorted(n for n in NAMES if owners[n] == master.address))
    assert sorted(name for master in masters for name in master.queues) == sorted(NAMES)
    # the hash tag is the queue's name: its slot is the name's own
    assert all(queue_slot(name) == key_slot(name.encode()) for name in NAMES)


def test_overview_shows_every_node_and_its_queues(
    redis_cluster: ClusterSetup, redis_url: str
) -> None:
    runner = CliRunner()
    for name in NAMES[:3]:
        assert (
            runner.invoke(cli_app, ["--redis-url", redis_url, "job", "add", name, "noop"]).exit_code
            == 0
        )
    result = runner.invoke(cli_app, ["--redis-url", redis_url, "overview", "--json"])
    assert result.exit_code == 0, result.output
    nodes = json.loads(result.stdout)["nodes"]
    assert [node["role"] for node in nodes] == ["master", "replica"] * 3
    assert sorted(q for node in nodes for q in node["queues"]) == sorted(NAMES[:3])
    assert {node["master"] for node in nodes[1::2]} == {node["address"] for node in nodes[0::2]}
    table = runner.invoke(cli_app, ["--redis-url", redis_url, "overview"])
    assert table.exit_code == 0, table.output
    assert "slots" in table.stdout and table.stdout.count("replica of 127.0.0.1:") == 3


async def test_the_nodes_screen_shows_every_master_replica_and_queue(
    redis_cluster: ClusterSetup, redis_url: str, redis_client: redis.asyncio.RedisCluster
) -> None:
    for name in NAMES:
        await Queue(name, redis_client).add("noop")
    owners = await _owners(redis_client)
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        nodes = await wait_for_screen(app, NodesScreen)
        await wait_for_rows(nodes.table, 6)
        rows = {str(key.value): nodes.table.get_row(key) for key in nodes.table.rows}
        masters = {address: row for address, row in rows.items() if str(row[1]) == "master"}
        assert set(masters) == set(owners.values())
        for address, row in masters.items():
            shown = str(row[-1])
            assert all((name in shown) == (owners[name] == address) for name in NAMES), shown
        replicas = [row for row in rows.values() if str(row[1]) == "replica"]
        assert sorted(str(row[-2]) for row in replicas) == sorted(
            f"replica of {address}" for address in masters
        )
        totals = str(nodes.query_one("#node-totals").render())
        assert "3 masters, 3 replicas" in totals
