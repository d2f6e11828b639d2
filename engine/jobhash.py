"""The legend of a job's hash (``{prefix}:{queue}:job:<id>``): every field, once.

Field names are short because a queue holds millions of hashes and each
byte of a name is paid once per job. The Lua include
``lua/includes/common.lua`` mirrors these names in its ``JF`` table; a test
checks that the two agree, and that no script reads or writes a job field
that is not listed here.
"""

from __future__ import annotations

from enum import StrEnum


class JobField(StrEnum):
    """A field of a job hash, with what it holds."""

    NAME = "n"
    """Processor name (set by add; a job without it is corrupt)."""
    DATA = "d"
    """Payload, JSON."""
    OPTIONS = "o"
    """Options that differ from the defaults, JSON (absent: all default)."""
    CREATED = "ts"
    """Time added, ms with microseconds ("1795996050374.123")."""
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
