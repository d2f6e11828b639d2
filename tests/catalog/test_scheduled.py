"""scheduled-tasks: the reports are written from the store and the engine's
metrics, and the health check alerts the admins when a threshold is crossed."""

from __future__ import annotations

import asyncio
import email
import json
from email import policy
from pathlib import Path

import redis.asyncio

from engine import Queue, Worker
from messai_console.store import Store
from messai_console.store.samples import USERS, SeededData
from tests.catalog.conftest import ADMIN, completed, finished, run


async def read(path: str) -> str:
    return await asyncio.to_thread(Path(path).read_text, encoding="utf-8")


async def test_daily_report_counts_the_day_and_the_jobs(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    for paper_id in seeded.papers:
        completed(
            await run(
                redis_client, "paper-processing", "extract_parameters", {"paper_id": paper_id}
            )
        )
    result = completed(
        await run(
            redis_client, "scheduled-tasks", "daily_report", {"email_admins": True}, job_id="daily"
        )
    )
    assert result["jobs_completed"] >= len(seeded.papers)
    assert result["parameters_extracted"] == store.count("parameters") > 0
    text = await read(result["path"])
    assert "| parameters extracted |" in text and "| paper-processing |" in text
    sent = completed(await finished(redis_client, "email-notifications", "daily-then-0"))
    message = email.message_from_bytes(
        await asyncio.to_thread(Path(sent["where"]).read_bytes), policy=policy.default
    )
    assert message["To"] == ADMIN and message["Subject"].startswith("MESSAI daily report")


async def test_weekly_digest_goes_to_every_user(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    for paper_id in seeded.papers:
        completed(
            await run(
                redis_client, "paper-processing", "extract_parameters", {"paper_id": paper_id}
            )
        )
    result = completed(
        await run(redis_client, "scheduled-tasks", "weekly_digest", {}, job_id="weekly")
    )
    assert result["new_papers"] == len(seeded.papers) + 1  # and the interrupted upload
    assert result["top_power_density_mw_m2"] == 1250.0
    text = await read(result["path"])
    assert "Power density 1250 mW/m² in Power generation from acetate-fed" in text
    recipients = []
    for index in range(len(USERS)):
        sent = completed(
            await finished(redis_client, "email-notifications", f"weekly-then-{index}")
        )
        recipients.append(sent["to"])
    assert sorted(recipients) == sorted(user["email"] for user in USERS)


async def test_monthly_analytics_distributions(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> None:
    for paper_id in seeded.papers:
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
    result = completed(await run(redis_client, "scheduled-tasks", "monthly_analytics", {}))
    document = json.loads(await read(result["json"]))
    mfc = document["parameters"]["power_density"]["MFC"]
    assert mfc == {"count": 2, "min": 410.0, "median": 830.0, "max": 1250.0}
    assert document["parameters"]["current_density"]["MEC"]["max"] == 10.2
    assert document["experiment_means"]["max_power_density_mw_m2"] > 0
    assert "| power_density | MFC | 2 | 410 | 830 | 1250 |" in await read(result["markdown"])


async def test_health_check_passes_on_a_quiet_system(
    redis_client: redis.asyncio.Redis, worker: Worker
) -> None:
    result = completed(await run(redis_client, "scheduled-tasks", "system_health_check", {}))
    assert result["ok"], [c for c in result["checks"] if not c["ok"]]
    names = {check["check"] for check in result["checks"]}
    assert {
        "redis_latency_ms",
        "redis_eviction_policy",
        "backlog",
        "stalled_jobs",
        "silent_workers",
    } <= names


async def test_health_check_alerts_the_admins_on_a_backlog(
    redis_client: redis.asyncio.Redis, worker: Worker
) -> None:
    exports = Queue("data-export", redis_client)
    await exports.pause()
    for _ in range(3):
        await exports.add("noop")
    result = completed(
        await run(
            redis_client,
            "scheduled-tasks",
            "system_health_check",
            {"thresholds": {"max_backlog": 2}},
            job_id="health",
        )
    )
    assert not result["ok"]
    failed = [c for c in result["checks"] if not c["ok"]]
    assert failed == [
        {"check": "backlog", "value": 3, "threshold": 2, "ok": False, "queue": "data-export"}
    ]
    alert = await finished(redis_client, "email-notifications", "health-then-0")
    assert alert.options.priority == 1
    sent = completed(alert)
    message = email.message_from_bytes(
        await asyncio.to_thread(Path(sent["where"]).read_bytes), policy=policy.default
    )
    assert message["To"] == ADMIN
    assert message["Subject"] == "[MESSAI alert] 1 health check(s) failed"
    assert "backlog on data-export: 3 (threshold 2)" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
