"""Payloads are checked at enqueue: a bad one names each bad field and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio
from typer.testing import CliRunner

from engine import InvalidJobError
from messai_console.cli import app
from messai_console.jobs import QUEUES, catalog, creators, job_options, validate_job

BAD_PAYLOADS: dict[str, tuple[str, Any, list[str]]] = {
    "paper-processing": (
        "analyze_content",
        {"top_keywords": 0},
        ["paper_id: field required", "top_keywords: input should be greater than or equal to 1"],
    ),
    "experiment-data": (
        "generate_report",
        {"experiment_id": "exp-1", "format": "pdf"},
        ["format: input should be 'markdown' or 'html'"],
    ),
    "email-notifications": (
        "welcome",
        {"to": "not-an-address", "context": {}},
        ["to: string should match pattern", "context.name: field required"],
    ),
    "data-export": (
        "papers",
        {"format": "xml", "since_days": 0},
        [
            "format: input should be 'json', 'csv' or 'excel'",
            "since_days: input should be greater than or equal to 1",
        ],
    ),
    "ml-training": (
        "prediction",
        {"hyperparameters": {"n_estimators": 0}},
        ["hyperparameters.n_estimators: input should be greater than or equal to 1"],
    ),
    "database-cleanup": (
        "archive_old_data",
        {"tables": ["users"], "older_than_days": -1},
        ["older_than_days: input should be greater than 0", "tables.0: input should be"],
    ),
    "scheduled-tasks": (
        "system_health_check",
        {"thresholds": {"max_failure_rate": 2}, "extra": 1},
        [
            "thresholds.max_failure_rate: input should be less than or equal to 1",
            "extra: extra inputs are not permitted",
        ],
    ),
}


def test_every_queue_has_a_bad_payload_case() -> None:
    assert set(BAD_PAYLOADS) == set(QUEUES)


@pytest.mark.parametrize("queue", list(BAD_PAYLOADS))
async def test_invalid_payload_is_rejected_with_the_fields_named_and_nothing_written(
    redis_client: redis.asyncio.Redis, queue: str
) -> None:
    name, data, problems = BAD_PAYLOADS[queue]
    with pytest.raises(InvalidJobError) as caught:
        await creators.enqueue(queue, name, data, redis=redis_client)
    message = str(caught.value)
    assert message.startswith(f"invalid payload for {queue}/{name}: ")
    assert "\n" not in message
    for problem in problems:
        assert problem in message
    assert await redis_client.dbsize() == 0


@pytest.mark.parametrize("queue", list(BAD_PAYLOADS))
def test_cli_job_add_refuses_a_bad_payload(redis_url: str, queue: str) -> None:
    name, data, problems = BAD_PAYLOADS[queue]
    import json

    result = CliRunner().invoke(
        app, ["--redis-url", redis_url, "job", "add", queue, name, "--data", json.dumps(data)]
    )
    assert result.exit_code == 1
    assert problems[0] in result.stderr
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_unknown_job_name_on_a_catalog_queue_lists_the_known_ones() -> None:
    with pytest.raises(InvalidJobError) as caught:
        validate_job("data-export", "everything", {})
    message = str(caught.value)
    assert "unknown job type 'everything' for queue 'data-export'" in message
    assert "papers, experiments, parameters, full_backup" in message
    assert "noop, sleep, echo, fail" in message


def test_diagnostics_pass_on_every_queue_and_other_queues_are_left_alone() -> None:
    for queue in QUEUES:
        assert validate_job(queue, "sleep", {"ms": "whatever"}) == {"ms": "whatever"}
    assert validate_job("my-own-queue", "anything", [1, 2]) == [1, 2]


def test_valid_payloads_are_normalised_and_carry_their_options() -> None:
    data = validate_job(
        "email-notifications",
        "welcome",
        {"to": "a@example.com", "context": {"name": "Ada"}, "priority": "high"},
    )
    assert data == {"to": "a@example.com", "context": {"name": "Ada"}, "priority": "high"}
    assert job_options("email-notifications", "welcome", data)["priority"] == 1
    assert job_options("ml-training", "prediction", {})["priority"] == 10
    assert validate_job("database-cleanup", "optimize_indexes", None) == {}


def test_every_job_type_is_documented_and_accepts_its_defaults_or_says_what_is_missing() -> None:
    for job in catalog:
        assert job.description, f"{job.queue}/{job.name} has no docstring"
        try:
            validate_job(job.queue, job.name, {})
        except InvalidJobError as exc:
            assert "field required" in str(exc), str(exc)


def test_sync_creators(redis_url: str, no_sync_queues: None) -> None:
    job = creators.sync.process_paper("paper-123", "extract_pdf", priority=2, url=redis_url)
    assert job.options.priority == 2 and job.options.attempts == 3
    mail = creators.sync.send_email(
        "user@example.com", "welcome", {"name": "John Doe"}, url=redis_url
    )
    experiment = creators.sync.process_experiment(
        "exp-456", "calculate_metrics", user_id="user-789", url=redis_url
    )
    export = creators.sync.export_data("parameters", "excel", url=redis_url)
    model = creators.sync.train_model("classification", {"C": 2.0}, url=redis_url)
    cleanup = creators.sync.cleanup("archive_old_data", {"older_than_days": 30}, url=redis_url)
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        stored = {
            (queue, job_id): client.hget(f"messai:{{{queue}}}:job:{job_id}", "d")
            for queue, job_id in [
                ("paper-processing", job.id),
                ("email-notifications", mail.id),
                ("experiment-data", experiment.id),
                ("data-export", export.id),
                ("ml-training", model.id),
                ("database-cleanup", cleanup.id),
            ]
        }
    assert all(stored.values())
    assert '"user_id":"user-789"' in stored[("experiment-data", experiment.id)]  # type: ignore[operator]
    chain = creators.sync.paper_pipeline("paper-123", notify="ada@example.com", url=redis_url)
    assert [(job.queue, job.name, job.state) for job in chain] == [
        ("paper-processing", "extract_pdf", "waiting"),
        ("paper-processing", "analyze_content", "pending"),
        ("email-notifications", "paper_processed", "pending"),
    ]
    with pytest.raises(InvalidJobError, match="paper_id: string should have at least 1 character"):
        creators.sync.process_paper("", url=redis_url)
