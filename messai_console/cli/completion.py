"""Shell completion of queue names: the registry read from Redis, briefly.

The shell waits on completion while the operator waits on the shell, so the
read has one deadline (COMPLETION_DEADLINE_S) for connecting and answering;
past it, or with Redis unreachable or unconfigured, nothing is offered and
nothing is printed. It never starts the embedded Redis: it asks the one that
`--redis-url`, the settings, the local default or a running embedded server
names.
"""

from __future__ import annotations

import threading

import typer

from engine.connection import connect_sync
from engine.keys import queue_registry_key
from messai_console.embedded.resolve import DEFAULT_URL
from messai_console.embedded.user_server import embedded_status
from messai_console.settings import settings

COMPLETION_DEADLINE_S = 0.5
"""How long a completion may wait for Redis, all told."""


def _url(ctx: typer.Context) -> str | None:
    """Where the command would go, without starting anything: `--redis-url` on the
    line, else the configured URL, else the local default or the embedded server."""
    given = ctx.find_root().params.get("redis_url")
    if isinstance(given, str) and given:
        return given
    current = settings()
    explicit = current.redis.explicit_url()
    if explicit:
        return explicit
    if not current.redis.messai_embedded:
        return DEFAULT_URL
    running = embedded_status(current.data.data_dir)
    return running.url if running is not None else None


def _registry(url: str, found: list[str]) -> None:
    try:
        client = connect_sync(
            url,
            retries=0,
            socket_connect_timeout=COMPLETION_DEADLINE_S,
            socket_timeout=COMPLETION_DEADLINE_S,
        )
        with client:
            found.extend(
                str(n) for n in client.smembers(queue_registry_key(settings().data.prefix))
            )
    except Exception:  # unreachable, refused, a bad URL: nothing to offer, no trace
        return


def queue_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Queue names that start with what is typed, sorted; [] when Redis does not
    answer within COMPLETION_DEADLINE_S."""
    try:
        url = _url(ctx)
    except Exception:  # a bad setting must not print a trace into the shell
        return []
    if url is None:
        return []
    found: list[str] = []
    # A thread bounds the whole read, a sentinel's rounds included; a daemon one,
    # so a read that overruns never holds the shell.
    reader = threading.Thread(target=_registry, args=(url, found), daemon=True)
    reader.start()
    reader.join(COMPLETION_DEADLINE_S)
    if reader.is_alive():
        return []
    return sorted(name for name in found if name.startswith(incomplete))
