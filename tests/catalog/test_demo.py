"""``messai-console demo --headless`` runs real work on every queue to completion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from messai_console.cli import app
from messai_console.jobs import QUEUES


@pytest.mark.slow
def test_demo_headless_small_runs_every_queue_to_completion(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAI_DATA_DIR", str(tmp_path / "data"))
    for name in ("SMTP_HOST", "MESSAI_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        app,
        [
            "--redis-url",
            redis_url,
            "demo",
            "--headless",
            "--small",
            "--per-queue",
            "2",
            "--timeout",
            "90",
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sample data in" in out and "2 papers, 1 experiments, 3 users" in out
    added = int(re.search(r"added (\d+) jobs to 7 queues", out).group(1))  # type: ignore[union-attr]
    totals = {
        match.group(1): (int(match.group(2)), int(match.group(3)))
        for match in re.finditer(r"^(\S+)\s+completed\s+(\d+)\s+failed\s+(\d+)$", out, re.MULTILINE)
    }
    assert set(totals) == set(QUEUES)
    for queue, (completed, failed) in totals.items():
        assert completed >= 2, queue  # real work plus the diagnostic sleep
        assert failed >= 1, queue  # the diagnostic failure, after its retry
    assert sum(c + f for c, f in totals.values()) >= added
    assert "extract_pdf retrying (PdfError" in out  # the interrupted upload retries, then fails
    assert "paper_processed completed" in out and "experiment_complete completed" in out
    outbox = tmp_path / "data" / "outbox"
    assert len(list(outbox.glob("*.eml"))) >= 8
    assert any((tmp_path / "data" / "models").glob("*.joblib"))
