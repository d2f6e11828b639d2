"""Which Redis the application uses: configured, else the default address, else embedded."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.connection import connect_sync
from messai_console.embedded import (
    EmbeddedServer,
    embedded_status,
    find_free_port,
    redis_url_or_embedded,
    resolve,
    stop_embedded,
)
from messai_console.settings import ConsoleRedisSettings


def _settings() -> ConsoleRedisSettings:
    return ConsoleRedisSettings(_env_file=None)  # environment only, whatever the cwd holds


def test_prefers_configured_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://configured:6379/0")
    lines: list[str] = []
    assert redis_url_or_embedded(_settings(), announce=lines.append) == "redis://configured:6379/0"
    assert lines == []


def test_uses_default_address_when_it_answers(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    monkeypatch.setattr(resolve, "DEFAULT_URL", redis_server.url)
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    lines: list[str] = []
    assert redis_url_or_embedded(_settings(), announce=lines.append) == redis_server.url
    assert lines == []
    assert embedded_status(tmp_path / "data") is None


def test_starts_embedded_when_forced(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    monkeypatch.setattr(resolve, "DEFAULT_URL", redis_server.url)  # something answers
    monkeypatch.setenv("MESSAI_EMBEDDED", "1")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(data_dir))
    lines: list[str] = []
    try:
        url = redis_url_or_embedded(_settings(), announce=lines.append)
        assert url == f"unix://{data_dir.resolve() / 'redis.sock'}"
        assert lines == [f"embedded Redis at {url} (data in {data_dir.resolve()}, started)"]
        assert redis_url_or_embedded(_settings(), announce=lines.append) == url
        assert lines[1].endswith(", reused)")
        with connect_sync(url) as client:
            assert client.ping()
    finally:
        assert stop_embedded(data_dir) is True


def test_starts_embedded_when_nothing_listens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(resolve, "DEFAULT_URL", f"redis://127.0.0.1:{find_free_port()}/0")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(data_dir))
    try:
        url = redis_url_or_embedded(_settings(), announce=None)
        assert url.startswith("unix://")
        status = embedded_status(data_dir)
        assert status is not None
        assert status.url == url
    finally:
        stop_embedded(data_dir)


def test_announce_defaults_to_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(resolve, "DEFAULT_URL", f"redis://127.0.0.1:{find_free_port()}/0")
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    try:
        redis_url_or_embedded(_settings())
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1
        assert captured.err.startswith("embedded Redis at unix://")
    finally:
        stop_embedded(tmp_path / "data")
