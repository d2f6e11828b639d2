"""The CLI on a full server (maxmemory reached, noeviction) and on a
read-only replica: reads answer, writes that need memory are refused in one
line, and an operator can drain the queue to free memory."""

from __future__ import annotations

import json

import redis
from typer.testing import CliRunner

from engine.scripts import SCRIPT_NAMES, scripts
from messai_console.cli import app
from tests.helpers import RedisFactory, wait_until

runner = CliRunner()


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--redis-url", url, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def _fill(client: redis.Redis) -> None:
    """Every script loaded (a server that has been serving), then full."""
    for name in SCRIPT_NAMES:
        client.function_load(getattr(scripts(), name).library, replace=True)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)


def test_every_command_answers_in_one_line_on_a_full_server(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    url = server.url
    for n in range(3):
        assert invoke(url, "job", "add", "q", "echo", "--data", f'{{"n": {n}}}')[0] == 0
    with server.client() as client:
        _fill(client)
        try:
            code, out, err = invoke(url, "job", "list", "q", "--status", "waiting", "--json")
            assert code == 0, err
            assert len(json.loads(out)["jobs"]) == 3
            code, out, err = invoke(url, "queue", "stats", "q", "--json")
            assert code == 0 and '"waiting": 3' in out, err

            code, out, err = invoke(url, "job", "add", "q", "echo")
            assert code == 1
            assert len(err.strip().splitlines()) == 1, err
            assert err.startswith("error: Redis is out of memory"), err

            code, out, err = invoke(url, "queue", "drain", "q", "--yes")
            assert code == 0, err
            assert client.zcard("messai:{q}:waiting") + client.llen("messai:{q}:waiting:list") == 0
        finally:
            client.config_set("maxmemory", 0)


def test_reads_answer_and_writes_are_refused_in_one_line_on_a_replica(
    redis_factory: RedisFactory,
) -> None:
    primary = redis_factory()
    replica = redis_factory()
    assert invoke(primary.url, "job", "add", "q", "echo", "--job-id", "j1")[0] == 0
    with primary.client() as source, replica.client() as client:
        host = source.connection_pool.connection_kwargs["host"]
        port = source.connection_pool.connection_kwargs["port"]
        client.replicaof(host, port)
        wait_until(lambda: client.exists("messai:{q}:job:j1") == 1, timeout=30)
        code, out, err = invoke(replica.url, "job", "get", "q", "j1", "--json")
        assert code == 0 and '"j1"' in out, err
        code, out, err = invoke(replica.url, "job", "list", "q", "--status", "waiting")
        assert code == 0 and "j1" in out, err
        code, out, err = invoke(replica.url, "job", "add", "q", "echo")
        assert code == 1
        assert len(err.strip().splitlines()) == 1, err
        assert "read-only replica" in err, err
