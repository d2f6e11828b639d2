"""``scheduled-tasks``: the platform's periodic reports and its health check
(the scheduler enqueues them; they can also be run by hand).

- ``daily_report``: the last day's papers, experiments, parameters and
  emails from the store, and jobs completed and failed per queue from the
  engine's metrics; a Markdown file, optionally emailed to the admins.
- ``weekly_digest``: the week's new papers with keywords, the highest power
  densities reported, and the experiments analysed; emailed to every user.
- ``monthly_analytics``: per parameter and system type, count, min, median
  and max; mean experiment metrics; a JSON and a Markdown file.
- ``system_health_check``: Redis latency, memory and eviction policy,
  backlogs, failure rates, stalled jobs and silent workers against
  thresholds; an ``error_notification`` email to the admins when one is crossed.
"""

from __future__ import annotations

import asyncio
import json
import statistics as stats
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import Field
from redis.asyncio import Redis

from engine.keys import QueueKeys
from engine.metrics import MetricsWindow, read_metrics
from engine.monitor import list_workers, queue_stats, server_info, server_time_ms
from engine.queue import list_queues
from messai_console.jobs.catalog import Payload, catalog, job_type
from messai_console.jobs.queues import SCHEDULED_TASKS
from messai_console.jobs.runtime import Task

QUEUE = SCHEDULED_TASKS
REPORT_OPTIONS: dict[str, Any] = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay_ms": 10_000},
}
DAY_S = 86_400.0


class DailyReport(Payload):
    email_admins: bool = False


class WeeklyDigest(Payload):
    email_users: bool = True


class MonthlyAnalytics(Payload):
    days: int = Field(default=30, ge=1, le=366)
    email_admins: bool = False


class HealthThresholds(Payload):
    max_latency_ms: float = Field(default=50.0, gt=0)
    max_memory_pct: float = Field(default=90.0, gt=0, le=100)
    max_backlog: int = Field(default=10_000, ge=0)
    """Waiting jobs per queue."""
    max_failure_rate: float = Field(default=0.25, ge=0, le=1)
    min_finished_for_rate: int = Field(default=20, ge=1)
    """Jobs finished in the last hour before a queue's failure rate counts."""
    max_stalled: int = Field(default=0, ge=0)
    """Active jobs whose lease ran out (their worker is gone or hung)."""
    max_silent_workers: int = Field(default=0, ge=0)
    require_noeviction: bool = True


class SystemHealthCheck(Payload):
    thresholds: HealthThresholds = Field(default_factory=HealthThresholds)
    notify: bool = True
    """Email the admins (ADMIN_EMAILS) when a threshold is crossed."""


async def job_totals(redis: Redis, prefix: str, window: MetricsWindow) -> dict[str, dict[str, int]]:
    """Completed and failed jobs per queue over the window, from the engine's metrics."""
    totals = {}
    for name in await list_queues(redis, prefix):
        points = await read_metrics(redis, QueueKeys(name, prefix), window)
        totals[name] = {
            "completed": sum(p["completed"] for p in points),
            "failed": sum(p["failed"] for p in points),
        }
    return totals


def _record(task: Task[Any], kind: str, path: Path, summary: dict[str, Any]) -> None:
    now = time.time()
    report_id = f"{kind}-{path.stem}"
    task.store.upsert(
        "reports",
        {
            "id": report_id,
            "kind": kind,
            "subject": "platform",
            "path": str(path),
            "format": path.suffix.lstrip("."),
            "summary": summary,
            "created_at": now,
        },
    )
    task.store.upsert(
        "files",
        {
            "id": f"file-{report_id}-{path.suffix.lstrip('.')}",
            "kind": "report",
            "path": str(path),
            "size": path.stat().st_size,
            "ref": kind,
            "created_at": now,
        },
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _email(
    task: Task[Any],
    recipients: list[str],
    title: str,
    summary: dict[str, Any],
    lines: list[str],
    path: Path,
) -> None:
    for recipient in recipients:
        task.then(
            "email-notifications",
            "report",
            {
                "to": recipient,
                "context": {
                    "title": title,
                    "summary": summary,
                    "lines": lines[:50],
                    "path": str(path),
                },
            },
        )


def _daily(task: Task[DailyReport], jobs: dict[str, dict[str, int]]) -> dict[str, Any]:
    store = task.store
    end = time.time()
    start = end - DAY_S
    summary = {
        "papers_added": store.count("papers", created_after=start),
        "papers_total": store.count("papers"),
        "papers_analyzed": store.count("papers", {"status": "analyzed"}),
        "experiments_added": store.count("experiments", created_after=start),
        "experiments_reported": store.count("experiments", {"status": "reported"}),
        "parameters_extracted": store.count("parameters", created_after=start),
        "emails_sent": store.count("email_log", created_after=start),
        "jobs_completed": sum(v["completed"] for v in jobs.values()),
        "jobs_failed": sum(v["failed"] for v in jobs.values()),
    }
    day = time.strftime("%Y-%m-%d", time.localtime(end))
    lines = [f"# Daily report {day}", "", "| measure | value |", "|---|---:|"]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in summary.items()]
    lines += [
        "",
        "## Jobs per queue (last 24 h)",
        "",
        "| queue | completed | failed |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {v['completed']} | {v['failed']} |" for name, v in sorted(jobs.items())]
    path = _write(task.paths.reports / f"daily-{day}.md", "\n".join(lines) + "\n")
    _record(task, "daily_report", path, summary)
    if task.payload.email_admins:
        _email(task, task.services.mail.admins, f"daily report {day}", summary, [], path)
    return {"path": str(path), **summary}


