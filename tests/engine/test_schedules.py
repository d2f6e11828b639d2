"""Schedules in Redis: upsert, exactly-once firing across instances, DST, missed ticks."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio

from engine import Queue
from engine.cron import InvalidScheduleError, ms
from engine.schedules import Scheduler, Schedules, due_key, parse_spec
from tests.helpers import await_until

ROOT = Path(__file__).resolve().parents[2]


async def test_upsert_list_and_remove(redis_client: redis.asyncio.Redis) -> None:
    schedules = Schedules(redis_client)
    spec = parse_spec(
        name="daily_report",
        queue="scheduled-tasks",
        job="echo",
        cron="0 6 * * *",
        tz="Europe/Berlin",
    )
    assert await schedules.upsert(spec) == "created"
    assert await schedules.upsert(spec) == "updated"
    [info] = await schedules.list()
    assert info.spec.name == "daily_report" and info.count == 0 and info.next_ms is not None
    described = info.to_dict()
    assert described["next_fire"]["local"].endswith(("+01:00", "+02:00"))
    assert described["next_fire"]["local"][11:16] == "06:00"
    assert await schedules.remove("daily_report")
    assert await schedules.list() == []
    assert not await schedules.remove("daily_report")


@pytest.mark.parametrize(
    "fields",
    [
        {"cron": "61 * * * *"},
        {"cron": "0 6 * * *", "tz": "Nowhere/Special"},
        {},
        {"cron": "0 6 * * *", "every_ms": 1000},
        {"every_ms": 10},
    ],
)
def test_invalid_schedules_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidScheduleError, match="invalid schedule"):
        parse_spec(name="bad", queue="q", job="echo", **fields)


async def test_two_schedulers_fire_each_tick_once(redis_client: redis.asyncio.Redis) -> None:
    schedules = Schedules(redis_client)
    await schedules.upsert(
        parse_spec(name="fast", queue="ticks", job="noop", every_ms=200, limit=5)
    )
    first, second = Scheduler(redis_client, poll_s=0.02), Scheduler(redis_client, poll_s=0.02)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    queue = Queue("ticks", redis_client)
    await await_until(lambda: _waiting(queue, 5), timeout=10)
    info = await schedules.get("fast")
    assert info is not None and info.count == 5 and info.ended and info.next_ms is None
    first.request_stop()
    second.request_stop()
    await asyncio.gather(*tasks)
    assert first.fired + second.fired == 5
    jobs = await queue.get_jobs("waiting", 0, -1)
    ticks = sorted(int(job.id.rsplit(":", 1)[1]) for job in jobs)
    assert all(b - a == 200 for a, b in itertools.pairwise(ticks))


async def _waiting(queue: Queue, count: int) -> bool:
    return (await queue.counts())["waiting"] >= count


async def test_changing_a_schedule_never_leaves_the_old_one_firing(
    redis_client: redis.asyncio.Redis,
) -> None:
    schedules = Schedules(redis_client)
    spec = parse_spec(
        name="report", queue="old-queue", job="noop", every_ms=100_000, immediately=True
    )
    await schedules.upsert(spec)
    await schedules.upsert(
        parse_spec(name="report", queue="new-queue", job="noop", every_ms=100_000, immediately=True)
    )
    await Scheduler(redis_client).tick()
    assert (await Queue("new-queue", redis_client).counts())["waiting"] == 1
    assert not await Queue("old-queue", redis_client).exists()


async def _fire_at(redis_client: redis.asyncio.Redis, name: str, local: str, tz: str) -> list[str]:
    """Put the schedule's next fire at ``local`` and let the scheduler run at that moment."""
    zone = ZoneInfo(tz)
    at = ms(datetime.fromisoformat(local).replace(tzinfo=zone))
    await redis_client.zadd(due_key(), {name: at}, xx=True)
    await Scheduler(redis_client).tick(at_ms=at + 500)
    score = await redis_client.zscore(due_key(), name)
    return (
        [datetime.fromtimestamp(float(score) / 1000, zone).isoformat()] if score is not None else []
    )


async def test_dst_end_to_end_spring_forward_and_fall_back(
    redis_client: redis.asyncio.Redis,
) -> None:
    schedules = Schedules(redis_client)
    await schedules.upsert(
        parse_spec(name="nightly", queue="dst", job="noop", cron="30 2 * * *", tz="Europe/Berlin")
    )
    # spring forward: 02:30 does not exist on 2026-03-29; the tick is at 03:00 and the next is a day later
    assert await _fire_at(redis_client, "nightly", "2026-03-29T03:00", "Europe/Berlin") == [
        "2026-03-30T02:30:00+02:00"
    ]
    # fall back: 02:30 happens twice on 2026-10-25; after the first, the next is the following day
    assert await _fire_at(redis_client, "nightly", "2026-10-25T02:30", "Europe/Berlin") == [
        "2026-10-26T02:30:00+01:00"
    ]
    jobs = await Queue("dst", redis_client).get_jobs("waiting", 0, -1)
    assert len(jobs) == 2


