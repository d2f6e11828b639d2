"""The Redis under test: a real redis-server from the `redis_factory` fixture,
killed, restarted on its AOF, frozen, thawed, filled and flushed."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

import redis

from tests.chaos.timeline import Fault, Timeline
from tests.helpers import EmbeddedServer, RedisFactory, wait_until


@dataclass
class RedisTarget:
    factory: RedisFactory
    server: EmbeddedServer
    timeline: Timeline
    fsync: str | None
    """The AOF's appendfsync policy, or None for a server without persistence."""
    frozen: bool = False

    @classmethod
    def start(cls, factory: RedisFactory, timeline: Timeline, fsync: str | None) -> RedisTarget:
        server = factory(persistent=fsync is not None, extra_args=_fsync_args(fsync))
        return cls(factory, server, timeline, fsync)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> redis.Redis:
        return self.server.client(socket_timeout=5)

    def kill(self) -> Fault:
        """SIGKILL the server; :meth:`restart` heals the fault."""
        fault = self.timeline.begin("redis-kill")
        os.kill(self.server.pid, signal.SIGKILL)
        wait_until(lambda: not self.server.is_running(), message="redis-server survived SIGKILL")
        return fault

    def restart(self, fault: Fault) -> None:
        """Start it again on the same port and data directory (its AOF)."""
        self.server = self.factory(
            persistent=self.fsync is not None,
            port=self.server.port,
            data_dir=self.server.data_dir,
            extra_args=_fsync_args(self.fsync),
        )
        self.timeline.heal(fault)

    def freeze(self) -> Fault:
        fault = self.timeline.begin("redis-freeze")
        os.kill(self.server.pid, signal.SIGSTOP)
        self.frozen = True
        return fault

    def thaw(self, fault: Fault) -> None:
        os.kill(self.server.pid, signal.SIGCONT)
        self.frozen = False
        self.timeline.heal(fault)

    def flush_functions(self) -> None:
        """FUNCTION FLUSH and SCRIPT FLUSH: every loaded script is gone."""
        with self.client() as client:
            client.function_flush()
            client.script_flush()
        self.timeline.instant("flush")

    def fill(self) -> Fault:
        """Reach maxmemory (noeviction): every write that needs memory is refused."""
        with self.client() as client:
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", max(used // 2, 1))
        return self.timeline.begin("oom")

    def free(self, fault: Fault) -> None:
        with self.client() as client:
            client.config_set("maxmemory", 0)
        self.timeline.heal(fault)

    def release(self) -> None:
        """Teardown: a frozen server could not shut down."""
        if self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.pid, signal.SIGCONT)
            self.frozen = False


def _fsync_args(fsync: str | None) -> list[str]:
    return ["--appendfsync", fsync] if fsync is not None else []
