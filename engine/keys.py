"""Every Redis key name the engine uses, in one place.

All keys of one queue share a hash tag (``{name}``), so every script touches
a single slot. Job hashes and per-day metrics hashes are derived inside the
scripts from the queue's key prefix, because their names are only known
there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PREFIX = "messai"

WAITLIST_SUFFIX = "waiting:list"
"""A queue's list of waiting jobs of the default priority, beside its zset
(copied in ``lua/includes/common.lua``, which builds other queues' keys)."""

STATES: tuple[str, ...] = ("waiting", "active", "delayed", "completed", "failed", "pending")
"""Every state of a queue; a job is in exactly one of them. Each state is one
sorted set, except ``waiting``: a sorted set for jobs with a priority of their
own plus a list (``waiting:list``) for jobs of the default priority."""

_SCRIPT_KEY_SUFFIXES: tuple[str, ...] = (
    "waiting",
    WAITLIST_SUFFIX,
    "active",
    "delayed",
    "completed",
    "failed",
    "pending",
    "meta",
    "events",
    "marker",
    "seq",
    "limiter",
)

CLUSTER_REGISTERED_SUFFIX = "registered"
"""On a Redis Cluster, the queue's stand-in for the registry in its scripts' KEYS."""

SCRIPT_KEY_NAMES: tuple[str, ...] = (*_SCRIPT_KEY_SUFFIXES, "registry", "sweep")
"""The names of :attr:`QueueKeys.script_keys`, in order: the roles that script
headers use in ``Writes:`` (``lua/includes/common.lua`` lists them too)."""


JOB_KEY_SUFFIXES: tuple[str, ...] = ("logs", "deps", "results")
"""The keys a job has beside its hash, ``job:<id>:<suffix>`` (copied in
``lua/includes/add_job.lua``): a custom job id ending in ``:<suffix>`` would
name another job's key, so none may."""

MAX_JOB_ID_BYTES = 256
"""Longest custom job id, in bytes of UTF-8."""


def job_id_problem(job_id: str) -> str | None:
    """Why ``job_id`` cannot be a custom job id, or None if it can.

    Refused: ids that could name another job's key (ending in ``:logs``,
    ``:deps``, ``:results``), that could be a generated id (only digits),
    empty or longer than :data:`MAX_JOB_ID_BYTES` bytes, with
    whitespace, control characters or braces. ``lua/includes/add_job.lua``
    refuses the same ids, for producers of other versions."""
    if not job_id or len(job_id.encode()) > MAX_JOB_ID_BYTES:
        return f"must be 1 to {MAX_JOB_ID_BYTES} bytes"
    if job_id.isascii() and job_id.isdigit():
        return "only digits: generated ids are numbers"
    if any(ch.isspace() or ch in "{}" or not ch.isprintable() for ch in job_id):
        return "no whitespace, braces or control characters"
    suffix = job_id.rpartition(":")[2]
    if ":" in job_id and suffix in JOB_KEY_SUFFIXES:
        return f"ends in ':{suffix}', which names another job's {suffix} key"
    return None


def validate_queue_name(name: str) -> str:
    """Return ``name`` if it can be a queue name, else raise ValueError."""
    if not name or len(name) > 200:
        raise ValueError("queue name must be 1 to 200 characters")
    if any(ch in name for ch in "{}:|") or not name.isprintable() or name.strip() != name:
        raise ValueError(
            f"invalid queue name {name!r}: no braces, colons, bars, spaces at the ends or control characters"
        )
    return name


def queue_registry_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The set of every queue name under ``prefix``."""
    return f"{prefix}:queues"


def worker_registry_key(prefix: str = DEFAULT_PREFIX) -> str:
    """Zset of worker ids scored by their last heartbeat (ms)."""
    return f"{prefix}:workers"


def worker_key(worker_id: str, prefix: str = DEFAULT_PREFIX, cluster: bool = False) -> str:
    """Hash describing one worker process; expires when it stops beating.

    On a Redis Cluster (``cluster``) its name carries the worker registry's
    name as hash tag, ``{<prefix>:workers}:<id>``: the tag hashes to the
    registry's own slot, so the heartbeat script writes both in one call."""
    if cluster:
        return f"{{{worker_registry_key(prefix)}}}:{worker_id}"
    return f"{prefix}:worker:{worker_id}"


def worker_control_channel(worker_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Pub/sub channel of commands addressed to one worker (pause, resume)."""
    return f"{prefix}:worker:{worker_id}:control"


def schedule_due_key(prefix: str = DEFAULT_PREFIX) -> str:
    """Zset of schedule names scored by their next fire time (ms)."""
    return f"{prefix}:{{schedules}}:due"


def schedule_definition_prefix(prefix: str = DEFAULT_PREFIX) -> str:
    """Prefix of the per-schedule hashes (``<prefix><name>``): spec, version, counts."""
    return f"{prefix}:{{schedules}}:def:"


def schedule_names_key(prefix: str = DEFAULT_PREFIX) -> str:
    """Set of every schedule name."""
    return f"{prefix}:{{schedules}}:names"


@dataclass(frozen=True)
class QueueKeys:
    """Key names for one queue."""

    name: str
    prefix: str = DEFAULT_PREFIX
    base: str = field(init=False)

    def __post_init__(self) -> None:
        validate_queue_name(self.name)
        object.__setattr__(self, "base", f"{self.prefix}:{{{self.name}}}:")

    def key(self, suffix: str) -> str:
        return self.base + suffix

    @property
    def waiting(self) -> str:
        """Zset of waiting jobs with a priority other than the default."""
        return self.base + "waiting"

    @property
    def waiting_list(self) -> str:
        """List of waiting jobs of the default priority, the next to run at the head.

        A list entry costs a few bytes where a zset entry costs about a hundred,
        and most jobs never set a priority."""
        return self.base + WAITLIST_SUFFIX

    @property
    def active(self) -> str:
        return self.base + "active"

    @property
    def delayed(self) -> str:
        return self.base + "delayed"

    @property
    def completed(self) -> str:
        return self.base + "completed"

    @property
    def failed(self) -> str:
        return self.base + "failed"

    @property
    def meta(self) -> str:
        return self.base + "meta"

    @property
    def events(self) -> str:
        return self.base + "events"

    @property
    def marker(self) -> str:
        return self.base + "marker"

    @property
    def sweep_lock(self) -> str:
        return self.base + "sweep"

    @property
    def cancel_channel(self) -> str:
        return self.base + "cancel"

    def state(self, state: str) -> str:
        """The sorted set of ``state`` (for ``waiting``, the one beside :attr:`waiting_list`)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
        return self.base + state

    def job(self, job_id: str) -> str:
        return f"{self.base}job:{job_id}"

    def logs(self, job_id: str) -> str:
        return f"{self.base}job:{job_id}:logs"

    def metrics(self, day: int) -> str:
        """Per-day hash of per-minute counters: c<minute>, f<minute>, t<minute>."""
        return f"{self.base}metrics:{day}"

    @property
    def script_keys(self) -> list[str]:
        """KEYS for every script, in the order lua/includes/common.lua names them."""
        return [self.base + s for s in _SCRIPT_KEY_SUFFIXES] + [
            queue_registry_key(self.prefix),
            self.sweep_lock,
        ]

    @property
    def registered(self) -> str:
        """On a Redis Cluster, the set the scripts register the queue in (its
        own name, in the queue's slot) instead of the queue registry, which
        lives in another slot: the engine adds the name to the registry in a
        call of its own (:func:`engine.cluster.register_queue`)."""
        return self.base + CLUSTER_REGISTERED_SUFFIX

    def script_keys_on(self, cluster: bool) -> list[str]:
        """:attr:`script_keys`, or on a Redis Cluster (``cluster``) the same with
        :attr:`registered` for the registry: every key in the queue's slot."""
        keys = self.script_keys
        if cluster:
            keys[SCRIPT_KEY_NAMES.index("registry")] = self.registered
        return keys