async def test_missed_ticks_fire_once_for_the_latest(redis_client: redis.asyncio.Redis) -> None:
    schedules = Schedules(redis_client)
    await schedules.upsert(parse_spec(name="hourly", queue="missed", job="noop", cron="0 * * * *"))
    now = ms(datetime.now(ZoneInfo("UTC")))
    await redis_client.zadd(
        due_key(), {"hourly": now - 5 * 3_600_000 - 60_000}, xx=True
    )  # five hours behind
    await Scheduler(redis_client).tick()
    jobs = await Queue("missed", redis_client).get_jobs("waiting", 0, -1)
    assert len(jobs) == 1
    fired_at = int(jobs[0].id.rsplit(":", 1)[1])
    assert now - 3_600_000 < fired_at <= now
    info = await schedules.get("hourly")
    assert info is not None and info.next_ms is not None and info.next_ms > now


def _start_scheduler(url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.scheduler_process", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "scheduler running"
    return process


def _close(process: subprocess.Popen[str]) -> None:
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.timeout(90)
async def test_three_scheduler_processes_with_one_killed_fire_every_tick_once(
    redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    schedules = Schedules(redis_client)
    processes = [_start_scheduler(redis_url) for _ in range(3)]
    try:
        spec = parse_spec(name="heartbeat", queue="every-second", job="noop", every_ms=1000)
        await schedules.upsert(spec)
        created = (await schedules.get("heartbeat")).next_ms  # type: ignore[union-attr]
        queue = Queue("every-second", redis_client)
        await await_until(lambda: _waiting(queue, 7), timeout=15)
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        _close(processes[0])
        await await_until(lambda: _waiting(queue, 14), timeout=15)
        processes[0] = _start_scheduler(redis_url)
        await await_until(lambda: _waiting(queue, 21), timeout=15)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=10)
            _close(process)
    info = await schedules.get("heartbeat")
    assert info is not None
    jobs = await queue.get_jobs("waiting", 0, -1)
    ticks = sorted(int(job.id.rsplit(":", 1)[1]) for job in jobs)
    assert len(ticks) == len(set(ticks)) == info.count
    assert ticks[0] == created
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 1000)), "a tick was missed"


async def test_obliterate_removes_the_queues_schedules_so_it_stays_gone(
    redis_client: redis.asyncio.Redis,
) -> None:
    schedules = Schedules(redis_client)
    await schedules.upsert(
        parse_spec(name="feed", queue="doomed", job="noop", every_ms=1000, immediately=True)
    )
    await schedules.upsert(
        parse_spec(name="other", queue="kept", job="noop", every_ms=1000, immediately=True)
    )
    await Scheduler(redis_client).tick()
    doomed = Queue("doomed", redis_client)
    assert await doomed.exists()
    assert await doomed.obliterate() == 1
    assert [info.spec.name for info in await schedules.list()] == ["other"]
    now = ms(datetime.now(ZoneInfo("UTC")))
    await Scheduler(redis_client).tick(at_ms=now + 60_000)
    assert not await doomed.exists()
    assert await Queue("kept", redis_client).exists()


async def test_obliterate_refused_for_running_jobs_keeps_the_schedules(
    redis_client: redis.asyncio.Redis,
) -> None:
    from engine.errors import InvalidStateError
    from engine.keys import QueueKeys

    schedules = Schedules(redis_client)
    await schedules.upsert(parse_spec(name="busy-feed", queue="busy", job="noop", every_ms=1000))
    queue = Queue("busy", redis_client)
    job = await queue.add("noop")
    # a job whose lease is held: what a running worker leaves in `active`
    await redis_client.zrem(QueueKeys("busy").waiting, job.id)
    await redis_client.lrem(QueueKeys("busy").waiting_list, 0, job.id)
    await redis_client.zadd(QueueKeys("busy").active, {job.id: 2**40})
    with pytest.raises(InvalidStateError):
        await queue.obliterate()
    assert await schedules.get("busy-feed") is not None


async def test_a_schedule_that_has_already_ended_is_refused(
    redis_client: redis.asyncio.Redis,
) -> None:
    schedules = Schedules(redis_client)
    now = ms(datetime.now(ZoneInfo("UTC")))
    spec = parse_spec(name="late", queue="q", job="noop", every_ms=1000, end_ms=now - 1000)
    with pytest.raises(InvalidScheduleError, match="has passed"):
        await schedules.upsert(spec)
    assert await schedules.list() == []


async def test_six_field_schedule_fires_on_seconds_across_dst(
    redis_client: redis.asyncio.Redis,
) -> None:
    schedules = Schedules(redis_client)
    await schedules.upsert(
        parse_spec(
            name="precise", queue="dst6", job="noop", cron="15 30 2 * * *", tz="Europe/Berlin"
        )
    )
    assert await _fire_at(redis_client, "precise", "2026-03-29T03:00:15", "Europe/Berlin") == [
        "2026-03-30T02:30:15+02:00"
    ]
    assert await _fire_at(redis_client, "precise", "2026-10-25T02:30:15", "Europe/Berlin") == [
        "2026-10-26T02:30:15+01:00"
    ]
    jobs = await Queue("dst6", redis_client).get_jobs("waiting", 0, -1)
    assert len(jobs) == 2
