"""Loading the Lua scripts and calling them with EVALSHA.

Each ``lua/<name>.lua`` file opens with a comment block listing its ARGV,
its return value and the events it emits, and names the shared pieces it
needs on an ``Includes:`` line; the loader prepends those from
``lua/includes``. A script missing from the server's cache (after a restart
or ``SCRIPT FLUSH``) is loaded again transparently.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from engine.wire import Arg, Channel, encode_arg, pack_args

_INCLUDES_LINE = re.compile(r"Includes:\s*([a-z_, ]+)")


def _read(path: str) -> str:
    return resources.files("engine").joinpath("lua", path).read_text(encoding="utf-8")


@cache
def script_source(name: str) -> str:
    """The full source of script ``name``: its includes, then its body."""
    body = _read(f"{name}.lua")
    match = _INCLUDES_LINE.search(body)
    includes = [part.strip() for part in match.group(1).split(",")] if match else []
    if "common" not in includes:
        includes.insert(0, "common")
    parts = [_read(f"includes/{include}.lua") for include in includes]
    return "\n".join([*parts, body])


class Script:
    """One Lua script, called by SHA and reloaded on NOSCRIPT."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = script_source(name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    async def __call__(self, client: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # EVAL runs the source and caches it in one step; SCRIPT LOAD and a
            # second EVALSHA would fail if another flush landed in between.
            return await client.eval(self.source, len(keys), *keys, *args)


class BoundScript:
    """A script with its KEYS packed once, called over a :class:`Channel`:
    each call only encodes its ARGV."""

    __slots__ = ("_eval_head", "_head", "_head_count", "_keys", "script")

    def __init__(self, script: Script, keys: list[str]) -> None:
        self.script = script
        self._keys = tuple(keys)
        self._head_count = 3 + len(keys)
        self._head = self._pack_head("EVALSHA", script.sha, self._keys)
        self._eval_head: bytes | None = None
        """EVAL with the whole source: packed when the server first lacks the script."""

    @staticmethod
    def _pack_head(command: str, script: str, keys: tuple[str, ...]) -> bytes:
        head: list[Arg] = [command, script, len(keys)]
        head.extend(keys)
        return b"".join(encode_arg(part) for part in head)

    def request(self, args: list[Arg]) -> bytes:
        return b"*%d\r\n" % (self._head_count + len(args)) + self._head + pack_args(args)

    async def __call__(self, channel: Channel, args: list[Arg]) -> Any:
        request = self.request(args)
        try:
            return await channel.execute(request)
        except NoScriptError:
            # EVAL runs and caches the script in one step (see Script.__call__).
            if self._eval_head is None:
                self._eval_head = self._pack_head("EVAL", self.script.source, self._keys)
            return await channel.execute(
                b"*%d\r\n" % (self._head_count + len(args)) + self._eval_head + pack_args(args)
            )


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
