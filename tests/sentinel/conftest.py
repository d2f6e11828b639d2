"""A master, one replica and three sentinels, all real redis-server processes
on free loopback ports, for failover tests.

Failover is quick: `down-after-milliseconds` 500 and `failover-timeout` 3000,
so a SIGKILLed master is replaced within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from messai_console.embedded import EmbeddedServer, find_redis_server
from tests.helpers import RedisFactory, find_free_port, wait_until

SERVICE = "mymaster"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 3000


@dataclass
class SentinelSetup:
    """The running servers, and the URL that reaches the master through the sentinels."""

    master: EmbeddedServer
    replica: EmbeddedServer
    sentinel_ports: list[int]
    factory: RedisFactory
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[index], decode_responses=True, socket_timeout=2)

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for index in range(len(self.sentinel_ports)):
            with contextlib.suppress(redis.RedisError, OSError), self.sentinel(index) as client:
                address = client.sentinel_get_master_addr_by_name(SERVICE)
                if address:
                    return int(address[1])
        return None

    def kill_master(self) -> None:
        os.kill(self.master.pid, signal.SIGKILL)

    def restart_old_master_as_replica_of(self, port: int) -> EmbeddedServer:
        """Start the killed master again, as a replica of the master on `port`
        (what a supervisor does after a failover; the sentinels would also
        reconfigure it, after their next INFO of it)."""
        assert self.master.port is not None
        self.master = self.factory(
            port=self.master.port,
            data_dir=self.master.data_dir,
            extra_args=["--replicaof", "127.0.0.1", str(port)],
        )
        return self.master


def _start_sentinel(directory: Path, master_port: int) -> tuple[int, subprocess.Popen[bytes]]:
    directory.mkdir(parents=True, exist_ok=True)
    port = find_free_port()
    config = directory / "sentinel.conf"
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {directory}\n"
        f"logfile {directory / 'sentinel.log'}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    process = subprocess.Popen(
        [find_redis_server(), str(config), "--sentinel"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return port, process


def _ready(setup: SentinelSetup) -> bool:
    """Every sentinel answers, knows the master, the replica and the two others."""
    for index in range(len(setup.sentinel_ports)):
        try:
            with setup.sentinel(index) as client:
                master = client.sentinel_master(SERVICE)
                replicas = client.sentinel_slaves(SERVICE)
        except (redis.RedisError, OSError):
            return False
        if int(master.get("num-other-sentinels", 0)) < len(setup.sentinel_ports) - 1:
            return False
        if not any(
            int(replica["port"]) == setup.replica.port and not replica.get("is_sdown")
            for replica in replicas
        ):
            return False
    with setup.master.client() as client:
        replica = client.info("replication").get("slave0")
        return isinstance(replica, dict) and replica.get("state") == "online"


@pytest.fixture
def sentinel_setup(redis_factory: RedisFactory, tmp_path: Path) -> Iterator[SentinelSetup]:
    """A master, a replica of it and three sentinels watching them, ready:
    every sentinel knows the replica and the other sentinels. Stopped at teardown."""
    master = redis_factory()
    assert master.port is not None
    replica = redis_factory(extra_args=["--replicaof", "127.0.0.1", str(master.port)])
    setup = SentinelSetup(master=master, replica=replica, sentinel_ports=[], factory=redis_factory)
    try:
        for index in range(3):
            port, process = _start_sentinel(tmp_path / f"sentinel-{index}", master.port)
            setup.sentinel_ports.append(port)
            setup.processes.append(process)
        wait_until(lambda: _ready(setup), timeout=30, interval=0.1, message="sentinels not ready")
        yield setup
    finally:
        for process in setup.processes:
            process.kill()
        deadline = time.monotonic() + 5
        for process in setup.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
