"""experiment-data end to end: the CSV parsed, the metrics right, the report written."""

from __future__ import annotations

import asyncio
import csv
import email
from email import policy
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio

from engine import Worker
from messai_console.jobs import creators
from messai_console.store import Store
from messai_console.store.samples import SeededData
from tests.catalog.conftest import completed, finished, run


def expected_metrics(store: Store, experiment_id: str) -> dict[str, float]:
    """The figures computed here, independently, straight from the raw CSV."""
    experiment = store.get("experiments", experiment_id)
    assert experiment is not None
    with open(experiment["raw_path"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    t = np.array([float(r["time_s"]) for r in rows])
    v = np.array([float(r["voltage_v"]) for r in rows])
    i = np.array([float(r["current_ma"]) for r in rows]) / 1000
    area = experiment["anode_area_cm2"] / 1e4
    charge = float(np.sum((i[1:] + i[:-1]) * np.diff(t)) / 2)
    removed = (experiment["cod_initial_mg_l"] - experiment["cod_final_mg_l"]) / 1000
    theoretical = 96485.332 * 4 * experiment["volume_ml"] / 1000 * removed / 32
    return {
        "rows": len(rows),
        "max_power_density_mw_m2": float(np.max(v * i)) / area * 1000,
        "max_current_density_a_m2": float(np.max(i)) / area,
        "coulombic_efficiency_pct": 100 * charge / theoretical,
    }


async def test_process_results_then_metrics_then_report_then_email(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    experiment_id = seeded.experiments[0]
    expected = expected_metrics(store, experiment_id)
    steps = await creators.experiment_pipeline(
        experiment_id, user_id="user-lena", notify="lena.moreno@example.com", redis=redis_client
    )
    assert [job.name for job in steps] == [
        "process_results",
        "calculate_metrics",
        "generate_report",
        "experiment_complete",
    ]
    parsed = completed(await finished(redis_client, "experiment-data", steps[0].id))
    assert parsed["rows"] == expected["rows"]
    assert store.count("measurements", {"experiment_id": experiment_id}) == expected["rows"]

    metrics = completed(await finished(redis_client, "experiment-data", steps[1].id))
    for key in ("max_power_density_mw_m2", "max_current_density_a_m2", "coulombic_efficiency_pct"):
        assert metrics[key] == pytest.approx(expected[key], rel=1e-3), key
    assert 0 < metrics["coulombic_efficiency_pct"] < 100
    assert metrics["cod_removal_pct"] == pytest.approx(85.0)
    stored = store.get("experiments", experiment_id)
    assert stored is not None and stored["metrics"]["samples"] == expected["rows"]

    report = completed(await finished(redis_client, "experiment-data", steps[2].id))
    text = await asyncio.to_thread(Path(report["path"]).read_text, encoding="utf-8")
    for label in (
        "Maximum power density",
        "Maximum current density",
        "Coulombic efficiency",
        "COD removal",
    ):
        assert label in text
    assert f"{metrics['max_power_density_mw_m2']:,.4g}" in text
    assert store.rows("reports", {"subject": experiment_id})[0]["path"] == report["path"]

    mail = completed(await finished(redis_client, "email-notifications", steps[3].id))
    raw = await asyncio.to_thread(Path(mail["where"]).read_bytes)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "lena.moreno@example.com"
    assert message["Subject"] == "Experiment Acetate MFC, 1 kΩ is complete"


async def test_html_report(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    experiment_id = seeded.experiments[0]
    completed(
        await run(
            redis_client, "experiment-data", "calculate_metrics", {"experiment_id": experiment_id}
        )
    )
    report = completed(
        await run(
            redis_client,
            "experiment-data",
            "generate_report",
            {"experiment_id": experiment_id, "format": "html"},
        )
    )
    html = await asyncio.to_thread(Path(report["path"]).read_text, encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<td>Maximum power density</td>" in html


async def test_malformed_csv_fails_at_once_naming_the_line(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    job = await run(
        redis_client,
        "experiment-data",
        "process_results",
        {"experiment_id": seeded.malformed_experiment},
        attempts=3,
    )
    assert job.state == "failed" and job.attempts_made == 1
    assert "1 unparseable row(s) (line 3)" in (job.error or "")
    assert store.count("measurements", {"experiment_id": seeded.malformed_experiment}) == 0


async def test_another_users_experiment_is_refused(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> None:
    job = await run(
        redis_client,
        "experiment-data",
        "calculate_metrics",
        {"experiment_id": seeded.experiments[0], "user_id": "user-kofi"},
    )
    assert job.state == "failed"
    assert "does not own experiment" in (job.error or "")
