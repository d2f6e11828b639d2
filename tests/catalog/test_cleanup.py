"""database-cleanup on the sample data's clutter: stray files, stale temp data,
old rows moved to compressed cold storage, and index maintenance."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from pathlib import Path

import redis.asyncio

from engine import Worker
from messai_console.store import Store
from messai_console.store.samples import DAY_S, SeededData
from tests.catalog.conftest import completed, run


async def test_remove_orphaned_files(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    orphan = store.paths.files / "papers" / "abandoned-upload.pdf"
    fresh = store.paths.exports / "being-written.json"
    fresh.write_text("{}")
    gone = store.paths.reports / "deleted-by-hand.md"
    store.upsert(
        "files",
        {
            "id": "file-gone",
            "kind": "report",
            "path": str(gone),
            "size": 1,
            "ref": "x",
            "created_at": time.time(),
        },
    )

    dry = completed(
        await run(redis_client, "database-cleanup", "remove_orphaned_files", {"dry_run": True})
    )
    assert dry["orphaned_files"] == 1 and orphan.exists()

    result = completed(await run(redis_client, "database-cleanup", "remove_orphaned_files", {}))
    assert result["files"] == ["files/papers/abandoned-upload.pdf"]
    assert result["dangling_rows"] == 1
    assert not orphan.exists()
    assert fresh.exists()  # younger than min_age_hours: a job may be writing it
    assert store.get("files", "file-gone") is None
    for paper_id in seeded.papers:  # referenced files stay
        paper = store.get("papers", paper_id)
        assert paper is not None
        assert await asyncio.to_thread(Path(paper["file_path"]).exists)


async def test_clean_temp_data(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    recent = store.paths.temp / "in-use.tmp"
    recent.write_text("busy")
    result = completed(
        await run(redis_client, "database-cleanup", "clean_temp_data", {"older_than_hours": 24})
    )
    assert result["temp_files"] == 3 and result["expired_rows"] == 1
    assert sorted(p.name for p in store.paths.temp.iterdir()) == ["in-use.tmp"]
    assert [row["key"] for row in store.rows("temp_data")] == ["session:live"]


async def test_archive_old_data_moves_rows_to_compressed_cold_storage(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    old = time.time() - 500 * DAY_S
    experiment_id = seeded.experiments[0]
    completed(
        await run(
            redis_client, "experiment-data", "process_results", {"experiment_id": experiment_id}
        )
    )
    store.update("experiments", experiment_id, {"created_at": old})
    measurements = store.count("measurements", {"experiment_id": experiment_id})
    old_mail = store.count("email_log", created_before=time.time() - 365 * DAY_S)
    assert measurements > 0 and old_mail == 3

    result = completed(
        await run(redis_client, "database-cleanup", "archive_old_data", {"older_than_days": 365})
    )
    tables = result["tables"]
    assert tables["email_log"]["rows"] == 3
    assert tables["experiments"] == {
        "rows": 1,
        "measurements": measurements,
        "archive": tables["experiments"]["archive"],
        "bytes": tables["experiments"]["bytes"],
    }
    assert store.get("experiments", experiment_id) is None
    assert store.count("measurements", {"experiment_id": experiment_id}) == 0
    assert store.count("email_log") == 0

    def read(path: str) -> list[dict[str, object]]:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]

    archived = await asyncio.to_thread(read, tables["experiments"]["archive"])
    assert [record["row"]["id"] for record in archived] == [experiment_id]  # type: ignore[index]
    assert len(archived[0]["measurements"]) == measurements  # type: ignore[arg-type]
    mail = await asyncio.to_thread(read, tables["email_log"]["archive"])
    assert {record["row"]["recipient"] for record in mail} == {  # type: ignore[index]
        "lena.moreno@example.com",
        "kofi.okafor@example.com",
        "admin@example.com",
    }


async def test_optimize_indexes(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    store.replace(
        "temp_data",
        {},
        [
            {"key": f"k{n}", "value": "x" * 2000, "created_at": 0.0, "expires_at": 0.0}
            for n in range(300)
        ],
    )
    store.delete("temp_data", {})
    before = await asyncio.to_thread(os.path.getsize, store.paths.database)
    result = completed(await run(redis_client, "database-cleanup", "optimize_indexes", {}))
    assert result["integrity"] == "ok"
    assert result["free_pages_before"] > 0 and result["free_pages_after"] == 0
    assert result["bytes_after"] < result["bytes_before"]
    assert await asyncio.to_thread(os.path.getsize, store.paths.database) <= before
