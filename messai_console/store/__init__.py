"""The platform's data: papers, experiments, measurements, parameters, files,
reports, models and the email log.

SQLite in the user's data directory by default, behind the small
:class:`Store` interface so another database can take its place::

    from messai_console.store import open_store
    store = open_store()               # MESSAI_DATA_DIR / MESSAI_DATABASE
    store.upsert("papers", {"id": "paper-1", "title": "..."})
"""

from __future__ import annotations

from messai_console.store.base import Row, Store
from messai_console.store.paths import DataPaths
from messai_console.store.schema import BACKUP_TABLES, TABLES
from messai_console.store.sqlite import SQLiteStore

__all__ = ["BACKUP_TABLES", "TABLES", "DataPaths", "Row", "SQLiteStore", "Store", "open_store"]


def open_store(paths: DataPaths | None = None) -> Store:
    """The configured store, its schema created on first use."""
    store = SQLiteStore(paths or DataPaths.from_settings())
    store.init()
    return store
