"""The MESSAI platform's scheduled tasks, kept as schedules in Redis.

``INIT_SCHEDULED_JOBS`` (default true) upserts them whenever a worker or a
scheduler starts; ``MESSAI_TIMEZONE`` (default UTC) is the time zone their
cron expressions are read in. Upserting replaces a schedule of the same
name, so changing a time here never leaves the old one firing too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from engine.cron import zone
from engine.schedules import ScheduleInfo, Schedules, ScheduleSpec, parse_spec
from messai_console.jobs.queues import SCHEDULED_TASKS as QUEUE
from messai_console.settings import settings


@dataclass(frozen=True)
class ScheduledTask:
    name: str
    cron: str
    description: str
    data: dict[str, Any]


SCHEDULED_TASKS: tuple[ScheduledTask, ...] = (
    ScheduledTask("daily_report", "0 6 * * *", "every day at 06:00", {"email_admins": True}),
    ScheduledTask("weekly_digest", "0 7 * * 1", "Mondays at 07:00", {"email_users": True}),
    ScheduledTask("monthly_analytics", "0 5 1 * *", "the 1st of each month at 05:00", {"days": 30}),
    ScheduledTask("system_health_check", "0 * * * *", "every hour", {}),
)


def specs(timezone: str) -> list[ScheduleSpec]:
    """The schedules of the platform's tasks in ``timezone``."""
    zone(timezone)
    return [
        parse_spec(
            name=task.name, queue=QUEUE, job=task.name, data=task.data, cron=task.cron, tz=timezone
        )
        for task in SCHEDULED_TASKS
    ]


async def init_scheduled_jobs(
    redis: Redis, prefix: str, timezone: str | None = None
) -> list[tuple[str, str]]:
    """Upsert every scheduled task; returns (name, "created" | "updated")."""
    schedules = Schedules(redis, prefix)
    tz = timezone or settings().schedules.messai_timezone
    return [(spec.name, await schedules.upsert(spec)) for spec in specs(tz)]


async def list_scheduled_jobs(redis: Redis, prefix: str) -> list[ScheduleInfo]:
    names = {task.name for task in SCHEDULED_TASKS}
    return [info for info in await Schedules(redis, prefix).list() if info.spec.name in names]


async def clean_scheduled_jobs(redis: Redis, prefix: str) -> list[str]:
    """Remove the platform's scheduled tasks (not other schedules); returns the names removed."""
    schedules = Schedules(redis, prefix)
    return [task.name for task in SCHEDULED_TASKS if await schedules.remove(task.name)]


async def init_if_enabled(redis: Redis, prefix: str) -> list[tuple[str, str]]:
    """What workers and schedulers call at start."""
    schedules = settings().schedules
    if not schedules.init_scheduled_jobs:
        return []
    return await init_scheduled_jobs(redis, prefix, schedules.messai_timezone)
