"""Job options, validated with pydantic before anything is written."""

from __future__ import annotations

import random
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import InvalidJobError
from engine.keys import job_id_problem

MAX_PRIORITY = 1_048_575
"""Priorities run from 0 (first) to MAX_PRIORITY (last)."""

PRIORITY_BAND = 2**33
"""A waiting job's zset score is ``priority * PRIORITY_BAND + FIFO_BASE +/- seq``
(copied in ``lua/includes/common.lua``): FIFO or LIFO within a priority."""
FIFO_BASE = 2**32
"""The middle of a priority's band: FIFO entries count up from it, LIFO down."""

PRIORITY_NAMES: dict[str, int] = {"high": 1, "normal": 5, "low": 10}
DEFAULT_PRIORITY = PRIORITY_NAMES["normal"]
"""Jobs without a priority run after high (1) and before low (10) ones (copied
in ``lua/includes/common.lua``: the job hash stores only other priorities)."""


BUILTIN_BACKOFFS: tuple[str, ...] = ("fixed", "exponential")
"""Back-off types every worker computes; any other type names a strategy
registered on the worker (see :mod:`engine.backoff`)."""

_BACKOFF_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")


def backoff_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a back-off strategy, or None."""
    if not isinstance(name, str) or not _BACKOFF_NAME.fullmatch(name):
        return "must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or '_'"
    return None


class Backoff(BaseModel):
    """How long to wait before attempt n+1 after attempt n failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = "exponential"
    """fixed, exponential, or the name of a strategy registered on the worker
    (``Worker(backoff_strategies=...)``; see :mod:`engine.backoff`)."""
    delay_ms: Annotated[int, Field(ge=0)] = 1000
    """Base delay: the whole delay for fixed, the first delay for exponential."""
    max_delay_ms: Annotated[int, Field(ge=0)] = 3_600_000
    """Cap on any single delay."""
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Fraction of the delay that is randomised (0.2: delay * [0.8, 1.0])."""

    @field_validator("type")
    @classmethod
    def _known_shape(cls, name: str) -> str:
        problem = backoff_name_problem(name)
        if problem:
            raise ValueError(f"backoff type {name!r} {problem}")
        return name

    def delay_for(self, attempts_made: int, rng: random.Random | None = None) -> int:
        """Delay before the next attempt, after ``attempts_made`` failed (the
        built-in types; a registered strategy computes its own on the worker)."""
        if self.type == "fixed":
            delay = float(self.delay_ms)
        else:
            delay = self.delay_ms * 2.0 ** max(attempts_made - 1, 0)
        delay = min(delay, float(self.max_delay_ms))
        if self.jitter:
            delay -= delay * self.jitter * (rng or random).random()
        return int(delay)


class Keep(BaseModel):
    """Retention of finished jobs: a job is kept while it is one of the ``count``
    newest jobs of its set (completed or failed) and younger than ``age_ms``.

    On a job (``remove_on_complete`` / ``remove_on_fail``) the rule is that
    job's own: the worker's defaults (``keep_completed`` / ``keep_failed``)
    apply only to jobs without one. See ``lua/includes/retention.lua``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=-1)] = -1
    """-1 keeps any number; 0 deletes the job as it finishes."""
    age_ms: Annotated[int, Field(ge=-1)] = -1
    """-1 keeps any age."""

    @property
    def rule(self) -> str:
        """As the scripts take it: ``"<count>:<age_ms>"``."""
        return f"{self.count}:{self.age_ms}"

    def __str__(self) -> str:
        """As :func:`parse_keep` reads it: ``all``, ``100``, ``7d`` or ``100,7d``."""
        if self.count < 0 and self.age_ms < 0:
            return "all"
        parts = [str(self.count)] if self.count >= 0 else []
        if self.age_ms >= 0:
            parts.append(format_age(self.age_ms))
        return ",".join(parts)


MAX_DEDUP_ID_BYTES = 256
"""Longest dedup id, in bytes of UTF-8."""

DedupMode = Literal["plain", "extend", "replace"]


