"""`--read-from-replica`: the read commands read on the replica, the actions
still change the master."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from engine.sync import SyncQueue
from messai_console.cli import app
from tests.replicas.conftest import CONNECTION_COMMANDS, Replicated

READ_COMMANDS: list[list[str]] = [
    ["overview", "--json"],
    ["queue", "list"],
    ["queue", "stats", "papers"],
    ["job", "list", "papers", "--status", "waiting"],
    ["events", "--queue", "papers"],
    ["schedule", "list"],
    ["performance"],
]


def test_read_commands_read_on_the_replica(replicated: Replicated) -> None:
    runner = CliRunner()
    root = ["--redis-url", replicated.master.url, "--read-from-replica"]
    queue = SyncQueue("papers", replicated.master.url)
    try:
        job_id = queue.add("extract", {"paper": 1}).id
    finally:
        queue.close()
    replicated.synced()
    before = replicated.commandstats(replicated.master)
    replica_before = replicated.commandstats(replicated.replica)
    for command in [*READ_COMMANDS, ["job", "get", "papers", job_id]]:
        result = runner.invoke(app, [*root, *command])
        assert result.exit_code == 0, (command, result.output)
    after = replicated.commandstats(replicated.master)
    changed = {name for name, calls in after.items() if calls != before.get(name, 0)}
    assert changed <= CONNECTION_COMMANDS, changed
    replica_after = replicated.commandstats(replicated.replica)
    assert replica_after.get("zcard", 0) > replica_before.get("zcard", 0)

    # overview names both nodes; the reads were the replica's
    summary = json.loads(runner.invoke(app, [*root, "overview", "--json"]).stdout)
    assert [node["role"] for node in summary["nodes"]] == ["master", "replica"]
    assert summary["jobs"]["waiting"] == 1

    # Actions still land on the master.
    added = runner.invoke(app, [*root, "job", "add", "papers", "extract", "--data", "{}"])
    assert added.exit_code == 0, added.output
    paused = runner.invoke(app, [*root, "queue", "pause", "papers"])
    assert paused.exit_code == 0, paused.output
    with replicated.master.client() as master:
        assert master.llen("messai:{papers}:waiting:list") == 2
        assert master.hget("messai:{papers}:meta", "paused") is not None


def test_a_bad_option_value_is_a_usage_error(replicated: Replicated) -> None:
    url = f"{replicated.master.url}?read_from_replica=perhaps"
    result = CliRunner().invoke(app, ["--redis-url", url, "queue", "list"])
    assert result.exit_code == 2
    assert "read_from_replica" in result.output
