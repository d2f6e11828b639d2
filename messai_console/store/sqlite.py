"""The embedded store: one SQLite file in the user's data directory.

Each call opens its own connection (cheap for SQLite), so the store is safe
to share between the worker's threads; WAL mode and a busy timeout let
several worker processes use the same file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from messai_console.store.base import Key, Row
from messai_console.store.paths import DataPaths
from messai_console.store.schema import TABLES, Table, table

BUSY_TIMEOUT_S = 10.0


class SQLiteStore:
    """The platform's data in SQLite. See :class:`messai_console.store.base.Store`."""

    def __init__(self, paths: DataPaths) -> None:
        self.paths = paths
        self._initialised = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.paths.database)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._initialised:
            self.init()
        connection = sqlite3.connect(self.paths.database, timeout=BUSY_TIMEOUT_S)
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            with connection:  # one transaction: commit on success, roll back on error
                yield connection
        finally:
            connection.close()

    def init(self) -> None:
        self.paths.ensure()
        connection = sqlite3.connect(self.paths.database, timeout=BUSY_TIMEOUT_S)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            with connection:
                for spec in TABLES.values():
                    connection.execute(_create_table(spec))
                    for columns in spec.indexes:
                        name = f"idx_{spec.name}_{'_'.join(columns)}"
                        connection.execute(
                            f"CREATE INDEX IF NOT EXISTS {name} ON {spec.name} ({', '.join(columns)})"
                        )
        finally:
            connection.close()
        self._initialised = True

    # -- reading ------------------------------------------------------------

    def get(self, table_name: str, key: Key) -> Row | None:
        spec = table(table_name)
        where = dict(zip(spec.key, _key_tuple(key), strict=True))
        found = self.rows(table_name, where, limit=1)
        return found[0] if found else None

    def rows(
        self,
        table_name: str,
        where: Mapping[str, Any] | None = None,
        *,
        created_after: float | None = None,
        created_before: float | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Row]:
        spec = table(table_name)
        clause, values = _where(spec, where, created_after, created_before)
        order = [
            _column(spec, name.lstrip("-")) + (" DESC" if name.startswith("-") else "")
            for name in order_by
        ] or [", ".join(spec.key)]
        sql = (
            f"SELECT {', '.join(spec.columns)} FROM {spec.name}{clause} ORDER BY {', '.join(order)}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as connection:
            cursor = connection.execute(sql, values)
            return [_decode(spec, record) for record in cursor.fetchall()]

    def count(
        self,
        table_name: str,
        where: Mapping[str, Any] | None = None,
        *,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> int:
        spec = table(table_name)
        clause, values = _where(spec, where, created_after, created_before)
        with self._connect() as connection:
            (count,) = connection.execute(
                f"SELECT COUNT(*) FROM {spec.name}{clause}", values
            ).fetchone()
        return int(count)

    # -- writing ------------------------------------------------------------

    def upsert(self, table_name: str, row: Mapping[str, Any]) -> None:
        spec = table(table_name)
        columns, values = _encode(spec, row)
        placeholders = ", ".join("?" for _ in columns)
        with self._connect() as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO {spec.name} ({', '.join(columns)}) VALUES ({placeholders})",
                values,
            )

    def insert_many(self, table_name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        spec = table(table_name)
        with self._connect() as connection:
            return _insert(connection, spec, rows)

    def update(self, table_name: str, key: Key, fields: Mapping[str, Any]) -> bool:
        spec = table(table_name)
        if not fields:
            return self.get(table_name, key) is not None
        columns, values = _encode(spec, fields)
        assignments = ", ".join(f"{column} = ?" for column in columns)
        key_clause = " AND ".join(f"{column} = ?" for column in spec.key)
        with self._connect() as connection:
            cursor = connection.execute(
                f"UPDATE {spec.name} SET {assignments} WHERE {key_clause}",
                [*values, *_key_tuple(key)],
            )
            return cursor.rowcount > 0

    def replace(
        self, table_name: str, where: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]
    ) -> int:
        spec = table(table_name)
        clause, values = _where(spec, where, None, None)
        with self._connect() as connection:
            connection.execute(f"DELETE FROM {spec.name}{clause}", values)
            return _insert(connection, spec, rows)

    def delete(self, table_name: str, where: Mapping[str, Any]) -> int:
        spec = table(table_name)
        clause, values = _where(spec, where, None, None)
        with self._connect() as connection:
            return connection.execute(f"DELETE FROM {spec.name}{clause}", values).rowcount

    def delete_keys(self, table_name: str, keys: Iterable[Key]) -> int:
        spec = table(table_name)
        key_clause = " AND ".join(f"{column} = ?" for column in spec.key)
        deleted = 0
        with self._connect() as connection:
            for key in keys:
                deleted += connection.execute(
                    f"DELETE FROM {spec.name} WHERE {key_clause}", _key_tuple(key)
                ).rowcount
        return deleted

    # -- maintenance ----------------------------------------------------------

    def optimize(self, vacuum: bool = True) -> dict[str, Any]:
        before = self._page_stats()
        connection = sqlite3.connect(self.paths.database, timeout=BUSY_TIMEOUT_S)
        try:
            (integrity,) = connection.execute("PRAGMA quick_check").fetchone()
            connection.execute("ANALYZE")
            connection.execute("REINDEX")
            connection.execute("PRAGMA optimize")
            connection.commit()
            if vacuum:
                connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        after = self._page_stats()
        indexes = sum(len(spec.indexes) for spec in TABLES.values())
        return {
            "integrity": integrity,
            "indexes_rebuilt": indexes,
            "vacuumed": vacuum,
            "pages_before": before["pages"],
            "pages_after": after["pages"],
            "free_pages_before": before["free"],
            "free_pages_after": after["free"],
            "bytes_before": before["bytes"],
            "bytes_after": after["bytes"],
        }

    def _page_stats(self) -> dict[str, int]:
        with self._connect() as connection:
            (pages,) = connection.execute("PRAGMA page_count").fetchone()
            (free,) = connection.execute("PRAGMA freelist_count").fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
        return {"pages": int(pages), "free": int(free), "bytes": int(pages) * int(size)}

    def size_bytes(self) -> int:
        return self._page_stats()["bytes"]


def _create_table(spec: Table) -> str:
    columns = []
    for name, sql_type in spec.columns.items():
        if spec.autoincrement and spec.key == (name,):
            columns.append(f"{name} INTEGER PRIMARY KEY AUTOINCREMENT")
        else:
            columns.append(f"{name} {sql_type}")
    if not spec.autoincrement:
        columns.append(f"PRIMARY KEY ({', '.join(spec.key)})")
    return f"CREATE TABLE IF NOT EXISTS {spec.name} ({', '.join(columns)})"


def _column(spec: Table, name: str) -> str:
    """A column name checked against the schema (never text from outside into SQL)."""
    if name not in spec.columns:
        raise ValueError(f"table {spec.name} has no column {name!r}")
    return name


def _key_tuple(key: Key) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def _where(
    spec: Table,
    where: Mapping[str, Any] | None,
    created_after: float | None,
    created_before: float | None,
) -> tuple[str, list[Any]]:
    parts: list[str] = []
    values: list[Any] = []
    for name, value in (where or {}).items():
        column = _column(spec, name)
        if value is None:
            parts.append(f"{column} IS NULL")
        else:
            parts.append(f"{column} = ?")
            values.append(value)
    if created_after is not None or created_before is not None:
        created = spec.created_column
        if created is None:
            raise ValueError(f"table {spec.name} has no created_at column")
        if created_after is not None:
            parts.append(f"{created} >= ?")
            values.append(created_after)
        if created_before is not None:
            parts.append(f"{created} < ?")
            values.append(created_before)
    return (" WHERE " + " AND ".join(parts) if parts else ""), values


def _encode(spec: Table, row: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    columns: list[str] = []
    values: list[Any] = []
    for name, value in row.items():
        columns.append(_column(spec, name))
        if name in spec.json and value is not None:
            value = json.dumps(value, sort_keys=True)
        values.append(value)
    return columns, values


def _decode(spec: Table, record: tuple[Any, ...]) -> Row:
    row = dict(zip(spec.columns, record, strict=True))
    for name in spec.json:
        if row.get(name) is not None:
            row[name] = json.loads(row[name])
    return row


def _insert(connection: sqlite3.Connection, spec: Table, rows: Iterable[Mapping[str, Any]]) -> int:
    inserted = 0
    for row in rows:
        columns, values = _encode(spec, row)
        placeholders = ", ".join("?" for _ in columns)
        connection.execute(
            f"INSERT INTO {spec.name} ({', '.join(columns)}) VALUES ({placeholders})", values
        )
        inserted += 1
    return inserted
