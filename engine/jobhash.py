"""The legend of a job's hash (``{prefix}:{queue}:job:<id>``): every field, once.

Field names are short because a queue holds millions of hashes and each
byte of a name is paid once per job. The Lua include
``lua/includes/common.lua`` mirrors these names in its ``JF`` table; a test
checks that the two agree, and that no script reads or writes a job field
that is not listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class JobField(StrEnum):
    """A field of a job hash, with what it holds."""

    NAME = "n"
    """Processor name (set by add; a job without it is corrupt)."""
    DATA = "d"
    """Payload, JSON; a long one in chunks (:func:`long_value`)."""
    OPTIONS = "o"
    """Options that differ from the defaults, JSON (absent: all default); a
    long one in chunks (:func:`long_value`)."""
    CREATED = "ts"
    """Time added, integer microseconds ("1795996050374123"); jobs added
    before are in ms with microseconds ("1795996050374.123"). Read it with
    :func:`stamp_ms`."""
    PRIORITY = "pri"
    """Priority when not the default (absent: DEFAULT_PRIORITY)."""
    LIFO = "lifo"
    """"1" when added last-in-first-out."""
    ATTEMPTS = "att"
    """Runs ended so far (completed, failed or retried), an integer."""
    STALLS = "stl"
    """Times its worker vanished while it ran, an integer."""
    MANUAL_RETRIES = "rtr"
    """Times an operator retried it, an integer."""
    TOKEN = "tok"
    """Lease token of the run in progress (absent when not active)."""
    RESERVED = "rsv"
    """"1" while leased as prefetched and not started yet; "r" once a sweep
    put such a job back (its worker died): its next lease is isolated."""
    WORKER = "w"
    """Id of the worker that ran it last."""
    STARTED = "st"
    """Time the current or last run started, ms with microseconds."""
    FINISHED = "fin"
    """Time it completed or failed, ms."""
    RUN_TIME = "rt"
    """Run time of the last run, ms."""
    PROGRESS = "p"
    """Last progress report, JSON."""
    RESULT = "r"
    """Return value, JSON."""
    ERROR = "e"
    """Error message of the last failure."""
    STACK = "stk"
    """Stack trace of the last failure."""
    CANCELLED = "cx"
    """"1" once cancellation was asked for (active) or done (failed)."""
    HAS_DEPENDENTS = "hd"
    """"1" when other jobs wait for this one (chains, flows)."""
    DEPENDENCIES = "deps"
    """Dependencies not finished yet, an integer (pending jobs)."""
    HAS_RESULTS = "pr"
    """"1" when it receives its dependencies' results (``job:<id>:results``)."""
    DEPENDENCY_FAILED = "dfail"
    """``<queue prefix>|<id>`` of the dependency whose failure failed it."""
    SEQUENCE = "sq"
    """Its number in the queue's add order, for a job with a custom id added
    with a delay (a generated id is that number): jobs due in the same
    millisecond run in add order (``promote_due`` in lua/includes/fetch.lua)."""
    KEEP = "kp"
    """A finished job's own retention: ``c:<count>:<age_ms>`` (completed) or
    ``f:...`` (failed); absent: the worker's applies (lua/includes/retention.lua)."""
    DEDUP = "dd"
    """Its dedup id (the ``dedup`` option): the key ``dedup:<id>`` names this
    job until it ends (unless a TTL keeps the key)."""
    CHILDREN = "kids"
    """The jobs it waits for (a flow's children, a chain's step before), one
    ``<queue>|<id>`` a line: removing it removes those that have not run."""
    DELAY = "dly"
    """Delay in ms that starts once its dependencies have finished (a pending
    job added with ``delay_ms``)."""


# -- long values -----------------------------------------------------------------

CHUNK_BYTES = 63
"""Most bytes of one chunk of a long value.

A hash keeps Redis's compact listpack encoding while each value is at most
``hash-max-listpack-value`` bytes (64 on a default server); one longer value
makes a job hash a hash table, about 230 bytes more per job. So data or
options of ``CHUNK_BYTES + 1`` to :data:`CHUNKED_MAX_BYTES` bytes are stored
in fields ``<f>1``, ``<f>2``, ... (``d1``, ``d2``...) of at most 63 bytes
each (a listpack gives a string of up to 63 bytes a one-byte header),
without ``<f>`` itself, each ending on a UTF-8 character boundary. The
writer is ``add_long_value`` in ``lua/includes/common.lua``."""

CHUNKED_MAX_BYTES = 2048
"""Longer values stay in one field: their chunks would near
``hash-max-listpack-entries`` (128 fields), and beside them the hash
table's own cost is small (about 9% of a 2 KB payload, 2.5% of 8 KB)."""

MAX_CHUNKS = 64
"""Readers stop after this many chunks (a writer makes at most about 35)."""

LONG_FIELDS: tuple[JobField, ...] = (JobField.DATA, JobField.OPTIONS)
"""The fields that may be stored in chunks."""

MICROS_FROM = 100_000_000_000_000
"""A stored time at or above this is in microseconds (1973 in ms, 1970 in µs)."""


def chunk_field(field: JobField, index: int) -> str:
    """The name of chunk ``index`` (from 1) of ``field``: ``d1``, ``d2``..."""
    return f"{field.value}{index}"


def long_value(fields: Mapping[str, str], field: JobField) -> str | None:
    """The value of ``field`` in a job hash as read (HGETALL), chunks joined.

    Both layouts read: one field (short and very long values, and every job
    stored before chunks existed) or chunks ``<f>1``..``<f>n``.
    """
    whole = fields.get(field.value)
    if whole is not None:
        return whole
    parts = []
    for index in range(1, MAX_CHUNKS + 1):
        part = fields.get(chunk_field(field, index))
        if part is None:
            break
        parts.append(part)
    return "".join(parts) if parts else None


def stamp_ms(text: str | bytes | None) -> float | None:
    """Milliseconds of a stored time: integer microseconds (:attr:`JobField.CREATED`)
    or milliseconds with a fraction (:attr:`JobField.STARTED`, older jobs)."""
    if text is None or text in ("", b""):
        return None
    value = float(text)
    return value / 1000 if value >= MICROS_FROM else value
