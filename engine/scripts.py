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
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from engine.wire import Arg, Channel, encode_arg, pack_args, server_address

_INCLUDES_LINE = re.compile(r"Includes:\s*([a-z_, ]+)")


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


def script_source(name: str) -> str:
    """The full source of script ``name`` as one EVAL script."""
    includes, body = _parts(name)
    return f"{includes}\nbind(KEYS, ARGV)\n{body}"


_NO_FUNCTIONS: set[str] = set()
"""Servers (by address) that answered that they have no FCALL (Redis 6.2) or
refuse it to this user: every script runs there with EVALSHA."""


def _no_functions(error: ResponseError, address: str) -> bool:
    """Whether ``error`` says the server at ``address`` (or this user) cannot
    use functions; if so, scripts run there with EVALSHA from now on."""
    message = str(error).upper()
    if ("UNKNOWN COMMAND" in message or "NOPERM" in message) and (
        "FCALL" in message or "FUNCTION" in message
    ):
        _NO_FUNCTIONS.add(address)
        return True
    return False


def _function_missing(error: ResponseError) -> bool:
    return str(error).endswith("Function not found")


class Script:
    """One Lua script: a function on Redis 7, an EVALSHA script before."""

    __slots__ = ("function", "library", "name", "sha", "source")

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = script_source(name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self.function = f"messai_{name}_{self.sha[:12]}"
        includes, body = _parts(name)
        self.library = (
            f"#!lua name={self.function}\n{includes}\n"
            f"redis.register_function('{self.function}', function(KEYS, ARGV)\n"
            f"bind(KEYS, ARGV)\n{body}\nend)\n"
        )

    async def __call__(self, client: Redis, keys: list[str], args: list[Any]) -> Any:
        address = server_address(client.connection_pool.connection_kwargs)
        if address not in _NO_FUNCTIONS:
            try:
                return await client.fcall(self.function, len(keys), *keys, *args)
            except ResponseError as exc:
                if not _function_missing(exc) and not _no_functions(exc, address):
                    raise
            if address not in _NO_FUNCTIONS:
                await self.load(client)
                # EVAL this once: a flush may land between the load and a call.
                return await client.eval(self.source, len(keys), *keys, *args)
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # EVAL runs the source and caches it in one step; SCRIPT LOAD and a
            # second EVALSHA would fail if another flush landed in between.
            return await client.eval(self.source, len(keys), *keys, *args)

    async def load(self, client: Redis) -> None:
        """Load this script's library (REPLACE: another process may just have);
        a server that refuses falls back to scripts."""
        try:
            await client.function_load(self.library, replace=True)
        except ResponseError as exc:
            if not _no_functions(exc, server_address(client.connection_pool.connection_kwargs)):
                raise


class BoundScript:
    """A script with its KEYS packed once, called over a :class:`Channel`:
    each call only encodes its ARGV."""

    __slots__ = ("_eval_head", "_fcall_head", "_head_count", "_keys", "_sha_head", "script")

    def __init__(self, script: Script, keys: list[str]) -> None:
        self.script = script
        self._keys = tuple(keys)
        self._head_count = 3 + len(keys)
        self._fcall_head = self._pack_head("FCALL", script.function)
        self._sha_head = self._pack_head("EVALSHA", script.sha)
        self._eval_head: bytes | None = None
        """EVAL with the whole source: packed when a server first lacks the script."""

    def _pack_head(self, command: str, script: str) -> bytes:
        head: list[Arg] = [command, script, len(self._keys)]
        head.extend(self._keys)
        return b"".join(encode_arg(part) for part in head)

    def _request(self, head: bytes, args: list[Arg]) -> bytes:
        return b"*%d\r\n" % (self._head_count + len(args)) + head + pack_args(args)

    def _eval_request(self, args: list[Arg]) -> bytes:
        if self._eval_head is None:
            self._eval_head = self._pack_head("EVAL", self.script.source)
        return self._request(self._eval_head, args)

    def request(self, channel: Channel, args: list[Arg]) -> bytes:
        """The packed call for ``channel``'s server, ready for :meth:`Channel.execute`."""
        head = self._sha_head if channel.address in _NO_FUNCTIONS else self._fcall_head
        return self._request(head, args)

    async def __call__(self, channel: Channel, args: list[Arg]) -> Any:
        return await self._send(channel, args, self.request(channel, args))

    async def _send(self, channel: Channel, args: list[Arg], request: bytes) -> Any:
        try:
            return await channel.execute(request)
        except NoScriptError:
            # EVAL runs and caches the script in one step (see Script.__call__).
            return await channel.execute(self._eval_request(args))
        except ResponseError as exc:
            if not _function_missing(exc) and not _no_functions(exc, channel.address):
                raise
        if channel.address not in _NO_FUNCTIONS:
            # Load the library for the next calls and EVAL this one (pipelined):
            # a flush may land between the load and a call.
            load = channel.command("FUNCTION", "LOAD", "REPLACE", self.script.library)
            call = channel.execute(self._eval_request(args))
            results: tuple[Any, Any] = await asyncio.gather(load, call, return_exceptions=True)
            loaded, reply = results
            if isinstance(loaded, ResponseError):
                _no_functions(loaded, channel.address)
            if isinstance(reply, BaseException):
                raise reply
            return reply
        return await self._send(channel, args, self.request(channel, args))


SCRIPT_NAMES = (
    "add",
    "add_graph",
    "cancel",
    "clean",
    "drain",
    "fetch",
    "finish",
    "get_jobs",
    "heartbeat",
    "obliterate",
    "pause",
    "progress",
    "promote",
    "remove",
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
    cancel: Script
    clean: Script
    drain: Script
    fetch: Script
    finish: Script
    get_jobs: Script
    heartbeat: Script
    obliterate: Script
    pause: Script
    progress: Script
    promote: Script
    remove: Script
    retry: Script
    schedule_due: Script
    schedule_fire: Script
    schedule_upsert: Script
    sweep: Script
    worker_beat: Script


@cache
def scripts() -> Scripts:
    return Scripts()
