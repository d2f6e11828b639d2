"""A master and a replica of it (real redis-server processes on loopback), and,
for the node view under Sentinel, the sentinel tests' master, replica and
three sentinels."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis

from messai_console.embedded import EmbeddedServer
from tests.helpers import RedisFactory, wait_until
from tests.sentinel.conftest import SentinelSetup, sentinel_setup

__all__ = ["CONNECTION_COMMANDS", "Replicated", "SentinelSetup", "replicated", "sentinel_setup"]


CONNECTION_COMMANDS = frozenset(
    {"hello", "ping", "info", "client|setinfo", "auth", "select", "replconf"}
)
"""Commands that open or watch a connection rather than read data (and the
replica's own acknowledgements, REPLCONF ACK, once a second)."""


@dataclass
class Replicated:
    master: EmbeddedServer
    replica: EmbeddedServer

    def commandstats(self, server: EmbeddedServer) -> dict[str, int]:
        """Calls per command (lower case, `fcall_ro`, `zcard`...) as INFO commandstats counts them."""
        with server.client() as client:
            stats = client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}

    def synced(self) -> None:
        """Wait until the replica has everything the master wrote so far."""

        def caught_up() -> bool:
            with self.master.client() as master, self.replica.client() as replica:
                offset = int(master.info("replication")["master_repl_offset"])
                return int(replica.info("replication").get("slave_repl_offset", -1)) >= offset

        wait_until(caught_up, timeout=15, interval=0.02, message="the replica did not catch up")


def _linked(master: EmbeddedServer) -> bool:
    try:
        with master.client() as client:
            replica = client.info("replication").get("slave0")
    except redis.RedisError:
        return False
    return isinstance(replica, dict) and replica.get("state") == "online"


@pytest.fixture
def replicated(redis_factory: RedisFactory) -> Replicated:
    """A master and one online replica of it; both stopped at teardown."""
    master = redis_factory()
    replica = redis_factory(extra_args=["--replicaof", "127.0.0.1", str(master.port)])
    wait_until(lambda: _linked(master), timeout=20, interval=0.05, message="replica not online")
    return Replicated(master=master, replica=replica)
