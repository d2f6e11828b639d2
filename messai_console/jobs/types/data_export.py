"""``data-export``: ``papers``, ``experiments``, ``parameters`` and
``full_backup`` as JSON, CSV or Excel (xlsx, with openpyxl), optionally
emailed (``email_to``) when done.

Papers, experiments and parameters are flat views made for spreadsheets
(metrics spread into columns, keywords joined); a full backup holds every
table's rows as they are stored (JSON: one file; CSV: a zip of one file per
table; Excel: one sheet per table).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from messai_console.jobs.catalog import Payload, job_type
from messai_console.jobs.electrochem import METRIC_LABELS
from messai_console.jobs.fields import EmailAddress
from messai_console.jobs.queues import DATA_EXPORT
from messai_console.jobs.runtime import Task
from messai_console.store import BACKUP_TABLES, TABLES, Row, Store

QUEUE = DATA_EXPORT
ExportFormat = Literal["json", "csv", "excel"]
EXCEL_CELL_LIMIT = 32_767
EXPORT_OPTIONS: dict[str, Any] = {"attempts": 2, "timeout_ms": 600_000}
SUFFIX = {"json": "json", "csv": "csv", "excel": "xlsx"}


class ExportPayload(Payload):
    format: ExportFormat = "json"
    since_days: int | None = Field(default=None, ge=1)
    """Only rows created in the last N days (views only)."""
    email_to: EmailAddress | None = None
    """Send the file (export_ready email, attached) when done."""


class FullBackup(Payload):
    format: ExportFormat = "json"
    email_to: EmailAddress | None = None


def _since(payload: ExportPayload) -> float | None:
    return time.time() - payload.since_days * 86_400 if payload.since_days else None


def papers_view(store: Store, since: float | None = None) -> tuple[list[str], list[Row]]:
    columns = [
        "id",
        "title",
        "authors",
        "year",
        "system_type",
        "status",
        "page_count",
        "words",
        "keywords",
        "created_at",
        "updated_at",
    ]
    rows = []
    for paper in store.rows("papers", created_after=since):
        analysis = paper.get("analysis") or {}
        rows.append(
            {
                **{key: paper.get(key) for key in columns if key in TABLES["papers"].columns},
                "words": (analysis.get("statistics") or {}).get("words"),
                "keywords": ", ".join(item["term"] for item in analysis.get("keywords", [])),
            }
        )
    return columns, [{key: row.get(key) for key in columns} for row in rows]


def experiments_view(store: Store, since: float | None = None) -> tuple[list[str], list[Row]]:
    base = [name for name in TABLES["experiments"].columns if name not in ("metrics", "raw_path")]
    columns = base + list(METRIC_LABELS)
    rows = []
    for experiment in store.rows("experiments", created_after=since):
        metrics = experiment.get("metrics") or {}
        rows.append(
            {
                **{key: experiment.get(key) for key in base},
                **{key: metrics.get(key) for key in METRIC_LABELS},
            }
        )
    return columns, rows


def parameters_view(store: Store, since: float | None = None) -> tuple[list[str], list[Row]]:
    titles = {paper["id"]: paper["title"] for paper in store.rows("papers")}
    columns = [
        "id",
        "paper_id",
        "paper_title",
        "name",
        "value",
        "unit",
        "value_si",
        "unit_si",
        "value_text",
        "context",
    ]
    rows = [
        {**{key: row.get(key) for key in columns}, "paper_title": titles.get(row["paper_id"])}
        for row in store.rows("parameters", created_after=since, order_by=("paper_id", "id"))
    ]
    return columns, rows


def backup_tables(store: Store) -> dict[str, tuple[list[str], list[Row]]]:
    return {name: (list(TABLES[name].columns), store.rows(name)) for name in BACKUP_TABLES}


def _cell(value: Any) -> Any:
    """A value as it goes into CSV or a spreadsheet cell: nested data as JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _excel_text(value: str) -> str:
    """Text a spreadsheet accepts: no control characters, at most the cell limit."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value if len(value) <= EXCEL_CELL_LIMIT else value[: EXCEL_CELL_LIMIT - 1] + "…"


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    partial = path.with_name(path.name + ".part")
    write(partial)
    os.replace(partial, path)


def _csv_text(columns: list[str], rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def _write_excel(
    path: Path, sheets: dict[str, tuple[list[str], list[Row]]], task: Task[Any]
) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    for sheet in list(workbook.worksheets):
        workbook.remove(sheet)
    truncated = 0
    for name, (columns, rows) in sheets.items():
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(columns)
        for row in rows:
            values = []
            for column in columns:
                value = _cell(row.get(column))
                if isinstance(value, str):
                    cleaned = _excel_text(value)
                    truncated += len(cleaned) < len(value)
                    value = cleaned
                values.append(value)
            sheet.append(values)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text from the data, never a formula
    if truncated:
        task.log(
            f"{truncated} cell(s) were cut to what Excel accepts; the JSON export keeps them whole"
        )
    _write_atomically(path, lambda target: workbook.save(target))


def _export(
    task: Task[Any], kind: str, sheets: dict[str, tuple[list[str], list[Row]]], view: bool
) -> dict[str, Any]:
    fmt: str = task.payload.format
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_id = task.job_id.replace(":", ".").replace("/", "_")
    multi_csv = fmt == "csv" and not view
    suffix = "zip" if multi_csv else SUFFIX[fmt]
    path = task.paths.exports / f"{kind}-{stamp}-{safe_id}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    task.progress(30, f"writing {path.name}")
    if fmt == "json":
        document: dict[str, Any] = {"export": kind, "exported_at": time.time()}
        if view:
            columns, rows = sheets[kind]
            document.update(columns=columns, rows=rows)
        else:
            document["tables"] = {name: rows for name, (_columns, rows) in sheets.items()}
        text = json.dumps(document, ensure_ascii=False, indent=1, default=str)
        _write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))
    elif fmt == "csv" and view:
        columns, rows = sheets[kind]
        text = _csv_text(columns, rows)
        _write_atomically(
            path, lambda target: target.write_text(text, encoding="utf-8", newline="")
        )
    elif fmt == "csv":

        def write_zip(target: Path) -> None:
            with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, (columns, rows) in sheets.items():
                    archive.writestr(f"{name}.csv", _csv_text(columns, rows))

        _write_atomically(path, write_zip)
    else:
        _write_excel(path, sheets, task)
    total = sum(len(rows) for _columns, rows in sheets.values())
    now = time.time()
    task.store.upsert(
        "files",
        {
            "id": f"export-{safe_id}",
            "kind": "export",
            "path": str(path),
            "size": path.stat().st_size,
            "ref": kind,
            "created_at": now,
        },
    )
    if task.payload.email_to:
        task.then(
            "email-notifications",
            "export_ready",
            {
                "to": task.payload.email_to,
                "context": {"export": kind, "format": fmt, "rows": total, "path": str(path)},
            },
        )
    task.progress(100, f"{total} rows")
    return {
        "path": str(path),
        "format": fmt,
        "rows": total,
        "tables": {name: len(rows) for name, (_c, rows) in sheets.items()},
    }


@job_type(queue=QUEUE, name="papers", payload=ExportPayload, options=EXPORT_OPTIONS)
def export_papers(task: Task[ExportPayload]) -> dict[str, Any]:
    """Every paper's metadata, status, word count and keywords."""
    return _export(
        task, "papers", {"papers": papers_view(task.store, _since(task.payload))}, view=True
    )


@job_type(queue=QUEUE, name="experiments", payload=ExportPayload, options=EXPORT_OPTIONS)
def export_experiments(task: Task[ExportPayload]) -> dict[str, Any]:
    """Every experiment's set-up with its computed metrics as columns."""
    return _export(
        task,
        "experiments",
        {"experiments": experiments_view(task.store, _since(task.payload))},
        view=True,
    )


@job_type(queue=QUEUE, name="parameters", payload=ExportPayload, options=EXPORT_OPTIONS)
def export_parameters(task: Task[ExportPayload]) -> dict[str, Any]:
    """Every extracted parameter with its paper, value, unit and canonical value."""
    return _export(
        task,
        "parameters",
        {"parameters": parameters_view(task.store, _since(task.payload))},
        view=True,
    )


@job_type(queue=QUEUE, name="full_backup", payload=FullBackup, options=EXPORT_OPTIONS)
def full_backup(task: Task[FullBackup]) -> dict[str, Any]:
    """Every table's rows as stored (embeddings excepted: they are rebuilt from the text)."""
    return _export(task, "full_backup", backup_tables(task.store), view=False)
