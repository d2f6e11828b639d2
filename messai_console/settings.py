"""The application's settings: one small model per concern, one accessor.

Every model reads the environment and `.env` / `.env.local` the same way
(:class:`engine.settings.EnvSettings`). Ask :func:`settings` for them::

    from messai_console.settings import settings
    settings().data.prefix       # MESSAI_PREFIX
    settings().redis.explicit_url()

Each call reads afresh (a changed environment is seen at once); each model
is read when first asked for.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr

from engine.keys import DEFAULT_PREFIX
from engine.settings import EnvSettings, RedisSettings

__all__ = [
    "APP_NAME",
    "ConsoleRedisSettings",
    "DataSettings",
    "MailSettings",
    "ScheduleSettings",
    "Settings",
    "StoreSettings",
    "default_data_dir",
    "settings",
]

APP_NAME = "messai-console"


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/messai-console`, else `~/.local/share/messai-console`."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP_NAME


class ConsoleRedisSettings(RedisSettings):
    """The engine's Redis settings, plus the application's own choice:
    ``MESSAI_EMBEDDED`` uses the embedded server even when something answers
    on the default address."""

    messai_embedded: bool = False


class DataSettings(EnvSettings):
    """Where the platform keeps its files (``MESSAI_DATA_DIR``) and the key
    prefix of its queues (``MESSAI_PREFIX``)."""

    messai_data_dir: Path | None = None
    messai_prefix: str = DEFAULT_PREFIX

    @property
    def data_dir(self) -> Path:
        """``MESSAI_DATA_DIR``, else the XDG default."""
        if self.messai_data_dir is not None:
            return self.messai_data_dir.expanduser()
        return default_data_dir()

    @property
    def prefix(self) -> str:
        return self.messai_prefix


class StoreSettings(EnvSettings):
    """``MESSAI_DATABASE``: the SQLite file (default ``<data dir>/platform.db``)."""

    messai_database: Path | None = None


class MailSettings(EnvSettings):
    """Where mail goes. With no ``SMTP_HOST``, messages land in the outbox directory."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout_s: float = 30.0
    smtp_try_later_ms: int = 30_000
    email_from: str = "MESSAI <noreply@messai.local>"
    admin_emails: str = ""
    email_rate_per_second: float = 10.0

    @property
    def admins(self) -> list[str]:
        return [address.strip() for address in self.admin_emails.split(",") if address.strip()]

    @property
    def uses_smtp(self) -> bool:
        return bool(self.smtp_host)


class ScheduleSettings(EnvSettings):
    """``INIT_SCHEDULED_JOBS`` (default true): upsert the platform's scheduled
    tasks when a worker or scheduler starts; ``MESSAI_TIMEZONE`` (default UTC):
    the time zone of their cron expressions."""

    init_scheduled_jobs: bool = True
    messai_timezone: str = "UTC"


class Settings:
    """Every setting of the application; each model is read when first used."""

    @cached_property
    def redis(self) -> ConsoleRedisSettings:
        return ConsoleRedisSettings()

    @cached_property
    def data(self) -> DataSettings:
        return DataSettings()

    @cached_property
    def store(self) -> StoreSettings:
        return StoreSettings()

    @cached_property
    def mail(self) -> MailSettings:
        return MailSettings()

    @cached_property
    def schedules(self) -> ScheduleSettings:
        return ScheduleSettings()


def settings() -> Settings:
    """The application's settings, read from the environment and `.env` files now."""
    return Settings()
