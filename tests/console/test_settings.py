"""The application's settings: one accessor, one small model per concern."""

from __future__ import annotations

from pathlib import Path

import pytest

from messai_console.settings import settings
from messai_console.store import DataPaths


def test_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env files here
    monkeypatch.delenv("MESSAI_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert settings().data.data_dir == tmp_path / "xdg" / "messai-console"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert settings().data.data_dir == Path.home() / ".local" / "share" / "messai-console"
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("MESSAI_EMBEDDED", "1")
    monkeypatch.setenv("MESSAI_PREFIX", "test")
    current = settings()
    assert current.data.data_dir == tmp_path / "mine"
    assert current.redis.messai_embedded is True
    assert current.data.prefix == "test"


def test_every_model_reads_the_same_env_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "REDIS_HOST=from-env\nMESSAI_PREFIX=from-env\nSMTP_HOST=smtp.env\n"
        "MESSAI_DATABASE=/tmp/env.db\nINIT_SCHEDULED_JOBS=false\n"
    )
    (tmp_path / ".env.local").write_text(
        "MESSAI_PREFIX=from-local\nMESSAI_TIMEZONE=Europe/Berlin\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("SMTP_HOST", "MESSAI_DATABASE", "INIT_SCHEDULED_JOBS", "MESSAI_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    current = settings()
    assert current.redis.explicit_url() == "redis://from-env:6379/0"
    assert current.data.prefix == "from-local"
    assert current.mail.smtp_host == "smtp.env"
    assert current.store.messai_database == Path("/tmp/env.db")
    assert current.schedules.init_scheduled_jobs is False
    assert current.schedules.messai_timezone == "Europe/Berlin"
    monkeypatch.setenv("MESSAI_PREFIX", "from-environment")
    assert settings().data.prefix == "from-environment"  # each call reads afresh


def test_the_store_lives_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MESSAI_DATABASE", raising=False)
    paths = DataPaths.from_settings()
    assert paths.root == tmp_path / "data"
    assert paths.database == tmp_path / "data" / "platform.db"
    monkeypatch.setenv("MESSAI_DATABASE", str(tmp_path / "elsewhere.db"))
    assert DataPaths.from_settings().database == tmp_path / "elsewhere.db"
