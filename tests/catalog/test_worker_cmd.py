"""``messai-console worker`` with no --queue serves the whole catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from engine.sync import SyncQueue
from messai_console.jobs import QUEUES, creators
from tests.helpers import wait_until


def test_worker_serves_every_catalog_queue_by_default(
    redis_url: str, tmp_path: Path, no_sync_queues: None
) -> None:
    env = {**os.environ, "MESSAI_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("SMTP_HOST", None)
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "messai_console.cli",
                "--redis-url",
                redis_url,
                "worker",
                "-c",
                "2",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        welcome = creators.sync.send_email(
            "ada@example.com", "welcome", {"name": "Ada"}, url=redis_url
        )
        cleanup = creators.sync.cleanup("optimize_indexes", url=redis_url)
        with (
            SyncQueue("email-notifications", redis_url) as mail,
            SyncQueue("database-cleanup", redis_url) as maintenance,
        ):
            wait_until(lambda: mail.get_job(welcome.id).state == "completed", timeout=30)  # type: ignore[union-attr]
            wait_until(lambda: maintenance.get_job(cleanup.id).state == "completed", timeout=30)  # type: ignore[union-attr]
        assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 1
        assert f"serving {', '.join(QUEUES)} with concurrency 2" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