@job_type(queue=QUEUE, name="daily_report", payload=DailyReport, options=REPORT_OPTIONS)
async def daily_report(task: Task[DailyReport]) -> dict[str, Any]:
    """The last 24 hours on the platform and in the queues."""
    async with task.services.redis_client() as redis:
        jobs = await job_totals(redis, task.services.prefix, "day")
    return await asyncio.to_thread(_daily, task, jobs)


@job_type(queue=QUEUE, name="weekly_digest", payload=WeeklyDigest, options=REPORT_OPTIONS)
def weekly_digest(task: Task[WeeklyDigest]) -> dict[str, Any]:
    """New papers, top reported power densities and analysed experiments of the week."""
    store = task.store
    start = time.time() - 7 * DAY_S
    titles = {paper["id"]: paper["title"] for paper in store.rows("papers")}
    papers = store.rows("papers", created_after=start, order_by=("-created_at",))
    densities = sorted(
        (
            p
            for p in store.rows("parameters", {"name": "power_density"})
            if p["value_si"] is not None
        ),
        key=lambda p: p["value_si"],
        reverse=True,
    )[:5]
    experiments = [
        e
        for e in store.rows("experiments", order_by=("-updated_at",))
        if e.get("metrics") and (e["updated_at"] or 0) >= start
    ]
    lines = []
    for paper in papers:
        keywords = ", ".join(
            item["term"] for item in (paper.get("analysis") or {}).get("keywords", [])[:5]
        )
        lines.append(f"New paper: {paper['title']}" + (f" ({keywords})" if keywords else ""))
    for parameter in densities:
        lines.append(
            f"Power density {parameter['value']:g} {parameter['unit']} in {titles.get(parameter['paper_id'], parameter['paper_id'])}"
        )
    for experiment in experiments:
        best = experiment["metrics"].get("max_power_density_mw_m2")
        lines.append(f"Experiment {experiment['name']}: max power density {best} mW/m²")
    summary = {
        "new_papers": len(papers),
        "experiments_analyzed": len(experiments),
        "top_power_density_mw_m2": densities[0]["value_si"] if densities else None,
    }
    week = time.strftime("%G-W%V")
    text = "\n".join([f"# Weekly digest {week}", "", *(f"- {line}" for line in lines)]) + "\n"
    path = _write(task.paths.reports / f"digest-{week}.md", text)
    _record(task, "weekly_digest", path, summary)
    if task.payload.email_users:
        _email(
            task,
            [user["email"] for user in store.rows("users")],
            f"weekly digest {week}",
            summary,
            lines,
            path,
        )
    return {"path": str(path), **summary, "lines": len(lines)}


def _distribution(values: list[float]) -> dict[str, float | int]:
    return {
        "count": len(values),
        "min": min(values),
        "median": stats.median(values),
        "max": max(values),
    }


