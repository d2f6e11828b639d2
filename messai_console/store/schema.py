"""The platform's tables, described once: the SQLite store creates them from this,
and a store for another database would too.

Timestamps are seconds since the epoch (float). Columns listed in ``json``
hold JSON text and are decoded on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]
    """Column name to SQL type, in order."""
    key: tuple[str, ...]
    json: frozenset[str] = field(default_factory=frozenset)
    indexes: tuple[tuple[str, ...], ...] = ()
    autoincrement: bool = False
    """The single key column is an INTEGER assigned by the database."""

    @property
    def created_column(self) -> str | None:
        return "created_at" if "created_at" in self.columns else None


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "users",
            {"id": "TEXT", "email": "TEXT", "name": "TEXT", "role": "TEXT", "created_at": "REAL"},
            key=("id",),
        ),
        Table(
            "papers",
            {
                "id": "TEXT",
                "title": "TEXT",
                "authors": "TEXT",
                "year": "INTEGER",
                "system_type": "TEXT",
                "file_path": "TEXT",
                "status": "TEXT",
                "page_count": "INTEGER",
                "text": "TEXT",
                "metadata": "TEXT",
                "analysis": "TEXT",
                "created_at": "REAL",
                "updated_at": "REAL",
            },
            key=("id",),
            json=frozenset({"metadata", "analysis"}),
            indexes=(("status",),),
        ),
        Table(
            "embeddings",
            {
                "paper_id": "TEXT",
                "method": "TEXT",
                "dims": "INTEGER",
                "vector": "BLOB",
                "created_at": "REAL",
            },
            key=("paper_id", "method"),
        ),
        Table(
            "parameters",
            {
                "id": "INTEGER",
                "paper_id": "TEXT",
                "name": "TEXT",
                "value": "REAL",
                "unit": "TEXT",
                "value_si": "REAL",
                "unit_si": "TEXT",
                "value_text": "TEXT",
                "context": "TEXT",
                "created_at": "REAL",
            },
            key=("id",),
            indexes=(("paper_id",), ("name",)),
            autoincrement=True,
        ),
        Table(
            "experiments",
            {
                "id": "TEXT",
                "user_id": "TEXT",
                "name": "TEXT",
                "system_type": "TEXT",
                "raw_path": "TEXT",
                "anode_area_cm2": "REAL",
                "volume_ml": "REAL",
                "external_resistance_ohm": "REAL",
                "cod_initial_mg_l": "REAL",
                "cod_final_mg_l": "REAL",
                "temperature_c": "REAL",
                "status": "TEXT",
                "metrics": "TEXT",
                "created_at": "REAL",
                "updated_at": "REAL",
            },
            key=("id",),
            json=frozenset({"metrics"}),
            indexes=(("user_id",), ("created_at",)),
        ),
        Table(
            "measurements",
            {
                "experiment_id": "TEXT",
                "seq": "INTEGER",
                "time_s": "REAL",
                "voltage_v": "REAL",
                "current_a": "REAL",
                "temperature_c": "REAL",
            },
            key=("experiment_id", "seq"),
        ),
        Table(
            "files",
            {
                "id": "TEXT",
                "kind": "TEXT",
                "path": "TEXT",
                "size": "INTEGER",
                "ref": "TEXT",
                "created_at": "REAL",
            },
            key=("id",),
            indexes=(("path",),),
        ),
        Table(
            "reports",
            {
                "id": "TEXT",
                "kind": "TEXT",
                "subject": "TEXT",
                "path": "TEXT",
                "format": "TEXT",
                "summary": "TEXT",
                "created_at": "REAL",
            },
            key=("id",),
            json=frozenset({"summary"}),
        ),
        Table(
            "models",
            {
                "id": "TEXT",
                "kind": "TEXT",
                "path": "TEXT",
                "samples": "INTEGER",
                "metrics": "TEXT",
                "hyperparameters": "TEXT",
                "created_at": "REAL",
            },
            key=("id",),
            json=frozenset({"metrics", "hyperparameters"}),
        ),
        Table(
            "email_log",
            {
                "id": "INTEGER",
                "job_id": "TEXT",
                "recipient": "TEXT",
                "template": "TEXT",
                "subject": "TEXT",
                "transport": "TEXT",
                "created_at": "REAL",
            },
            key=("id",),
            indexes=(("job_id",), ("created_at",)),
            autoincrement=True,
        ),
        Table(
            "temp_data",
            {"key": "TEXT", "value": "TEXT", "created_at": "REAL", "expires_at": "REAL"},
            key=("key",),
        ),
    )
}

BACKUP_TABLES: tuple[str, ...] = tuple(name for name in TABLES if name != "embeddings")
"""Tables a full backup holds; embeddings are derived data that generate_embeddings rebuilds."""


def table(name: str) -> Table:
    """The table called ``name``, or ValueError listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known: {', '.join(TABLES)}") from None
