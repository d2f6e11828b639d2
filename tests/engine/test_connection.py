"""Settings, URL resolution (configured / default address / embedded), clients, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import connection
from engine.connection import (
    RedisUnavailable,
    check_connection,
    check_connection_sync,
    connect,
    connect_sync,
    resolve_redis_url,
)
from engine.embedded import EmbeddedServer, embedded_status, find_free_port, stop_embedded
from engine.settings import RedisSettings, mask_url
from tests.helpers import RedisFactory

# --- settings ----------------------------------------------------------------------


def _settings() -> RedisSettings:
    return RedisSettings(_env_file=None)  # environment only, whatever the cwd holds


def test_nothing_configured_means_no_explicit_url() -> None:
    assert _settings().explicit_url() is None


def test_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/2")
    monkeypatch.setenv("REDIS_HOST", "ignored")
    assert _settings().explicit_url() == "redis://cache.internal:6380/2"


def test_redis_url_gets_separate_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://cache.internal:6380/2")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss")
    assert _settings().explicit_url() == "rediss://:p%40ss@cache.internal:6380/2"


def test_url_from_host_port_password_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "db.example")
    monkeypatch.setenv("REDIS_PORT", "6390")
    monkeypatch.setenv("REDIS_PASSWORD", "a b/c")
    monkeypatch.setenv("REDIS_DB", "3")
    settings = _settings()
    assert settings.explicit_url() == "redis://:a%20b%2Fc@db.example:6390/3"
    assert "a b/c" not in repr(settings)  # SecretStr


def test_env_files_local_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("REDIS_HOST=from-env\nREDIS_DB=1\nOTHER_APP_SETTING=x\n")
    (tmp_path / ".env.local").write_text("REDIS_HOST=from-env-local\n")
    monkeypatch.chdir(tmp_path)
    assert RedisSettings().explicit_url() == "redis://from-env-local:6379/1"
    monkeypatch.setenv("REDIS_HOST", "from-environment")
    assert RedisSettings().explicit_url() == "redis://from-environment:6379/1"


def test_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MESSAI_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert _settings().data_dir == tmp_path / "xdg" / "messai-console"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert _settings().data_dir == Path.home() / ".local" / "share" / "messai-console"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("MESSAI_EMBEDDED", "1")
    monkeypatch.setenv("MESSAI_PREFIX", "test")
    settings = _settings()
    assert settings.data_dir == tmp_path / "mine"
    assert settings.messai_embedded is True
    assert settings.messai_prefix == "test"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:secret@host:6380/1", "rediss://user:***@host:6380/1"),
        ("redis://secret@host:6379", "redis://***@host:6379"),
        ("redis://host:6379/0?password=secret&db=1", "redis://host:6379/0?password=***&db=1"),
        ("unix:///run/redis.sock?db=0&password=secret", "unix:///run/redis.sock?db=0&password=***"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://u:p@ss@host/0", "redis://u:***@host/0"),
        ("redis://:secret@[::1:6379/0", "redis://***@[::1:6379/0"),  # unparsable still masked
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# --- resolve_redis_url ------------------------------------------------------------


def test_resolve_prefers_configured_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://configured:6379/0")
    lines: list[str] = []
    assert resolve_redis_url(_settings(), announce=lines.append) == "redis://configured:6379/0"
    assert lines == []


def test_resolve_uses_default_address_when_it_answers(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    monkeypatch.setattr(connection, "DEFAULT_URL", redis_server.url)
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    lines: list[str] = []
    assert resolve_redis_url(_settings(), announce=lines.append) == redis_server.url
    assert lines == []
    assert embedded_status(tmp_path / "data") is None


def test_resolve_starts_embedded_when_forced(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    monkeypatch.setattr(connection, "DEFAULT_URL", redis_server.url)  # something answers
    monkeypatch.setenv("MESSAI_EMBEDDED", "1")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(data_dir))
    lines: list[str] = []
    try:
        url = resolve_redis_url(_settings(), announce=lines.append)
        assert url == f"unix://{data_dir.resolve() / 'redis.sock'}"
        assert lines == [f"embedded Redis at {url} (data in {data_dir.resolve()}, started)"]
        assert resolve_redis_url(_settings(), announce=lines.append) == url
        assert lines[1].endswith(", reused)")
        with connect_sync(url) as client:
            assert client.ping()
    finally:
        assert stop_embedded(data_dir) is True


def test_resolve_starts_embedded_when_nothing_listens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(connection, "DEFAULT_URL", f"redis://127.0.0.1:{find_free_port()}/0")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(data_dir))
    try:
        url = resolve_redis_url(_settings(), announce=None)
        assert url.startswith("unix://")
        status = embedded_status(data_dir)
        assert status is not None
        assert status.url == url
    finally:
        stop_embedded(data_dir)


def test_announce_defaults_to_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(connection, "DEFAULT_URL", f"redis://127.0.0.1:{find_free_port()}/0")
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    try:
        resolve_redis_url(_settings())
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1
        assert captured.err.startswith("embedded Redis at unix://")
    finally:
        stop_embedded(tmp_path / "data")


# --- clients ------------------------------------------------------------------------


async def test_connect_tcp_and_unix(redis_url: str, redis_factory: RedisFactory) -> None:
    unix = redis_factory(unix_socket=True)
    for url in (redis_url, unix.url):
        client = connect(url)
        try:
            await check_connection(client)
            await client.set("k", "v")
            assert await client.get("k") == "v"  # decoded responses
        finally:
            await client.aclose()
        with connect_sync(url) as sync_client:
            check_connection_sync(sync_client)
            assert sync_client.get("k") == "v"


def test_connect_options(redis_url: str) -> None:
    with connect_sync(redis_url, client_name="messai-test") as client:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["decode_responses"] is True
        assert kwargs["health_check_interval"] == 30
        assert kwargs["socket_keepalive"] is True
        assert kwargs["retry"].get_retries() == connection.RETRIES
        assert client.client_getname() == "messai-test"


async def test_check_connection_unused_port() -> None:
    port = find_free_port()
    client = connect(f"redis://:hunter2@127.0.0.1:{port}/0", retries=0)
    try:
        with pytest.raises(RedisUnavailable) as info:
            await check_connection(client)
    finally:
        await client.aclose()
    message = str(info.value)
    assert message == f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0: Connection refused"
    assert "hunter2" not in message
    assert "\n" not in message


async def test_check_connection_missing_unix_socket(tmp_path: Path) -> None:
    client = connect(f"unix://{tmp_path}/nothing.sock", retries=0)
    try:
        with pytest.raises(RedisUnavailable, match=r"^cannot reach Redis at unix://"):
            await check_connection(client)
    finally:
        await client.aclose()


@pytest.mark.parametrize("password", ["wrong", None])
async def test_check_connection_bad_password(
    redis_factory: RedisFactory, password: str | None
) -> None:
    server = redis_factory(password="right-one")
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{server.port}/0"
    client = connect(url)  # default retries: an auth failure must not be retried
    try:
        with pytest.raises(RedisUnavailable) as info:
            await check_connection(client)
    finally:
        await client.aclose()
    message = str(info.value)
    assert message.startswith(f"authentication failed for Redis at {mask_url(url)}")
    assert "wrong" not in message
    assert "right-one" not in message
    assert "\n" not in message


def test_check_connection_sync_bad_password(redis_factory: RedisFactory) -> None:
    server = redis_factory(password="right-one")
    with (
        connect_sync(f"redis://:wrong@127.0.0.1:{server.port}/0") as client,
        pytest.raises(
            RedisUnavailable, match=r"^authentication failed for Redis at redis://:\*\*\*@"
        ),
    ):
        check_connection_sync(client)