def _monthly(task: Task[MonthlyAnalytics], jobs: dict[str, dict[str, int]]) -> dict[str, Any]:
    store = task.store
    start = time.time() - task.payload.days * DAY_S
    system_of = {paper["id"]: paper["system_type"] or "unknown" for paper in store.rows("papers")}
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for parameter in store.rows("parameters", created_after=start):
        if parameter["value_si"] is not None:
            grouped[parameter["name"]][system_of.get(parameter["paper_id"], "unknown")].append(
                parameter["value_si"]
            )
    parameters = {
        name: {system: _distribution(values) for system, values in sorted(by_system.items())}
        for name, by_system in sorted(grouped.items())
    }
    metric_values: dict[str, list[float]] = defaultdict(list)
    for experiment in store.rows("experiments"):
        for key, value in (experiment.get("metrics") or {}).items():
            if isinstance(value, int | float) and key != "samples":
                metric_values[key].append(float(value))
    experiments = {
        key: round(stats.fmean(values), 4) for key, values in sorted(metric_values.items())
    }
    document = {
        "days": task.payload.days,
        "parameters": parameters,
        "experiment_means": experiments,
        "jobs_last_week": jobs,
    }
    month = time.strftime("%Y-%m")
    json_path = _write(
        task.paths.reports / f"analytics-{month}.json",
        json.dumps(document, indent=1, sort_keys=True),
    )
    lines = [
        f"# Analytics, last {task.payload.days} days ({month})",
        "",
        "## Reported parameters",
        "",
        "| parameter | system | count | min | median | max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, by_system in parameters.items():
        lines += [
            f"| {name} | {system} | {d['count']} | {d['min']:g} | {d['median']:g} | {d['max']:g} |"
            for system, d in by_system.items()
        ]
    lines += ["", "## Mean experiment metrics", "", "| metric | mean |", "|---|---:|"]
    lines += [f"| {key} | {value:g} |" for key, value in experiments.items()]
    markdown = _write(task.paths.reports / f"analytics-{month}.md", "\n".join(lines) + "\n")
    summary = {
        "parameters": sum(d["count"] for by in parameters.values() for d in by.values()),
        "experiments": store.count("experiments"),
    }
    _record(task, "monthly_analytics", json_path, summary)
    _record(task, "monthly_analytics", markdown, summary)
    if task.payload.email_admins:
        _email(task, task.services.mail.admins, f"analytics {month}", summary, [], markdown)
    return {"json": str(json_path), "markdown": str(markdown), **summary}


@job_type(queue=QUEUE, name="monthly_analytics", payload=MonthlyAnalytics, options=REPORT_OPTIONS)
async def monthly_analytics(task: Task[MonthlyAnalytics]) -> dict[str, Any]:
    """Distributions of reported parameters by system type, and mean experiment metrics."""
    async with task.services.redis_client() as redis:
        jobs = await job_totals(redis, task.services.prefix, "week")
    return await asyncio.to_thread(_monthly, task, jobs)


async def health_checks(
    redis: Redis, prefix: str, limits: HealthThresholds
) -> list[dict[str, Any]]:
    """Every check with its value, threshold and verdict."""
    checks: list[dict[str, Any]] = []

    def check(name: str, value: Any, threshold: Any, ok: bool, queue: str | None = None) -> None:
        entry = {"check": name, "value": value, "threshold": threshold, "ok": ok}
        if queue:
            entry["queue"] = queue
        checks.append(entry)

    samples = []
    for _ in range(5):
        started = time.perf_counter()
        await redis.ping()
        samples.append((time.perf_counter() - started) * 1000)
    latency = round(stats.median(samples), 3)
    check("redis_latency_ms", latency, limits.max_latency_ms, latency <= limits.max_latency_ms)
    info = await server_info(redis)
    if info["maxmemory"]:
        used = round(100 * info["used_memory"] / info["maxmemory"], 2)
        check("redis_memory_pct", used, limits.max_memory_pct, used <= limits.max_memory_pct)
    if limits.require_noeviction:
        policy = info["maxmemory_policy"]
        check("redis_eviction_policy", policy, "noeviction", policy == "noeviction")
    names = sorted(set(await list_queues(redis, prefix)) | set(catalog.queues()))
    counts = await queue_stats(redis, names, prefix)
    now_ms = await server_time_ms(redis)
    for name in names:
        waiting = counts[name]["waiting"]
        check("backlog", waiting, limits.max_backlog, waiting <= limits.max_backlog, name)
        points = await read_metrics(redis, QueueKeys(name, prefix), "hour", now_ms)
        completed = sum(p["completed"] for p in points)
        failed = sum(p["failed"] for p in points)
        if completed + failed >= limits.min_finished_for_rate:
            rate = round(failed / (completed + failed), 4)
            check(
                "failure_rate", rate, limits.max_failure_rate, rate <= limits.max_failure_rate, name
            )
        stalled = int(await redis.zcount(QueueKeys(name, prefix).active, "-inf", now_ms - 1))
        check("stalled_jobs", stalled, limits.max_stalled, stalled <= limits.max_stalled, name)
    workers = await list_workers(redis, prefix)
    silent = [w.id for w in workers if w.is_silent(now_ms)]
    check(
        "silent_workers",
        len(silent),
        limits.max_silent_workers,
        len(silent) <= limits.max_silent_workers,
    )
    return checks


@job_type(
    queue=QUEUE, name="system_health_check", payload=SystemHealthCheck, options={"attempts": 1}
)
async def system_health_check(task: Task[SystemHealthCheck]) -> dict[str, Any]:
    """Check Redis and the queues against thresholds; alert the admins when one is crossed."""
    async with task.services.redis_client() as redis:
        checks = await health_checks(redis, task.services.prefix, task.payload.thresholds)
    failed = [c for c in checks if not c["ok"]]
    admins = task.services.mail.admins
    if failed and task.payload.notify:
        if not admins:
            await task.log("thresholds crossed but ADMIN_EMAILS is empty: no alert sent")
        lines = [
            f"{c['check']}{' on ' + c['queue'] if 'queue' in c else ''}: {c['value']} (threshold {c['threshold']})"
            for c in failed
        ]
        for admin in admins:
            task.then(
                "email-notifications",
                "error_notification",
                {
                    "to": admin,
                    "priority": "high",
                    "context": {
                        "subject": f"{len(failed)} health check(s) failed",
                        "message": "\n".join(lines),
                        "details": {
                            f"{c['check']}:{c.get('queue', '')}".rstrip(":"): c["value"]
                            for c in failed
                        },
                    },
                },
            )
    return {
        "ok": not failed,
        "failed": len(failed),
        "checks": checks,
        "alerted": admins if failed and task.payload.notify else [],
    }
