"""The interface every platform store offers (SQLite today; PostgreSQL can follow).

Rows are plain dicts keyed by column name (see ``schema.TABLES``); JSON
columns come back decoded. Filters are equality on columns plus an optional
``created_at`` window, which is all the processors need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from messai_console.store.paths import DataPaths

Row = dict[str, Any]
Key = str | int | tuple[Any, ...]


class Store(Protocol):
    """What the job processors read and write."""

    paths: DataPaths

    def init(self) -> None:
        """Create the schema if it is not there (safe to call every time)."""

    def get(self, table: str, key: Key) -> Row | None:
        """The row with this primary key, or None."""

    def rows(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        created_after: float | None = None,
        created_before: float | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Row]:
        """Rows matching every ``where`` column (equality) and the creation window."""

    def count(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> int: ...

    def upsert(self, table: str, row: Mapping[str, Any]) -> None:
        """Insert the row, or replace the one with the same key."""

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows (tables with a database-assigned key); returns how many."""

    def update(self, table: str, key: Key, fields: Mapping[str, Any]) -> bool:
        """Set ``fields`` on one row; False when there is no such row."""

    def replace(
        self, table: str, where: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """In one transaction, delete the rows matching ``where`` and insert ``rows``."""

    def delete(self, table: str, where: Mapping[str, Any]) -> int: ...

    def delete_keys(self, table: str, keys: Iterable[Key]) -> int:
        """Delete the rows with these keys, in one transaction; returns how many went."""

    def optimize(self, vacuum: bool = True) -> dict[str, Any]:
        """Refresh the planner's statistics, rebuild indexes, optionally compact."""

    def size_bytes(self) -> int: ...
