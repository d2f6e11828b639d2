"""(queue, job name, data) for each creator: shared by the async and sync forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from messai_console.jobs.queues import (
    DATA_EXPORT,
    DATABASE_CLEANUP,
    EMAIL_NOTIFICATIONS,
    EXPERIMENT_DATA,
    ML_TRAINING,
    PAPER_PROCESSING,
)

JobSpec = tuple[str, str, dict[str, Any]]


def paper(paper_id: str, step: str) -> JobSpec:
    return PAPER_PROCESSING, step, {"paper_id": paper_id}


def email(to: str, template: str, context: Mapping[str, Any] | None, priority: str) -> JobSpec:
    return (
        EMAIL_NOTIFICATIONS,
        template,
        {"to": to, "context": dict(context or {}), "priority": priority},
    )


def batch(
    template: str,
    recipients: Sequence[str | Mapping[str, Any]],
    context: Mapping[str, Any] | None,
    rate_per_second: float | None,
) -> JobSpec:
    people = [{"to": r} if isinstance(r, str) else dict(r) for r in recipients]
    data: dict[str, Any] = {
        "template": template,
        "recipients": people,
        "context": dict(context or {}),
    }
    if rate_per_second is not None:
        data["rate_per_second"] = rate_per_second
    return EMAIL_NOTIFICATIONS, "send_batch", data


def experiment(experiment_id: str, step: str, user_id: str | None) -> JobSpec:
    data: dict[str, Any] = {"experiment_id": experiment_id}
    if user_id:
        data["user_id"] = user_id
    return EXPERIMENT_DATA, step, data


def export(kind: str, format: str, email_to: str | None) -> JobSpec:
    data: dict[str, Any] = {"format": format}
    if email_to:
        data["email_to"] = email_to
    return DATA_EXPORT, kind, data


def training(kind: str, hyperparameters: Mapping[str, Any] | None) -> JobSpec:
    return (
        ML_TRAINING,
        kind,
        {"hyperparameters": dict(hyperparameters)} if hyperparameters else {},
    )


def cleanup(task: str, settings: Mapping[str, Any] | None) -> JobSpec:
    return DATABASE_CLEANUP, task, dict(settings or {})
