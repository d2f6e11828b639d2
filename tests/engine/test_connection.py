"""Settings, the configured URL, clients, socket timeouts, errors.

(The application's fallback to a default address or an embedded server is
tested in tests/console/test_redis_location.py.)
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine import Queue, connection
from engine.connection import (
    RedisNotConfigured,
    RedisUnavailable,
    blocking_seconds,
    check_connection,
    check_connection_sync,
    connect,
    connect_sync,
    resolve_redis_url,
)
from engine.settings import RedisSettings, mask_url
from tests.helpers import RedisFactory, find_free_port

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


# --- a URL or the configured one ------------------------------------------------


def test_resolve_returns_the_configured_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "db.example")
    assert resolve_redis_url(_settings()) == "redis://db.example:6379/0"


def test_nothing_configured_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env files here
    with pytest.raises(RedisNotConfigured) as info:
        resolve_redis_url()
    message = str(info.value)
    assert message.startswith("no Redis configured: pass a URL to connect() or set REDIS_URL")
    assert "\n" not in message
    with pytest.raises(RedisNotConfigured):
        connect()
    with pytest.raises(RedisNotConfigured):
        connect_sync()


async def test_connect_without_url_uses_redis_url(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    client = connect()
    try:
        await client.set("k", "from-env")
        assert await client.get("k") == "from-env"
    finally:
        await client.aclose()


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


async def test_a_full_pool_fails_at_once_or_waits_with_pool_wait_s(redis_url: str) -> None:
    async def twenty_at_once(client: redis.asyncio.Redis) -> list[object]:
        # BLPOP keeps its connection busy for 0.2 s: twenty of them need twenty connections.
        calls = (client.blpop([f"nothing-{n}"], timeout=0.2) for n in range(20))
        return await asyncio.gather(*calls, return_exceptions=True)

    failing = connect(redis_url, max_connections=5)
    waiting = connect(redis_url, max_connections=5, pool_wait_s=30)
    try:
        refused = [r for r in await twenty_at_once(failing) if isinstance(r, Exception)]
        assert refused and all(isinstance(r, MaxConnectionsError) for r in refused)
        assert await twenty_at_once(waiting) == [None] * 20
    finally:
        await failing.aclose()
        await waiting.aclose()


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
    if password is not None:
        # tried once: no retry after a refused password
        admin = connect(f"redis://:right-one@127.0.0.1:{server.port}/0", retries=0)
        try:
            entries = await admin.execute_command("ACL", "LOG")
        finally:
            await admin.aclose()
        assert [(e["reason"], e["count"]) for e in map(_pairs, entries)] == [("auth", 1)]


def _pairs(entry: Any) -> dict[str, Any]:
    """An ACL LOG entry (a flat list of names and values, or a dict) as a dict."""
    if isinstance(entry, dict):
        return entry
    return dict(zip(entry[::2], entry[1::2], strict=True))


def test_check_connection_sync_bad_password(redis_factory: RedisFactory) -> None:
    server = redis_factory(password="right-one")
    with (
        connect_sync(f"redis://:wrong@127.0.0.1:{server.port}/0") as client,
        pytest.raises(
            RedisUnavailable, match=r"^authentication failed for Redis at redis://:\*\*\*@"
        ),
    ):
        check_connection_sync(client)


# --- socket timeouts ----------------------------------------------------------------


def test_timeouts_default_and_from_settings(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect_sync(redis_url) as client:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_connect_timeout"] == 5.0
        assert kwargs["socket_timeout"] == 10.0
    monkeypatch.setenv("REDIS_SOCKET_CONNECT_TIMEOUT", "1.5")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0")  # 0: no limit
    with connect_sync(redis_url) as client:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_connect_timeout"] == 1.5
        assert kwargs["socket_timeout"] is None
    with connect_sync(redis_url, socket_timeout=3) as client:  # arguments win
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 3


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        (("GET", "k"), None),
        (("BZPOPMIN", "a", "b", 2), 2.0),
        (("BLPOP", "a", "0"), math.inf),
        (("BLMOVE", "a", "b", "LEFT", "RIGHT", 0.5), 0.5),
        (("BZMPOP", 3, 1, "a", "MIN"), 3.0),
        (("XREAD", "COUNT", 10, "BLOCK", 1500, "STREAMS", "s", "$"), 1.5),
        ((b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"), math.inf),
        (("XREAD", "COUNT", 10, "STREAMS", "s", "0"), None),
        (("WAIT", 1, 250), 0.25),
    ],
)
def test_blocking_seconds(args: tuple[object, ...], seconds: float | None) -> None:
    assert blocking_seconds(args) == seconds


async def test_a_frozen_server_is_an_error_not_a_hang(
    redis_factory: RedisFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A producer whose server stops answering (SIGSTOP) gets a timeout error."""
    server = redis_factory()
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    client = connect(server.url, retries=0)
    queue = Queue("frozen", client)
    await queue.add("noop")  # connected, script loaded
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await queue.add("noop")  # the engine's own connection
        with pytest.raises(RedisTimeoutError):
            await client.get("k")  # redis-py's
        with pytest.raises(RedisTimeoutError):
            await client.bzpopmin("nothing", timeout=0.2)  # its block time, then the timeout
        # three calls at 0.5 s each: far below any "forever"
        assert time.monotonic() - started < 10
    finally:
        os.kill(server.pid, signal.SIGCONT)
        await client.aclose()


def test_a_frozen_server_is_an_error_for_the_sync_client(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    with connect_sync(server.url, retries=0, socket_timeout=0.3) as client:
        assert client.ping()
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RedisTimeoutError):
                client.get("k")
        finally:
            os.kill(server.pid, signal.SIGCONT)


async def test_blocking_commands_wait_their_own_time(redis_url: str) -> None:
    """A read timeout shorter than a blocking command's block time does not cut it:
    a worker's wake-up wait (BZPOPMIN) and `events --follow` (XREAD BLOCK) go on."""
    client = connect(redis_url, retries=0, socket_timeout=0.2)
    other = connect(redis_url)
    try:
        started = time.monotonic()
        assert await client.bzpopmin(["a", "b"], timeout=0.6) is None
        assert await client.xread({"stream": "$"}, block=600) == []
        assert time.monotonic() - started >= 1.2

        async def push_later() -> None:
            await asyncio.sleep(0.5)  # longer than the socket timeout, on purpose
            await other.rpush("list", "x")

        pusher = asyncio.create_task(push_later())
        assert await client.blpop(["list"], timeout=0) == ("list", "x")  # waits for ever
        await pusher
        assert await client.get("k") is None  # the usual timeout is back
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.2
    finally:
        await client.aclose()
        await other.aclose()


def test_blocking_commands_wait_their_own_time_sync(redis_url: str) -> None:
    with connect_sync(redis_url, retries=0, socket_timeout=0.2) as client:
        started = time.monotonic()
        assert client.bzpopmin("nothing", timeout=0.6) is None
        assert time.monotonic() - started >= 0.6
        assert client.get("k") is None
