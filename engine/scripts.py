"""Loading the Lua scripts and calling them as Redis functions.

Each ``lua/<name>.lua`` file opens with a comment block listing its ARGV,
its return value and the events it emits, and names the shared pieces it
needs on an ``Includes:`` line; the loader prepends those from
``lua/includes``.

On Redis 7 each script is loaded as a function library of its own
(``FUNCTION LOAD``) and called with ``FCALL``: the shared pieces then run
once at load time instead of on every call, which saves 10-15 us of server
time per call. The library and function are named after the source's hash
(``messai_<script>_<sha12>``), so workers of different versions side by
side never replace each other's code. A function missing from the server
(a restart without persistence, ``FUNCTION FLUSH``) is loaded again
transparently. On a server without functions (Redis 6.2) the same source
runs with EVALSHA, reloaded on NOSCRIPT.

A script's header may carry a ``Flags:`` line (``no-writes``,
``allow-oom``): the function is registered with them and the EVAL source
opens with the matching ``#!lua flags=...`` line, so Redis knows before it
runs the script what it may do. A ``no-writes`` script runs on a full server
(``maxmemory`` reached) and on a read-only replica, and is called with
``FCALL_RO`` (a proxy or cluster client may send it to a replica); an
``allow-oom`` script (the ones an operator frees memory with) runs on a full
server. A script without flags opens with a bare ``#!lua`` line all the
same: without one, EVAL runs in the legacy mode, where a full server
refuses only a first write that needs memory, and a script whose first
write frees some (ZREM) then writes all the rest. With it, EVAL is refused
before it runs, as FCALL is.

All of that is written once, in :class:`BoundScript`, over the
:class:`engine.channel.Channel` interface: the hot calls go over the
engine's own connection (or redis-py with ``MESSAI_WIRE=0``), every other
call over the redis-py client it is given (:meth:`Script.__call__`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

from engine.channel import Channel, Request, RequestHead
from engine.plain_channel import PlainChannel
from engine.resp import Arg

_INCLUDES_LINE = re.compile(r"Includes:\s*([a-z_, ]+)")
_FLAGS_LINE = re.compile(r"^\s*Flags:\s*([a-z][a-z, -]*)", re.MULTILINE)

SCRIPT_FLAGS = frozenset({"no-writes", "allow-oom"})
"""The function flags a script's header may declare (Redis 7 also knows
``allow-stale``, ``no-cluster`` and ``allow-cross-slot-keys``: none is used)."""


def _read(path: str) -> str:
    return resources.files("engine").joinpath("lua", path).read_text(encoding="utf-8")


@cache
def _parts(name: str) -> tuple[str, str]:
    """Script ``name`` as (its includes, its body)."""
    body = _read(f"{name}.lua")
    match = _INCLUDES_LINE.search(body)
    includes = [part.strip() for part in match.group(1).split(",")] if match else []
    if "common" not in includes:
        includes.insert(0, "common")
    return "\n".join(_read(f"includes/{include}.lua") for include in includes), body


def script_flags(name: str) -> tuple[str, ...]:
    """The flags of script ``name``, as its header's ``Flags:`` line lists them."""
    match = _FLAGS_LINE.search(_parts(name)[1].split("]]", 1)[0])
    if not match:
        return ()
    flags = tuple(flag.strip() for flag in match.group(1).split(",") if flag.strip())
    unknown = set(flags) - SCRIPT_FLAGS
    if unknown:
        raise ValueError(f"{name}.lua: unknown flags {sorted(unknown)}")
    return flags


def script_source(name: str) -> str:
    """The full source of script ``name`` as one EVAL script, opened by its
    ``#!lua`` line (``#!lua flags=...`` when it has flags)."""
    includes, body = _parts(name)
    flags = script_flags(name)
    shebang = f"#!lua flags={','.join(flags)}\n" if flags else "#!lua\n"
    return f"{shebang}{includes}\nbind(KEYS, ARGV)\n{body}"


_NO_FUNCTIONS: set[str] = set()
"""Servers (by address) that answered that they have no FCALL (Redis 6.2) or
refuse it to this user: every script runs there with EVALSHA."""

_BEFORE_7: set[str] = set()
"""Of those, the servers without functions at all (Redis 6.2): they know no
``#!lua`` line either, so the scripts go there without their flags."""


def _no_functions(error: ResponseError, address: str) -> bool:
    """Whether ``error`` says the server at ``address`` (or this user) cannot
    use functions; if so, scripts run there with EVALSHA from now on."""
    message = str(error).upper()
    # redis-py turns "NOPERM ..." into a NoPermissionError without the prefix.
    refused = isinstance(error, NoPermissionError) or "NOPERM" in message
    if (refused or "UNKNOWN COMMAND" in message) and ("FCALL" in message or "FUNCTION" in message):
        _NO_FUNCTIONS.add(address)
        if not refused:
            _BEFORE_7.add(address)
        return True
    return False


def _function_missing(error: ResponseError) -> bool:
    return str(error).endswith("Function not found")


