"""data-export: every kind in every format parses back to the rows in the store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from openpyxl import load_workbook

from engine import Worker
from messai_console.jobs.types.data_export import (
    backup_tables,
    experiments_view,
    papers_view,
    parameters_view,
)
from messai_console.store import Store
from messai_console.store.samples import SeededData
from tests.catalog.conftest import completed, run


@pytest.fixture
async def processed(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> SeededData:
    """Papers analysed and their parameters extracted; the experiment's metrics computed."""
    for paper_id in seeded.papers:
        completed(
            await run(redis_client, "paper-processing", "analyze_content", {"paper_id": paper_id})
        )
        completed(
            await run(
                redis_client, "paper-processing", "extract_parameters", {"paper_id": paper_id}
            )
        )
    completed(
        await run(
            redis_client,
            "experiment-data",
            "calculate_metrics",
            {"experiment_id": seeded.experiments[0]},
        )
    )
    return seeded


def as_text(value: Any) -> str:
    """How a value reads back from CSV."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def as_cell(value: Any) -> Any:
    """How a value reads back from a spreadsheet cell: empty text is an empty
    cell, and floats keep the 15 significant digits a spreadsheet stores."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if value == "":
        return None
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-14)
    return value


VIEWS = {"papers": papers_view, "experiments": experiments_view, "parameters": parameters_view}


@pytest.mark.parametrize("kind", ["papers", "experiments", "parameters"])
async def test_views_parse_back_in_every_format(
    redis_client: redis.asyncio.Redis, processed: SeededData, store: Store, kind: str
) -> None:
    columns, rows = VIEWS[kind](store)
    assert rows, f"no {kind} to export"

    as_json = completed(await run(redis_client, "data-export", kind, {"format": "json"}))
    document = json.loads(
        await asyncio.to_thread(Path(as_json["path"]).read_text, encoding="utf-8")
    )
    assert document["columns"] == columns and document["rows"] == rows
    assert as_json["rows"] == len(rows)

    as_csv = completed(await run(redis_client, "data-export", kind, {"format": "csv"}))
    text = await asyncio.to_thread(Path(as_csv["path"]).read_text, encoding="utf-8")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert parsed == [{c: as_text(row[c]) for c in columns} for row in rows]

    as_xlsx = completed(await run(redis_client, "data-export", kind, {"format": "excel"}))
    workbook = load_workbook(as_xlsx["path"], read_only=True)
    sheet = workbook[kind]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    assert values[0] == columns
    assert values[1:] == [[as_cell(row[c]) for c in columns] for row in rows]


async def test_full_backup_in_every_format(
    redis_client: redis.asyncio.Redis, processed: SeededData, store: Store
) -> None:
    tables = backup_tables(store)
    assert tables["papers"][1] and tables["measurements"][1]

    as_json = completed(await run(redis_client, "data-export", "full_backup", {"format": "json"}))
    document = json.loads(
        await asyncio.to_thread(Path(as_json["path"]).read_text, encoding="utf-8")
    )
    assert document["tables"] == {name: rows for name, (_c, rows) in tables.items()}

    tables = backup_tables(store)  # the files table now lists the first export
    as_zip = completed(await run(redis_client, "data-export", "full_backup", {"format": "csv"}))
    with zipfile.ZipFile(as_zip["path"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"{name}.csv" for name in tables)
        for name, (columns, rows) in tables.items():
            parsed = list(
                csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode(), newline=""))
            )
            assert parsed == [{c: as_text(row[c]) for c in columns} for row in rows], name

    tables = backup_tables(store)
    as_xlsx = completed(await run(redis_client, "data-export", "full_backup", {"format": "excel"}))
    workbook = load_workbook(as_xlsx["path"], read_only=True)
    assert workbook.sheetnames == list(tables)
    for name, (columns, rows) in tables.items():
        values = [list(row) for row in workbook[name].iter_rows(values_only=True)]
        assert values[0] == columns, name
        assert values[1:] == [[as_cell(row[c]) for c in columns] for row in rows], name
    workbook.close()


async def test_excel_never_turns_data_into_formulas(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    store.update("papers", seeded.papers[0], {"title": '=HYPERLINK("http://evil.example","x")'})
    result = completed(await run(redis_client, "data-export", "papers", {"format": "excel"}))
    workbook = load_workbook(result["path"])
    titles = [row[1].value for row in workbook["papers"].iter_rows(min_row=2)]
    kinds = [row[1].data_type for row in workbook["papers"].iter_rows(min_row=2)]
    workbook.close()
    assert '=HYPERLINK("http://evil.example","x")' in titles
    assert set(kinds) == {"s"}
