"""A Redis Cluster of three masters, each with one replica: six real
redis-server processes on free loopback ports, started once per test
session and emptied (FLUSHALL on every master) before each test.

The cluster is built by hand, as `redis-cli --cluster create` would (no
redis-cli needed): each master takes a third of the 16384 slots (ADDSLOTS),
the first node meets the others (CLUSTER MEET), each replica follows its
master (CLUSTER REPLICATE), and the fixture polls every node until it
reports `cluster_state:ok` and knows all six, with a deadline.

When redis-server was built without cluster support the tests skip, with
the server's own words as the reason.

The engine's fixtures (`queue`, `start_worker`, `check_slots`) are
imported here, so tests of `tests/engine` imported into this directory run
against the cluster unchanged (`redis_url` and `redis_client` are this
directory's).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from engine import connect
from messai_console.embedded import EmbeddedRedisError, EmbeddedServer, start_server
from tests.engine.conftest import check_slots, queue, start_worker
from tests.helpers import find_free_port, wait_until

__all__ = ["ClusterSetup", "check_slots", "queue", "start_worker"]

MASTERS = 3
SLOTS = 16384
NODE_TIMEOUT_MS = 1000
"""`cluster-node-timeout`: how long a silent master may be before its replica
takes over (short, for failover tests)."""
BUS_OFFSET = 10000
"""A node's cluster bus listens on its port plus this (Redis 6.2's fixed rule)."""


@dataclass
class ClusterSetup:
    """The running nodes: `masters[i]` owns the i-th third of the slots and
    `replicas[i]` follows it (until a failover swaps them)."""

    masters: list[EmbeddedServer]
    replicas: list[EmbeddedServer] = field(default_factory=list)

    @property
    def nodes(self) -> list[EmbeddedServer]:
        return [*self.masters, *self.replicas]

    @property
    def url(self) -> str:
        """A `redis+cluster://` URL naming every master (any one would do)."""
        hosts = ",".join(f"127.0.0.1:{server.port}" for server in self.masters)
        return f"redis+cluster://{hosts}"

    def client(self, server: EmbeddedServer) -> redis.Redis:
        return redis.Redis(port=server.port, decode_responses=True, socket_timeout=5)

    def client_on(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=5)

    def master_ports(self) -> list[int]:
        """The ports of the nodes that are masters now (each owning slots)."""
        ports = []
        for server in self.nodes:
            with contextlib.suppress(redis.RedisError, OSError), self.client(server) as client:
                if client.info("replication").get("role") == "master":
                    assert server.port is not None
                    ports.append(server.port)
        return ports

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for port in self.master_ports():
            with redis.Redis(port=port, socket_timeout=5) as client:
                client.flushall()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_port() -> int:
    """A free port whose bus port (+10000) is free too."""
    for _ in range(100):
        port = find_free_port()
        if port + BUS_OFFSET < 65536 and _port_free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _start_node(directory: Path) -> EmbeddedServer:
    last: EmbeddedRedisError | None = None
    for _ in range(5):
        try:
            return start_server(
                directory,
                persistent=False,
                unix_socket=False,
                port=_cluster_port(),
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(NODE_TIMEOUT_MS),
                    # A lone master still serves its slots while another is down.
                    "--cluster-require-full-coverage",
                    "no",
                ],
            )
        except EmbeddedRedisError as error:  # the port pair was taken meanwhile
            last = error
            if "cluster" in str(error).lower():
                raise
    assert last is not None
    raise last


def _node_id(client: redis.Redis) -> str:
    return str(client.execute_command("CLUSTER", "MYID"))


def _ready(setup: ClusterSetup) -> bool:
    """Every node says `cluster_state:ok`, knows all the others, and each
    replica has its master's data link up."""
    for server in setup.nodes:
        try:
            with setup.client(server) as client:
                info = client.execute_command("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                if "cluster_state:ok" not in text:
                    return False
                if f"cluster_known_nodes:{len(setup.nodes)}" not in text:
                    return False
                if server in setup.replicas:
                    replication = client.info("replication")
                    if replication.get("master_link_status") != "up":
                        return False
        except (redis.RedisError, OSError):
            return False
    return True


def build_cluster(base: Path, replicas: bool = True) -> ClusterSetup:
    """Start and join the nodes; return when the cluster is ready."""
    masters = [_start_node(base / f"master-{index}") for index in range(MASTERS)]
    setup = ClusterSetup(masters=masters)
    try:
        with setup.client(masters[0]) as first:
            try:
                first.execute_command("CLUSTER", "INFO")
            except redis.ResponseError as error:
                pytest.skip(f"redis-server has no cluster support: {error}")
        step = SLOTS // MASTERS
        for index, server in enumerate(masters):
            start = index * step
            end = SLOTS - 1 if index == MASTERS - 1 else start + step - 1
            with setup.client(server) as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(start, end + 1))
        if replicas:
            setup.replicas = [_start_node(base / f"replica-{index}") for index in range(MASTERS)]
        with setup.client(masters[0]) as first:
            for server in setup.nodes[1:]:
                first.execute_command("CLUSTER", "MEET", "127.0.0.1", server.port)
        for master, replica in zip(masters[: len(setup.replicas)], setup.replicas, strict=True):
            with setup.client(master) as client:
                master_id = _node_id(client)
            with setup.client(replica) as client:
                # The replica must have heard of its master through the bus first.
                wait_until(
                    lambda c=client, m=master_id: m in str(c.execute_command("CLUSTER", "NODES")),
                    timeout=30,
                    interval=0.05,
                    message="a replica never learned of its master",
                )
                client.execute_command("CLUSTER", "REPLICATE", master_id)
        wait_until(lambda: _ready(setup), timeout=60, interval=0.1, message="cluster not ready")
    except BaseException:
        stop_cluster(setup)
        raise
    return setup


def stop_cluster(setup: ClusterSetup) -> None:
    deadline = time.monotonic() + 30
    for server in setup.nodes:
        with contextlib.suppress(EmbeddedRedisError, OSError):
            server.stop(timeout=max(1.0, deadline - time.monotonic()))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSetup]:
    """Three masters and three replicas, ready; stopped at the end of the session."""
    setup = build_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield setup
    finally:
        stop_cluster(setup)


@pytest.fixture
def redis_url(redis_cluster: ClusterSetup) -> str:
    """The cluster's `redis+cluster://` URL, emptied before the test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.RedisCluster]:
    """The engine's asyncio client on the emptied cluster."""
    client = connect(redis_url)
    try:
        yield client  # type: ignore[misc]
    finally:
        await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The engine tests that are slow on one server are slow here too."""
    from tests.conftest import SLOW_TESTS

    slow = {name.rpartition("::")[2] for name in SLOW_TESTS if name.startswith("tests/engine/")}
    for item in items:
        if item.nodeid.startswith("tests/cluster/") and item.name.partition("[")[0] in slow:
            item.add_marker(pytest.mark.slow)
