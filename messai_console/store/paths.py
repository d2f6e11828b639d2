"""Where the platform keeps its files: everything under one data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from messai_console.settings import settings


@dataclass(frozen=True)
class DataPaths:
    """The platform's directories, all under ``root`` (the user's data directory)."""

    root: Path
    database: Path

    @classmethod
    def under(cls, root: Path, database: Path | None = None) -> DataPaths:
        root = root.expanduser()
        return cls(root=root, database=(database or root / "platform.db").expanduser())

    @classmethod
    def from_settings(cls) -> DataPaths:
        """``MESSAI_DATA_DIR`` (or the XDG default) and ``MESSAI_DATABASE``."""
        current = settings()
        return cls.under(current.data.data_dir, current.store.messai_database)

    @property
    def files(self) -> Path:
        """Uploaded files: paper PDFs, raw experiment data."""
        return self.root / "files"

    @property
    def outbox(self) -> Path:
        """Emails written as ``.eml`` files when no SMTP server is configured."""
        return self.root / "outbox"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def archive(self) -> Path:
        """Cold storage: compressed rows moved out of the database."""
        return self.root / "archive"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    @property
    def managed(self) -> tuple[Path, ...]:
        """Directories whose files the database is expected to know about."""
        return (self.files, self.exports, self.reports, self.models)

    def ensure(self) -> None:
        for directory in (
            self.root,
            self.database.parent,
            self.files,
            self.outbox,
            self.exports,
            self.reports,
            self.models,
            self.archive,
            self.temp,
        ):
            directory.mkdir(parents=True, exist_ok=True)
