"""Next fire times across real daylight-saving transitions, in several zones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.cron import InvalidScheduleError, next_cron_fire, previous_cron_fire


def fires(expression: str, tz: str, start_local: str, count: int) -> list[str]:
    """``count`` consecutive fire times after a local start, shown as local ISO times with offsets."""
    zone = ZoneInfo(tz)
    cursor = datetime.fromisoformat(start_local).replace(tzinfo=zone)
    result = []
    for _ in range(count):
        cursor = next_cron_fire(expression, tz, cursor)
        result.append(cursor.astimezone(zone).isoformat())
    return result


def test_berlin_daily_0230_on_spring_forward_day_fires_once_at_0300() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist
    assert fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00", 3) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_berlin_daily_0230_on_fall_back_day_fires_once_at_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    assert fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00", 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_wildcard_schedules_run_in_both_copies_of_the_repeated_hour() -> None:
    assert fires("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:45", 5) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_wildcard_schedules_skip_wall_times_that_do_not_exist() -> None:
    assert fires("*/30 * * * *", "Europe/Berlin", "2026-03-29T01:15", 3) == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_hourly_in_new_york_across_both_transitions() -> None:
    spring = fires("0 * * * *", "America/New_York", "2026-03-08T00:30", 3)
    assert spring == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T04:00:00-04:00",
    ]
    autumn = fires("0 * * * *", "America/New_York", "2026-11-01T00:30", 3)
    assert autumn == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_fixed_time_in_a_half_hour_gap_lord_howe() -> None:
    # 2026-10-04: Lord Howe moves from +10:30 to +11:00 at 02:00; 02:15 does not exist
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", 2) == [
        "2026-10-04T02:30:00+11:00",
        "2026-10-05T02:15:00+11:00",
    ]


def test_fixed_times_inside_the_gap_collapse_to_one_fire() -> None:
    assert fires("0,15,45 2 * * *", "Europe/Berlin", "2026-03-29T00:00", 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_utc_and_every_day_of_a_year_is_monotonic() -> None:
    cursor = datetime(2026, 1, 1, tzinfo=UTC)
    seen = []
    for _ in range(365):
        cursor = next_cron_fire("30 2 * * *", "Europe/Berlin", cursor)
        seen.append(cursor)
    assert all(b - a >= timedelta(hours=22) for a, b in itertools.pairwise(seen))
    assert len({instant.astimezone(ZoneInfo("Europe/Berlin")).date() for instant in seen}) == 365


def test_previous_fire_for_missed_ticks() -> None:
    tz = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 5, 10, 14, 7, tzinfo=tz)
    after = datetime(2026, 5, 9, 0, 0, tzinfo=tz)
    latest = previous_cron_fire("0 * * * *", "Europe/Berlin", before, after)
    assert latest == datetime(2026, 5, 10, 14, 0, tzinfo=tz)
    assert previous_cron_fire("0 3 1 1 *", "Europe/Berlin", before, after) is None


@pytest.mark.parametrize(
    ("expression", "tz"),
    [("61 * * * *", "UTC"), ("* * *", "UTC"), ("0 2 * * *", "Mars/Olympus"), ("not a cron", "UTC")],
)
def test_invalid_schedules_are_refused(expression: str, tz: str) -> None:
    with pytest.raises(InvalidScheduleError):
        next_cron_fire(expression, tz, datetime(2026, 1, 1, tzinfo=UTC))


# six fields: seconds first


def test_seconds_field_fires_within_each_minute() -> None:
    assert fires("*/20 * * * * *", "UTC", "2026-01-01T10:00:00", 4) == [
        "2026-01-01T10:00:20+00:00",
        "2026-01-01T10:00:40+00:00",
        "2026-01-01T10:01:00+00:00",
        "2026-01-01T10:01:20+00:00",
    ]
    assert fires("5,50 30 9 * * *", "UTC", "2026-01-01T09:30:05", 2) == [
        "2026-01-01T09:30:50+00:00",
        "2026-01-02T09:30:05+00:00",
    ]


def test_fixed_time_with_seconds_in_the_spring_forward_gap_moves_with_its_seconds() -> None:
    assert fires("15 30 2 * * *", "Europe/Berlin", "2026-03-28T12:00", 2) == [
        "2026-03-29T03:00:15+02:00",
        "2026-03-30T02:30:15+02:00",
    ]
    assert fires("0 0 2 * * *", "America/New_York", "2026-03-07T12:00", 2) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:00:00-04:00",
    ]


def test_fixed_time_with_seconds_in_the_fall_back_hour_fires_once() -> None:
    assert fires("15 30 2 * * *", "Europe/Berlin", "2026-10-24T12:00", 2) == [
        "2026-10-25T02:30:15+02:00",
        "2026-10-26T02:30:15+01:00",
    ]
    assert fires("5 30 1 * * *", "America/New_York", "2026-10-31T12:00", 2) == [
        "2026-11-01T01:30:05-04:00",
        "2026-11-02T01:30:05-05:00",
    ]


def test_wildcard_with_seconds_runs_in_both_copies_of_the_repeated_hour() -> None:
    assert fires("0,30 */30 * * * *", "Europe/Berlin", "2026-10-25T02:29:50", 5) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:30+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:00:30+01:00",
        "2026-10-25T02:30:00+01:00",
    ]
    # every second: the second after 02:59:59 CEST is 02:00:00 CET
    assert fires("* * * * * *", "Europe/Berlin", "2026-10-25T02:59:58", 2) == [
        "2026-10-25T02:59:59+02:00",
        "2026-10-25T02:00:00+01:00",
    ]


def test_wildcard_with_seconds_skips_the_spring_forward_gap() -> None:
    assert fires("30 */30 * * * *", "Europe/Berlin", "2026-03-29T01:15", 3) == [
        "2026-03-29T01:30:30+01:00",
        "2026-03-29T03:00:30+02:00",
        "2026-03-29T03:30:30+02:00",
    ]
    assert fires("* * * * * *", "America/New_York", "2026-03-08T01:59:58", 2) == [
        "2026-03-08T01:59:59-05:00",
        "2026-03-08T03:00:00-04:00",
    ]


def test_previous_fire_with_seconds() -> None:
    tz = ZoneInfo("Europe/Berlin")
    at = datetime(2026, 5, 10, 14, 7, 5, tzinfo=tz)
    assert previous_cron_fire("*/10 * * * * *", "Europe/Berlin", at, at - timedelta(hours=1)) == (
        datetime(2026, 5, 10, 14, 7, 0, tzinfo=tz)
    )
    # the latest minute fires after `before`: the minute before it answers
    assert previous_cron_fire("50 * * * * *", "Europe/Berlin", at, at - timedelta(hours=1)) == (
        datetime(2026, 5, 10, 14, 6, 50, tzinfo=tz)
    )
    assert (
        previous_cron_fire("50 * * * * *", "Europe/Berlin", at, at - timedelta(seconds=10)) is None
    )
    # in the repeated hour, the second copy of 02:30:15 is the latest for a wildcard
    before = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=tz)
    latest = previous_cron_fire(
        "15 30 * * * *", "Europe/Berlin", before, before - timedelta(hours=3)
    )
    assert latest is not None and latest.astimezone(tz).isoformat() == "2026-10-25T02:30:15+01:00"


@pytest.mark.parametrize(
    "expression", ["61 * * * * *", "* * * * * * *", "*/0 * * * * *", "0 61 * * * *"]
)
def test_invalid_six_field_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidScheduleError):
        next_cron_fire(expression, "UTC", datetime(2026, 1, 1, tzinfo=UTC))
