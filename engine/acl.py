"""Least-privilege Redis ACL users for three roles: producer, worker, console.

    rules("worker")                       -> the ACL SETUSER rules, one string
    setuser_command("worker", "jobs-w")   -> "ACL SETUSER jobs-w reset on >... ..."

Two layers, because Redis checks every command a script runs against the
ACL of the user who called it:

1. **Scripts by name.** A role may call only its own scripts: `FCALL`
   (`FCALL_RO` for the `no-writes` ones) and `EVALSHA` are allowed with the
   function name or SHA1 of each of its scripts as first argument
   (`+fcall|messai_add_<sha12>`), and `EVAL` not at all, so a refused
   script is refused before it runs and changes nothing (a worker cannot
   obliterate, drain or retry). `FUNCTION LOAD` is allowed to producers and
   workers: it is how a function lost to a restart without persistence or
   `FUNCTION FLUSH` comes back (`engine.scripts.BoundScript`). The names
   carry each script's hash: regenerate the rules (`messai-console acl`)
   after an upgrade that changes a script, and during a rolling upgrade give
   the users both versions' rules.
2. **Commands and keys.** Each role gets the data commands its scripts and
   its own calls send, on the deployment's keys (`~<prefix>:*`) and its
   cancel channels (`&<prefix>:*`) only: the producer has no `DEL`, `ZREM`,
   `LPOP`...; the console only reads (and `EVAL` of a script is no way
   round that: the script's own commands are checked too).

The console's read-only user works on a replica (`read_from_replica=1`).
"""

from __future__ import annotations

from typing import Literal

from engine.keys import DEFAULT_PREFIX
from engine.scripts import Script, scripts

__all__ = ["ROLES", "Role", "role_scripts", "rules", "setuser_command"]

Role = Literal["producer", "worker", "console"]
ROLES: tuple[Role, ...] = ("producer", "worker", "console")

_SCRIPTS: dict[Role, tuple[str, ...]] = {
    # add jobs (one, bulk, chains and flows) and read them back (job status)
    "producer": ("add", "add_graph", "add_graph_part", "reserve_ids", "get_jobs"),
    # run jobs: lease, finish, heartbeats, progress, the stalled sweep, the
    # worker registry, jobs a processor adds, and schedules fired by a worker
    "worker": (
        "fetch",
        "finish",
        "heartbeat",
        "progress",
        "sweep",
        "worker_beat",
        "add",
        "add_graph",
        "add_graph_part",
        "reserve_ids",
        "get_jobs",
        "schedule_due",
        "schedule_fire",
        # chains and flows across queues on a Redis Cluster (engine.outbox)
        "outbox",
        "deliver",
    ),
    "console": ("get_jobs", "schedule_due"),
}

_CONNECTION = ("+@connection", "-@dangerous", "+info")
"""What every connection sends: the handshake (HELLO, AUTH, SELECT, CLIENT SETNAME and
SETINFO...), health checks (PING), and INFO (the console's header and node view);
not the dangerous ones (CLIENT KILL, CLIENT LIST...)."""

_COMMANDS: dict[Role, tuple[str, ...]] = {
    "producer": (
        # inside add / add_graph (/ reserve_ids and add_graph_part on a cluster)
        "+time",
        "+get",
        "+incrby",
        "+exists",
        "+type",
        "+incr",
        "+hset",
        "+hget",
        "+hmget",
        "+hgetall",
        "+hincrby",
        "+zadd",
        "+zscore",
        "+zcard",
        "+zrange",
        "+rpush",
        "+lpush",
        "+llen",
        "+lrange",
        "+lpos",
        "+xadd",
        "+sadd",
        "+sismember",
        "+smembers",
        "+expire",
        # replica acknowledgement of adds (REDIS_WAIT_REPLICAS)
        "+wait",
        # ShardedQueue.create records a sharded queue's shard count once
        "+hsetnx",
    ),
    "worker": (
        "+@read",
        "-@dangerous",
        "+time",
        "+incr",
        "+incrby",
        "+hset",
        "+hdel",
        "+hincrby",
        "+zadd",
        "+zrem",
        "+zpopmin",
        "+zremrangebyscore",
        "+zremrangebyrank",
        "+rpush",
        "+lpush",
        "+lpop",
        "+lrem",
        "+lset",
        "+ltrim",
        "+xadd",
        "+xdel",
        "+sadd",
        "+del",
        "+expire",
        "+pexpire",
        "+set",
        "+bzpopmin",
        "+publish",
        "+subscribe",
        "+unsubscribe",
        "+wait",
    ),
    # reads only; EVAL runs a script lost from the server (its commands are
    # checked against these rules all the same)
    "console": ("+@read", "-@dangerous", "+time", "+eval"),
}


def role_scripts(role: Role) -> list[Script]:
    """The scripts ``role`` may call."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    loaded = scripts()
    return [getattr(loaded, name) for name in _SCRIPTS[role]]


def _script_rules(role: Role) -> list[str]:
    found: list[str] = []
    for script in role_scripts(role):
        call = "fcall_ro" if script.read_only else "fcall"
        found.append(f"+{call}|{script.function}")
        found.extend(f"+evalsha|{sha}" for sha in dict.fromkeys((script.sha, script.legacy_sha)))
    if role != "console":
        found.append("+function|load")
    return found


_DANGEROUS_GRANTED: dict[Role, tuple[str, ...]] = {
    # a worker ends its own wake-up wait at once when it stops or pauses
    # (engine.worker.duties.Wakeups.interrupt); after _CONNECTION's -@dangerous
    "worker": ("+client|unblock",),
}
"""Commands of the @dangerous category that a role needs all the same."""


def rules(role: Role, prefix: str = DEFAULT_PREFIX) -> str:
    """The ACL rules of ``role`` for the keys under ``prefix``, without user
    name, password or ``on``: what follows ``ACL SETUSER <name> reset on >pw``."""
    scripts_rules = _script_rules(role)  # ValueError for an unknown role
    parts = [
        "resetkeys",
        f"~{prefix}:*",
        "resetchannels",
        f"&{prefix}:*",
        "-@all",
        *_COMMANDS[role],
        *_CONNECTION,
        *_DANGEROUS_GRANTED.get(role, ()),
        *scripts_rules,
    ]
    return " ".join(parts)


def setuser_command(
    role: Role, user: str, password: str = "<password>", prefix: str = DEFAULT_PREFIX
) -> str:
    """The whole ``ACL SETUSER`` line for ``user`` in ``role``."""
    if not user or any(ch.isspace() for ch in user):
        raise ValueError(f"user name {user!r}: one word, no spaces")
    return f"ACL SETUSER {user} reset on >{password} {rules(role, prefix)}"