class Script:
    """One Lua script: a function on Redis 7, an EVALSHA script before."""

    __slots__ = (
        "flags",
        "function",
        "legacy_sha",
        "legacy_source",
        "library",
        "name",
        "sha",
        "source",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.flags = script_flags(name)
        self.source = script_source(name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        # without the #!lua line, for Redis 6.2
        self.legacy_source = self.source.partition("\n")[2]
        self.legacy_sha = hashlib.sha1(self.legacy_source.encode()).hexdigest()
        self.function = f"messai_{name}_{self.sha[:12]}"
        includes, body = _parts(name)
        flags = ", ".join(f"'{flag}'" for flag in self.flags)
        self.library = (
            f"#!lua name={self.function}\n{includes}\n"
            f"redis.register_function{{function_name = '{self.function}', "
            f"callback = function(KEYS, ARGV)\n"
            f"bind(KEYS, ARGV)\n{body}\nend, flags = {{{flags}}}}}\n"
        )

    @property
    def read_only(self) -> bool:
        """Whether the script declares ``no-writes`` (called with FCALL_RO)."""
        return "no-writes" in self.flags

    async def __call__(self, client: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Call the script with redis-py's ``client`` (the path of every call
        but the hot ones, which bind their keys once: :class:`BoundScript`)."""
        return await BoundScript(self, keys)(PlainChannel(client), args)


class BoundScript:
    """A script with its KEYS given once, called over a :class:`Channel`:
    each call only adds its ARGV.

    The one place that calls a script on any channel: ``FCALL``; a function
    missing from the server (``FUNCTION FLUSH``, a restart without
    persistence) is loaded again for the next calls while this call runs with
    ``EVAL`` (loading and calling are two commands: a flush may land between
    them); a server without functions, or a user who may not use them, gets
    ``EVALSHA`` from then on, and a script missing there (``SCRIPT FLUSH``)
    runs with ``EVAL``, which also caches it.
    """

    __slots__ = (
        "_eval_heads",
        "_fcall_head",
        "_keys",
        "_legacy_sha_head",
        "_sha_head",
        "script",
    )

    def __init__(self, script: Script, keys: Sequence[str]) -> None:
        self.script = script
        self._keys = tuple(keys)
        fcall = "FCALL_RO" if script.read_only else "FCALL"
        self._fcall_head = RequestHead(fcall, script.function, len(keys), *keys)
        self._sha_head = RequestHead("EVALSHA", script.sha, len(keys), *keys)
        self._legacy_sha_head = RequestHead("EVALSHA", script.legacy_sha, len(keys), *keys)
        self._eval_heads: dict[bool, RequestHead] = {}
        """EVAL with the whole source (True: without its #!lua line, for Redis
        6.2): made when a server first lacks the script."""

    def request(self, channel: Channel, args: Sequence[Arg]) -> Request:
        """The call for ``channel``'s server, ready for :meth:`Channel.execute`."""
        if channel.address not in _NO_FUNCTIONS:
            head = self._fcall_head
        elif channel.address in _BEFORE_7:
            head = self._legacy_sha_head
        else:
            head = self._sha_head
        return channel.request(head, args)

    async def __call__(self, channel: Channel, args: Sequence[Arg]) -> Any:
        try:
            return await channel.execute(self.request(channel, args))
        except ResponseError as error:
            return await self.recover(channel, args, error)

    async def recover(self, channel: Channel, args: Sequence[Arg], error: ResponseError) -> Any:
        """Run the call that failed with ``error`` if the server only lacked
        the script, or functions; raise ``error`` otherwise."""
        if isinstance(error, NoScriptError):
            return await channel.execute(self._eval_request(channel, args))
        if not _function_missing(error) and not _no_functions(error, channel.address):
            raise error
        if channel.address in _NO_FUNCTIONS:
            return await self(channel, args)  # now with EVALSHA
        # Load the library for the next calls and EVAL this one, concurrently
        # (on the wire: pipelined). REPLACE: another process may just have.
        load = channel.command("FUNCTION", "LOAD", "REPLACE", self.script.library)
        call = channel.execute(self._eval_request(channel, args))
        results: tuple[Any, Any] = await asyncio.gather(load, call, return_exceptions=True)
        loaded, reply = results
        if isinstance(loaded, ResponseError):
            # Refused to this user: EVALSHA from now on. Any other failure
            # leaves the next call to load again.
            _no_functions(loaded, channel.address)
        elif isinstance(reply, NoPermissionError) and not isinstance(loaded, BaseException):
            # A user who may load functions but not EVAL (engine.acl): the
            # call was refused before it ran; now the function is there.
            return await channel.execute(self.request(channel, args))
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _eval_request(self, channel: Channel, args: Sequence[Arg]) -> Request:
        legacy = channel.address in _BEFORE_7
        head = self._eval_heads.get(legacy)
        if head is None:
            source = self.script.legacy_source if legacy else self.script.source
            head = RequestHead("EVAL", source, len(self._keys), *self._keys)
            self._eval_heads[legacy] = head
        return channel.request(head, args)


SCRIPT_NAMES = (
    "add",
    "add_graph",
    "add_graph_part",
    "cancel",
    "change",
    "clean",
    "deliver",
    "drain",
    "drop_ghosts",
    "fetch",
    "finish",
    "get_jobs",
    "heartbeat",
    "obliterate",
    "outbox",
    "pause",
    "progress",
    "promote",
    "remove",
    "reserve_ids",
    "retry",
    "schedule_due",
    "schedule_fire",
    "schedule_upsert",
    "sweep",
    "worker_beat",
)


class Scripts:
    """Every script of the engine, loaded once per process."""

    def __init__(self) -> None:
        for name in SCRIPT_NAMES:
            setattr(self, name, Script(name))

    add: Script
    add_graph: Script
    add_graph_part: Script
    cancel: Script
    change: Script
    clean: Script
    deliver: Script
    drain: Script
    drop_ghosts: Script
    fetch: Script
    finish: Script
    get_jobs: Script
    heartbeat: Script
    obliterate: Script
    outbox: Script
    pause: Script
    progress: Script
    promote: Script
    remove: Script
    reserve_ids: Script
    retry: Script
    schedule_due: Script
    schedule_fire: Script
    schedule_upsert: Script
    sweep: Script
    worker_beat: Script


@cache
def scripts() -> Scripts:
    return Scripts()
