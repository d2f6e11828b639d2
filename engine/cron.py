"""When a schedule fires next: cron expressions in a time zone, or every N ms.

Cron fields are matched against local wall-clock time with croniter on
*naive* datetimes (croniter has known daylight-saving bugs with aware
ones); this module maps each matching wall time to real instants itself,
following Debian cron's rules:

- a fixed-time entry (no ``*`` in its minute and hour fields, e.g.
  ``30 2 * * *``) whose time falls in the spring-forward gap runs once, at
  the first valid minute after the gap; in the repeated fall-back hour it
  runs once, at the first occurrence;
- a wildcard or step entry (``*/15 * * * *``, ``0 * * * *``) does not run
  for wall times that do not exist, and runs in both copies of a repeated
  hour.

A six-field expression puts seconds first (``*/10 * * * * *``: every ten
seconds). Its other five fields pick minutes by the rules above, and each
chosen minute fires at the listed seconds past it: a fixed-time minute in
the spring-forward gap (``15 30 2 * * *``) moves, with its seconds, to the
first valid minute after the gap (03:00:15), and is not repeated in a
fall-back hour. Daylight-saving transitions fall on whole minutes, so a
second never crosses one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

_SCAN_BACK = timedelta(hours=4)
"""Wall times this far before the reference are checked too: a gap or fold
can map an earlier wall time to a later instant."""
_MAX_CANDIDATES = 2000
_MINUTE = timedelta(minutes=1)


class InvalidScheduleError(ValueError):
    """A cron expression, time zone or interval that cannot be used."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidScheduleError(f"unknown time zone {name!r}") from None


def validate_cron(expression: str) -> str:
    """The expression, if croniter accepts it and it has five fields (or six, seconds first)."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise InvalidScheduleError(
            f"cron expression {expression!r} must have 5 fields (minute hour day month weekday)"
            " or 6 (second minute hour day month weekday)"
        )
    # croniter reads seconds from a sixth field at the end
    if not croniter.is_valid(" ".join(fields[1:] + fields[:1]) if len(fields) == 6 else expression):
        raise InvalidScheduleError(f"invalid cron expression {expression!r}")
    return expression


def split_seconds(expression: str) -> tuple[str, tuple[int, ...] | None]:
    """The five minute-level fields, and the seconds of a six-field expression (None for five)."""
    fields = validate_cron(expression).split()
    if len(fields) == 5:
        return expression, None
    minute_level = " ".join(fields[1:])
    seconds_field = croniter.expand(f"{minute_level} {fields[0]}")[0][5]
    seconds = range(60) if seconds_field == ["*"] else (int(value) for value in seconds_field)
    return minute_level, tuple(sorted(set(seconds)))


def is_fixed_time(expression: str) -> bool:
    """Debian cron's test: minute and hour fields without a ``*``."""
    minute, hour = split_seconds(expression)[0].split()[:2]
    return "*" not in minute and "*" not in hour


def _instants(wall: datetime, tz: ZoneInfo, fixed: bool) -> list[datetime]:
    """The UTC instants at which a matching local wall time fires."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
    if first_utc == second_utc:
        return [first_utc]
    exists = first_utc.astimezone(tz).replace(tzinfo=None) == wall
    if exists:  # the repeated hour of a fall-back transition
        return [first_utc] if fixed else sorted([first_utc, second_utc])
    if not fixed:  # a wall time in the spring-forward gap: skipped
        return []
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        local = probe.replace(tzinfo=tz, fold=0)
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == probe:
            return [local.astimezone(UTC)]
    return []


def next_cron_fire(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first instant strictly after ``after`` (aware) at which ``expression`` fires in ``tz_name``."""
    minute_level, seconds = split_seconds(expression)
    if seconds is None:
        return _next_minute_fire(expression, tz_name, after)
    after_utc = after.astimezone(UTC)
    # the minute that holds `after` may still have seconds to fire; the one
    # after it fires at least once later than `after`
    cursor = after_utc - _MINUTE
    while True:
        minute = _next_minute_fire(minute_level, tz_name, cursor)
        for second in seconds:
            if minute + timedelta(seconds=second) > after_utc:
                return minute + timedelta(seconds=second)
        cursor = minute


def _next_minute_fire(expression: str, tz_name: str, after: datetime) -> datetime:
    tz = zone(tz_name)
    fixed = is_fixed_time(expression)
    after_utc = after.astimezone(UTC)
    start_wall = (after_utc.astimezone(tz) - _SCAN_BACK).replace(tzinfo=None)
    try:
        walls = croniter(expression, start_wall)
        best: datetime | None = None
        for _ in range(_MAX_CANDIDATES):
            wall = walls.get_next(datetime)
            for instant in _instants(wall, tz, fixed):
                if instant > after_utc and (best is None or instant < best):
                    best = instant
            # wall times only map up to a few hours later than themselves
            if best is not None and wall.replace(tzinfo=tz).astimezone(UTC) - _SCAN_BACK > best:
                return best
    except (CroniterBadCronError, CroniterBadDateError) as exc:
        raise InvalidScheduleError(f"cron expression {expression!r}: {exc}") from None
    if best is None:
        raise InvalidScheduleError(f"cron expression {expression!r} never fires")
    return best


def previous_cron_fire(
    expression: str, tz_name: str, before: datetime, after: datetime
) -> datetime | None:
    """The latest fire time in (``after``, ``before``], or None: used to fire
    once for the latest tick missed while no scheduler ran."""
    minute_level, seconds = split_seconds(expression)
    if seconds is None:
        return _previous_minute_fire(expression, tz_name, before, after)
    before_utc, after_utc = before.astimezone(UTC), after.astimezone(UTC)
    cursor = before_utc
    # at most twice: a minute before the latest one fires wholly before `before`
    while minute := _previous_minute_fire(minute_level, tz_name, cursor, after_utc - _MINUTE):
        fitting = [
            minute + timedelta(seconds=second)
            for second in seconds
            if after_utc < minute + timedelta(seconds=second) <= before_utc
        ]
        if fitting:
            return fitting[-1]
        if minute + timedelta(seconds=seconds[0]) <= before_utc:
            return None  # its seconds are all at or before `after`, so are earlier minutes'
        cursor = minute - timedelta(microseconds=1)
    return None


def _previous_minute_fire(
    expression: str, tz_name: str, before: datetime, after: datetime
) -> datetime | None:
    tz = zone(tz_name)
    fixed = is_fixed_time(expression)
    before_utc, after_utc = before.astimezone(UTC), after.astimezone(UTC)
    start_wall = (before_utc.astimezone(tz) + _SCAN_BACK).replace(tzinfo=None)
    walls = croniter(expression, start_wall)
    best: datetime | None = None
    for _ in range(_MAX_CANDIDATES):
        wall = walls.get_prev(datetime)
        for instant in _instants(wall, tz, fixed):
            if after_utc < instant <= before_utc and (best is None or instant > best):
                best = instant
        if wall.replace(tzinfo=tz).astimezone(UTC) + _SCAN_BACK < (best or after_utc):
            break
    return best


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)
