"""``queue shard``, ``queue stats`` of a sharded queue, and ``worker -q`` on
a sharded name serving every shard, against a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis

from engine.sync import SyncQueue
from tests.console.conftest import Cli, console_process
from tests.helpers import wait_until

MakeQueue = Callable[[str], SyncQueue]


def test_shard_then_stats_show_the_total_and_each_shard(cli: Cli, sync_queue: MakeQueue) -> None:
    made = cli("queue", "shard", "hot", "--shards", "3")
    assert made.exit_code == 0, made.output
    assert "hot~0, hot~1, hot~2" in made.stdout
    again = cli("queue", "shard", "hot", "--shards", "2")
    assert again.exit_code == 2 and "has 3 shards, not 2" in again.output
    for shard, jobs in (("hot~0", 2), ("hot~2", 3)):
        for _ in range(jobs):
            sync_queue(shard).add("noop")
    stats = cli("queue", "stats", "hot", "--json")
    assert stats.exit_code == 0, stats.output
    reply = json.loads(stats.stdout)
    assert reply["waiting"] == 5
    assert [counts["waiting"] for counts in reply["shards"].values()] == [2, 0, 3]
    table = cli("queue", "stats", "hot")
    assert table.exit_code == 0 and "total" in table.stdout and "hot~1" in table.stdout


def test_worker_on_a_sharded_name_serves_every_shard(
    cli: Cli, sync_queue: MakeQueue, redis_url: str
) -> None:
    assert cli("queue", "shard", "hot", "--shards", "3").exit_code == 0
    for shard in range(3):
        sync_queue(f"hot~{shard}").add("noop")
    with (
        console_process(
            redis_url,
            "worker",
            "--queue",
            "hot",
            "--quiet",
        ) as process,
        redis.Redis.from_url(redis_url, decode_responses=True) as client,
    ):
        wait_until(
            lambda: all(
                client.zcard(f"messai:{{hot~{shard}}}:completed") == 1 for shard in range(3)
            ),
            timeout=30,
        )
    assert process.returncode == 0
