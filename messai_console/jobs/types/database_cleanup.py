"""``database-cleanup``: orphaned files, temporary data, archiving old rows
to compressed cold storage, and index maintenance. Every job but
``optimize_indexes`` can run as a ``dry_run`` that only reports."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from messai_console.jobs.catalog import Payload, job_type
from messai_console.jobs.queues import DATABASE_CLEANUP
from messai_console.jobs.runtime import Task
from messai_console.store import TABLES, Store

QUEUE = DATABASE_CLEANUP
CLEANUP_OPTIONS: dict[str, Any] = {"attempts": 2, "priority": 10}
ArchivableTable = Literal["email_log", "experiments", "reports"]


class RemoveOrphanedFiles(Payload):
    min_age_hours: float = Field(default=1.0, ge=0)
    """Files younger than this are left alone (a job may be writing them)."""
    dry_run: bool = False


class CleanTempData(Payload):
    older_than_hours: float = Field(default=24.0, ge=0)
    dry_run: bool = False


class ArchiveOldData(Payload):
    older_than_days: float = Field(default=365.0, gt=0)
    tables: list[ArchivableTable] = Field(default=["email_log", "experiments"], min_length=1)
    dry_run: bool = False


class OptimizeIndexes(Payload):
    vacuum: bool = True
    """Also compact the database file (rewrites it: slower on big databases)."""


def referenced_paths(store: Store) -> set[Path]:
    """Every file some row points at."""
    paths = {row["path"] for row in store.rows("files")}
    paths |= {row["file_path"] for row in store.rows("papers")}
    paths |= {row["raw_path"] for row in store.rows("experiments")}
    paths |= {row["path"] for row in store.rows("reports")}
    paths |= {row["path"] for row in store.rows("models")}
    return {Path(p).resolve() for p in paths if p}


@job_type(
    queue=QUEUE, name="remove_orphaned_files", payload=RemoveOrphanedFiles, options=CLEANUP_OPTIONS
)
def remove_orphaned_files(task: Task[RemoveOrphanedFiles]) -> dict[str, Any]:
    """Delete files no row refers to, and file rows whose file is gone."""
    payload = task.payload
    known = referenced_paths(task.store)
    cutoff = time.time() - payload.min_age_hours * 3600
    orphans: list[Path] = []
    for directory in task.paths.managed:
        if not directory.exists():
            continue
        for path in directory.rglob("*"):
            if path.is_file() and path.resolve() not in known and path.stat().st_mtime < cutoff:
                orphans.append(path)
    freed = sum(path.stat().st_size for path in orphans)
    dangling = [row["id"] for row in task.store.rows("files") if not Path(row["path"]).exists()]
    if not payload.dry_run:
        for path in orphans:
            path.unlink(missing_ok=True)
        task.store.delete_keys("files", dangling)
    return {
        "orphaned_files": len(orphans),
        "bytes": freed,
        "files": sorted(str(path.relative_to(task.paths.root)) for path in orphans)[:50],
        "dangling_rows": len(dangling),
        "dry_run": payload.dry_run,
    }


@job_type(queue=QUEUE, name="clean_temp_data", payload=CleanTempData, options=CLEANUP_OPTIONS)
def clean_temp_data(task: Task[CleanTempData]) -> dict[str, Any]:
    """Delete old files in the temp directory, half-written exports, and expired temp rows."""
    payload = task.payload
    now = time.time()
    cutoff = now - payload.older_than_hours * 3600
    stale = [p for p in task.paths.temp.rglob("*") if p.is_file() and p.stat().st_mtime < cutoff]
    stale += [p for p in task.paths.exports.glob("*.part") if p.stat().st_mtime < cutoff]
    freed = sum(path.stat().st_size for path in stale)
    expired = [
        row["key"]
        for row in task.store.rows("temp_data")
        if row["expires_at"] is not None and row["expires_at"] < now
    ]
    if not payload.dry_run:
        for path in stale:
            path.unlink(missing_ok=True)
        task.store.delete_keys("temp_data", expired)
    return {
        "temp_files": len(stale),
        "bytes": freed,
        "expired_rows": len(expired),
        "dry_run": payload.dry_run,
    }


@job_type(queue=QUEUE, name="archive_old_data", payload=ArchiveOldData, options=CLEANUP_OPTIONS)
def archive_old_data(task: Task[ArchiveOldData]) -> dict[str, Any]:
    """Move rows older than the cut-off into gzip-compressed JSON-lines files (cold storage).

    The archive file is written and synced before any row is deleted, so a
    crash in between leaves the rows in place (and at worst a second copy
    in the archive), never a loss.
    """
    payload = task.payload
    cutoff = time.time() - payload.older_than_days * 86_400
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary: dict[str, Any] = {"cutoff": cutoff, "dry_run": payload.dry_run, "tables": {}}
    for name in payload.tables:
        rows = task.store.rows(name, created_before=cutoff)
        entry: dict[str, Any] = {"rows": len(rows)}
        summary["tables"][name] = entry
        if not rows or payload.dry_run:
            continue
        children: dict[str, list[dict[str, Any]]] = {}
        if name == "experiments":
            for row in rows:
                children[row["id"]] = task.store.rows(
                    "measurements", {"experiment_id": row["id"]}, order_by=("seq",)
                )
            entry["measurements"] = sum(len(items) for items in children.values())
        path = task.paths.archive / f"{name}-{stamp}-{task.job_id.replace(':', '.')}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            for row in rows:
                record: dict[str, Any] = {"table": name, "row": row}
                if name == "experiments":
                    record["measurements"] = children[row["id"]]
                handle.write(json.dumps(record, default=str) + "\n")
        with path.open("rb+") as raw:
            os.fsync(raw.fileno())
        key_columns = TABLES[name].key
        task.store.delete_keys(name, [tuple(row[column] for column in key_columns) for row in rows])
        for experiment_id in children:
            task.store.delete("measurements", {"experiment_id": experiment_id})
        entry["archive"] = str(path)
        entry["bytes"] = path.stat().st_size
    return summary


@job_type(queue=QUEUE, name="optimize_indexes", payload=OptimizeIndexes, options=CLEANUP_OPTIONS)
def optimize_indexes(task: Task[OptimizeIndexes]) -> dict[str, Any]:
    """Check integrity, refresh the planner's statistics, rebuild indexes, compact the file."""
    return task.store.optimize(vacuum=task.payload.vacuum)
