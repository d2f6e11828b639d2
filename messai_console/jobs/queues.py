"""The catalog's queues: their names, and the order people see them in.

Import the names from here (job types, creators, the demo, the screenshots)
rather than writing the strings again.
"""

from __future__ import annotations

__all__ = [
    "DATABASE_CLEANUP",
    "DATA_EXPORT",
    "EMAIL_NOTIFICATIONS",
    "EXPERIMENT_DATA",
    "ML_TRAINING",
    "PAPER_PROCESSING",
    "QUEUE_ORDER",
    "SCHEDULED_TASKS",
]

PAPER_PROCESSING = "paper-processing"
EXPERIMENT_DATA = "experiment-data"
EMAIL_NOTIFICATIONS = "email-notifications"
DATA_EXPORT = "data-export"
ML_TRAINING = "ml-training"
DATABASE_CLEANUP = "database-cleanup"
SCHEDULED_TASKS = "scheduled-tasks"

QUEUE_ORDER: tuple[str, ...] = (
    PAPER_PROCESSING,
    EXPERIMENT_DATA,
    EMAIL_NOTIFICATIONS,
    DATA_EXPORT,
    ML_TRAINING,
    DATABASE_CLEANUP,
    SCHEDULED_TASKS,
)
"""Every built-in queue, in the order they are listed; queues added later follow."""