class Dedup(BaseModel):
    """Deduplication: while a job holds ``id``, adding another with the same
    ``id`` adds nothing and returns the job that holds it (event
    ``job:deduplicated``).

    A job holds its dedup id until it ends (completed, failed or removed);
    with ``ttl_ms``, for that long after it was added instead, whether it
    has ended or not (throttling). Modes:

    - ``plain``: a duplicate is dropped.
    - ``extend``: a duplicate is dropped and restarts the TTL (needs ``ttl_ms``).
    - ``replace`` (debounce): a holder that has not started (waiting or
      delayed) is deleted (``job:removed``, reason ``replaced``) and the new
      job is added in its stead: with the same priority and no delay it
      takes the old job's place in the waiting line; otherwise it is queued
      by its own options, its delay counted from now (each new job restarts
      the wait). A holder that has started is kept and the new job dropped.

    Not available for jobs of flows and chains or for schedules.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    ttl_ms: Annotated[int, Field(gt=0)] | None = None
    mode: DedupMode = "plain"

    @field_validator("id")
    @classmethod
    def _printable(cls, dedup_id: str) -> str:
        if not dedup_id or len(dedup_id.encode()) > MAX_DEDUP_ID_BYTES:
            raise ValueError(f"dedup id must be 1 to {MAX_DEDUP_ID_BYTES} bytes")
        if not dedup_id.isprintable():
            raise ValueError("dedup id: no control characters")
        return dedup_id

    @model_validator(mode="after")
    def _extend_needs_ttl(self) -> Dedup:
        if self.mode == "extend" and self.ttl_ms is None:
            raise ValueError("dedup mode extend needs ttl_ms (it restarts the TTL)")
        return self

    def packed(self) -> str:
        """The add script's ``dedup`` argument: ``<mode>:<ttl_ms>:<id>``."""
        return f"{self.mode}:{self.ttl_ms or ''}:{self.id}"


KEEP_ALL = Keep()
DEFAULT_KEEP_COMPLETED = Keep(count=10_000, age_ms=7 * 86_400_000)
DEFAULT_KEEP_FAILED = Keep(count=100_000, age_ms=30 * 86_400_000)

AGE_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
_AGE = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def format_age(age_ms: int) -> str:
    """``age_ms`` in the largest unit up to days that divides it: ``7d``, ``90m``, ``1500ms``."""
    for unit in ("d", "h", "m", "s"):
        size = AGE_UNITS_MS[unit]
        if age_ms and age_ms % size == 0:
            return f"{age_ms // size}{unit}"
    return f"{age_ms}ms"


def parse_keep(text: str) -> Keep:
    """A retention rule as people type it: ``all`` (keep every job), a count
    (``1000``: the newest 1000; ``0``: delete at once), an age (``7d``; units
    ms, s, m, h, d, w) or both (``1000,7d``). ValueError otherwise."""
    value = text.strip().lower()
    if value == "all":
        return KEEP_ALL
    count, age_ms = -1, -1
    parts = [part.strip() for part in value.split(",")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"{text!r}: use all, a count (1000), an age (7d) or both (1000,7d)")
    for part in parts:
        age = _AGE.fullmatch(part)
        if part.isdigit() and count < 0:
            count = int(part)
        elif age and age_ms < 0:
            age_ms = int(age.group(1)) * AGE_UNITS_MS[age.group(2)]
        else:
            raise ValueError(
                f"{text!r}: use all, a count (1000), an age (7d; units ms, s, m, h, d, w)"
                " or both (1000,7d)"
            )
    return Keep(count=count, age_ms=age_ms)


def _keep(value: bool | int | Keep | None) -> Keep | None:
    if value is None or isinstance(value, Keep):
        return value
    if value is True:
        return Keep(count=0)
    if value is False:
        return KEEP_ALL
    return Keep(count=value)


