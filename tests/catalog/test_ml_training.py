"""ml-training on the sample data: each model trains, reports progress per
fold or epoch, and is saved with its metrics."""

from __future__ import annotations

import asyncio

import joblib
import pytest
import redis.asyncio

from engine import Queue, Worker
from messai_console.jobs import creators
from messai_console.store import Store
from messai_console.store.samples import SeededData
from tests.catalog.conftest import completed, finished, run


@pytest.fixture
async def trained_on(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> SeededData:
    for paper_id in seeded.papers:
        completed(
            await run(redis_client, "paper-processing", "extract_pdf", {"paper_id": paper_id})
        )
    completed(
        await run(
            redis_client,
            "experiment-data",
            "process_results",
            {"experiment_id": seeded.experiments[0]},
        )
    )
    return seeded


async def load(path: str) -> object:
    return await asyncio.to_thread(joblib.load, path)


async def test_prediction_model(
    redis_client: redis.asyncio.Redis, trained_on: SeededData, store: Store
) -> None:
    job = await creators.train_model(
        "prediction", {"n_estimators": 20, "max_depth": 6}, redis=redis_client
    )
    assert job.options.priority == 10  # low by default
    result = completed(await finished(redis_client, "ml-training", job.id))
    metrics = result["metrics"]
    assert len(metrics["folds"]) == 5 and -10 < metrics["r2_mean"] <= 1
    assert metrics["feature_importance"]["elapsed_h"] > 0
    bundle = await load(result["path"])
    assert isinstance(bundle, dict)
    prediction = bundle["model"].predict([[8.0, 1000.0, 7.0, 28.0, 1000.0, 30.0]])
    assert prediction.shape == (1,) and prediction[0] > 0
    row = store.get("models", result["model_id"])
    assert (
        row is not None
        and row["hyperparameters"]["n_estimators"] == 20
        and row["metrics"] == metrics
    )
    logs = await Queue("ml-training", redis_client).get_logs(job.id)
    assert [line for line in logs if line.startswith("fold ")][:2] == [
        f"fold 1 of 5: R² {metrics['folds'][0]['r2']}",
        f"fold 2 of 5: R² {metrics['folds'][1]['r2']}",
    ]


async def test_classification_model(
    redis_client: redis.asyncio.Redis, trained_on: SeededData
) -> None:
    result = completed(await run(redis_client, "ml-training", "classification", {"cv_folds": 3}))
    metrics = result["metrics"]
    assert set(metrics["classes"]) == {"MFC", "MEC"}
    assert len(metrics["folds"]) == 3 and 0 <= metrics["accuracy_mean"] <= 1
    model = await load(result["path"])
    predicted = model.predict(
        ["hydrogen gas was produced at the stainless steel cathode of the electrolysis cell"]
    )  # type: ignore[attr-defined]
    assert list(predicted) == ["MEC"]


async def test_parameter_extraction_model(
    redis_client: redis.asyncio.Redis, trained_on: SeededData
) -> None:
    result = completed(
        await run(
            redis_client, "ml-training", "parameter_extraction", {"hyperparameters": {"epochs": 8}}
        )
    )
    metrics = result["metrics"]
    assert len(metrics["accuracy_by_epoch"]) == 8
    assert metrics["classes"]["none"] > 0 and metrics["classes"]["power_density"] > 0
    bundle = await load(result["path"])
    assert isinstance(bundle, dict)
    features = bundle["vectorizer"].transform(
        ["The maximum power density reached 800 mW/m² in the reactor."]
    )
    assert bundle["classifier"].predict(features).shape == (1,)


async def test_training_waits_for_data_in_processing_and_fails_at_once_without(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    retried = await run(
        redis_client,
        "ml-training",
        "classification",
        {},
        attempts=2,
        backoff={"type": "fixed", "delay_ms": 50},
    )
    assert retried.state == "failed" and retried.attempts_made == 2
    assert "papers not processed yet" in (retried.error or "")

    for paper in store.rows("papers"):
        store.update("papers", paper["id"], {"status": "failed"})
    job = await run(redis_client, "ml-training", "classification", {}, attempts=3)
    assert job.state == "failed" and job.attempts_made == 1
    assert "run extract_pdf first" in (job.error or "")