class JobOptions(BaseModel):
    """Options for one job. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str | None = None
    """Adding a job whose id exists returns the existing job. Refused: ids
    that could name another job's key or a generated id (see
    :func:`engine.keys.job_id_problem`)."""
    priority: Annotated[int, Field(ge=0, le=MAX_PRIORITY)] = DEFAULT_PRIORITY
    lifo: bool = False
    delay_ms: Annotated[int, Field(ge=0)] = 0
    attempts: Annotated[int, Field(ge=1, le=1000)] = 1
    backoff: Backoff | None = None
    timeout_ms: Annotated[int, Field(gt=0)] | None = None
    remove_on_complete: bool | Annotated[int, Field(ge=0)] | Keep | None = None
    """True removes at once, False keeps all, N keeps the newest N, or a Keep;
    None follows the worker's ``keep_completed``. The job's own rule: the
    worker's never trims a job that has one."""
    remove_on_fail: bool | Annotated[int, Field(ge=0)] | Keep | None = None
    """As ``remove_on_complete``, for a job that failed for good (however it
    failed: its processor, the stall limit, a corrupt hash, a dependency)."""
    keep_logs: Annotated[int, Field(ge=0)] = 1000
    """Log lines kept per job (0 keeps all)."""
    dedup: Dedup | None = None
    """Deduplication and debounce (see :class:`Dedup`); a string is the id alone."""

    @field_validator("dedup", mode="before")
    @classmethod
    def _dedup_id_alone(cls, value: object) -> object:
        return {"id": value} if isinstance(value, str) else value

    @field_validator("job_id")
    @classmethod
    def _safe_job_id(cls, job_id: str | None) -> str | None:
        if job_id is not None:
            problem = job_id_problem(job_id)
            if problem:
                raise ValueError(f"job id {job_id!r}: {problem}")
        return job_id

    @model_validator(mode="before")
    @classmethod
    def _named_priority(cls, values: object) -> object:
        if isinstance(values, dict) and isinstance(values.get("priority"), str):
            name = values["priority"]
            if name.lower() in PRIORITY_NAMES:
                values = {**values, "priority": PRIORITY_NAMES[name.lower()]}
            elif name.isdigit():
                values = {**values, "priority": int(name)}
        return values

    @property
    def keep_completed(self) -> Keep | None:
        """The job's own retention once completed (None: the worker's applies)."""
        return _keep(self.remove_on_complete)

    @property
    def keep_failed(self) -> Keep | None:
        """The job's own retention once failed for good (None: the worker's applies)."""
        return _keep(self.remove_on_fail)

    def stored(self) -> str:
        """JSON of the options that differ from the defaults ("" when none)."""
        if self is DEFAULT_OPTIONS:
            return ""
        from engine.codec import dumps

        values = self.model_dump(exclude_defaults=True, exclude={"job_id"})
        return dumps(values, "job options") if values else ""


def checked_priority(priority: int | str) -> int:
    """``priority`` as a number from 0 to MAX_PRIORITY (names: high, normal,
    low); InvalidJobError otherwise."""
    if isinstance(priority, str):
        named = PRIORITY_NAMES.get(priority.lower())
        priority = named if named is not None else int(priority) if priority.isdigit() else -1
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not 0 <= priority <= MAX_PRIORITY
    ):
        raise InvalidJobError(
            f"priority must be high, normal, low or a number from 0 to {MAX_PRIORITY} (got {priority!r})"
        )
    return priority


def parse_options(
    options: JobOptions | dict[str, object] | None = None, **overrides: object
) -> JobOptions:
    """Build JobOptions from a model, a dict or keywords; InvalidJobError on bad input."""
    if isinstance(options, JobOptions) and not overrides:
        return options
    if not options and not overrides:
        return DEFAULT_OPTIONS
    raw: dict[str, object] = {}
    if isinstance(options, JobOptions):
        raw = options.model_dump(exclude_defaults=True)
    elif options:
        raw = dict(options)
    raw.update(overrides)
    try:
        return JobOptions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidJobError(f"invalid job options: {problems}") from None


DEFAULT_OPTIONS = JobOptions()
"""Shared by every job added without options (validated once)."""
